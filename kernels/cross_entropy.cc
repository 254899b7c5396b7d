#include "kernels/cross_entropy.h"

#include "absl/strings/str_cat.h"
#include "kernels/internal/nn_backends.h"
#include "kernels/internal/nn_validate.h"
#include "runtime/status_macros.h"

namespace braid::kernels {

using runtime::DType;
using runtime::Tensor;

namespace {

absl::Status CheckCommon(absl::string_view op, const Tensor& logits, const Tensor& targets,
                         const CrossEntropyOptions& options) {
  BRAID_RETURN_IF_ERROR(internal::CheckFloat(op, "logits", logits));
  if (logits.ndim() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": logits have shape ", runtime::ShapeToString(logits.shape()), "; expected [N, V]"));
  }
  BRAID_RETURN_IF_ERROR(internal::CheckContiguous(op, "targets", targets));
  if (targets.dtype() != DType::kI32 && targets.dtype() != DType::kI64) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": targets have dtype ", runtime::ToString(targets.dtype()), "; expected i32 or i64"));
  }
  BRAID_RETURN_IF_ERROR(internal::CheckTensor(op, "targets", targets, targets.dtype(),
                                              logits.device(), {logits.dim(0)}));
  if (options.normalizer < 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": normalizer is ", options.normalizer,
                                                   "; expected >= 0 (0: count of rows)"));
  }
  return absl::OkStatus();
}

absl::Status CheckRowStat(absl::string_view op, absl::string_view name, const Tensor& t,
                          const Tensor& logits) {
  return internal::CheckTensor(op, name, t, DType::kF32, logits.device(), {logits.dim(0)});
}

}  // namespace

absl::Status CrossEntropyForward(const Tensor& logits, const Tensor& targets,
                                 const CrossEntropyOptions& options, const Tensor& losses,
                                 const Tensor& lse, const Tensor& mean, Stream stream) {
  constexpr absl::string_view kOp = "CrossEntropyForward";
  BRAID_RETURN_IF_ERROR(CheckCommon(kOp, logits, targets, options));
  BRAID_RETURN_IF_ERROR(CheckRowStat(kOp, "losses", losses, logits));
  BRAID_RETURN_IF_ERROR(CheckRowStat(kOp, "lse", lse, logits));
  BRAID_RETURN_IF_ERROR(
      internal::CheckTensor(kOp, "mean", mean, DType::kF32, logits.device(), mean.shape()));
  if (mean.numel() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": mean has shape ",
                                                   runtime::ShapeToString(mean.shape()),
                                                   "; expected one element ([] or [1])"));
  }
  if (logits.dim(1) == 0 && logits.dim(0) > 0) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": logits have no classes (V = 0)"));
  }
  if (logits.device().is_cuda()) {
    return cuda::CrossEntropyForward(logits, targets, options, losses, lse, mean, stream);
  }
  return cpu::CrossEntropyForward(logits, targets, options, losses, lse, mean, stream);
}

absl::Status CrossEntropyBackward(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                                  const CrossEntropyOptions& options, float dmean,
                                  const Tensor& dlogits, Stream stream) {
  constexpr absl::string_view kOp = "CrossEntropyBackward";
  BRAID_RETURN_IF_ERROR(CheckCommon(kOp, logits, targets, options));
  BRAID_RETURN_IF_ERROR(CheckRowStat(kOp, "lse", lse, logits));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "dlogits", dlogits, logits));
  if (logits.numel() == 0) return absl::OkStatus();
  if (logits.device().is_cuda()) {
    return cuda::CrossEntropyBackward(logits, targets, lse, options, dmean, dlogits, stream);
  }
  return cpu::CrossEntropyBackward(logits, targets, lse, options, dmean, dlogits, stream);
}

}  // namespace braid::kernels
