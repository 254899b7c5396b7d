#include "nn/loss.h"

#include "absl/strings/str_cat.h"
#include "kernels/cross_entropy.h"
#include "nn/internal/layer_util.h"
#include "runtime/status_macros.h"

namespace braid::nn {

using runtime::DType;
using runtime::Tensor;

absl::StatusOr<float> CrossEntropyLoss::Forward(Context& ctx, const Tensor& logits,
                                                const Tensor& targets) {
  const bool logits_ok = logits.defined() && (logits.ndim() == 2 || logits.ndim() == 3) &&
                         runtime::IsFloatingPoint(logits.dtype()) && logits.dim(-1) >= 1;
  runtime::Shape want_targets = logits.shape();
  if (logits_ok) want_targets.pop_back();
  if (!logits_ok || !targets.defined() ||
      (targets.dtype() != DType::kI32 && targets.dtype() != DType::kI64) ||
      targets.shape() != want_targets || !(targets.device() == logits.device())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CrossEntropyLoss::Forward: logits ", layer_util::Describe(logits), ", targets ",
        layer_util::Describe(targets),
        "; want float logits [N, V] or [B, T, V] and i32 targets of their shape without V on "
        "the same device"));
  }
  const int64_t vocab = logits.dim(-1);
  BRAID_ASSIGN_OR_RETURN(Tensor logits2, layer_util::Rows(logits));
  const int64_t rows = logits2.dim(0);
  BRAID_ASSIGN_OR_RETURN(Tensor targets_c, targets.Contiguous());
  BRAID_ASSIGN_OR_RETURN(Tensor targets1, targets_c.View({rows}));
  BRAID_ASSIGN_OR_RETURN(Tensor losses, Tensor::Empty({rows}, DType::kF32, logits.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor lse, Tensor::Empty({rows}, DType::kF32, logits.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor mean, Tensor::Empty({1}, DType::kF32, logits.device()));
  const kernels::CrossEntropyOptions ce{.ignore_index = options_.ignore_index,
                                        .normalizer = options_.normalizer};
  absl::Status s =
      kernels::CrossEntropyForward(logits2, targets1, ce, losses, lse, mean, ctx.stream());
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("CrossEntropyLoss::Forward (vocabulary ", vocab,
                                               "): ", s.message()));
  }
  BRAID_ASSIGN_OR_RETURN(Tensor mean_host, mean.To(runtime::Device::Cpu()));
  if (ctx.training()) ctx.Save(this, {logits, logits2, targets1, lse});
  return mean_host.data<float>()[0];
}

absl::StatusOr<Tensor> CrossEntropyLoss::Backward(Context& ctx, float scale) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "CrossEntropyLoss::Backward"));
  const Tensor logits = saved[0], logits2 = saved[1], targets1 = saved[2], lse = saved[3];
  BRAID_ASSIGN_OR_RETURN(Tensor dlogits,
                         Tensor::Empty(logits.shape(), logits.dtype(), logits.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor dlogits2, dlogits.View(logits2.shape()));
  const kernels::CrossEntropyOptions ce{.ignore_index = options_.ignore_index,
                                        .normalizer = options_.normalizer};
  BRAID_RETURN_IF_ERROR(
      kernels::CrossEntropyBackward(logits2, targets1, lse, ce, scale, dlogits2, ctx.stream()));
  ctx.Release(this);
  return dlogits;
}

}  // namespace braid::nn
