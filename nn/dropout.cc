#include "nn/dropout.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cast.h"
#include "kernels/elementwise.h"
#include "nn/internal/layer_util.h"
#include "runtime/philox.h"
#include "runtime/status_macros.h"

namespace braid::nn {

using runtime::DType;
using runtime::Tensor;

namespace {

// The {0, 1} keep mask of `shape` in `dtype` on `device`.
absl::StatusOr<Tensor> DrawMask(const runtime::Shape& shape, DType dtype, runtime::Device device,
                                float p, uint64_t seed, uint64_t stream, uint64_t offset) {
  BRAID_ASSIGN_OR_RETURN(Tensor mask, Tensor::Empty(shape, DType::kF32, runtime::Device::Cpu()));
  const int64_t n = mask.numel();
  float* m = mask.data<float>();
  runtime::FillUniformRange(m, 0, static_cast<uint64_t>(n), seed, stream, offset);
  for (int64_t i = 0; i < n; ++i) m[i] = m[i] >= p ? 1.0f : 0.0f;
  if (dtype != DType::kF32) {
    BRAID_ASSIGN_OR_RETURN(Tensor low, Tensor::Empty(shape, dtype, runtime::Device::Cpu()));
    BRAID_RETURN_IF_ERROR(kernels::Cast(mask, low));  // 0 and 1 are exact
    mask = low;
  }
  if (device.is_cpu()) return mask;
  return mask.To(device);
}

// out = (in * mask) * scale.
absl::StatusOr<Tensor> ApplyMask(const Tensor& in, const Tensor& mask, float scale,
                                 const kernels::Stream& stream) {
  BRAID_ASSIGN_OR_RETURN(Tensor in_c, in.Contiguous());
  BRAID_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(in.shape(), in.dtype(), in.device()));
  BRAID_RETURN_IF_ERROR(kernels::Mul(in_c, mask, out, stream));
  BRAID_RETURN_IF_ERROR(kernels::Scale(out, scale, out, stream));
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Dropout>> Dropout::Create(const DropoutOptions& options) {
  if (!(options.p >= 0.0f && options.p < 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Dropout::Create: p = ", options.p, "; want 0 <= p < 1"));
  }
  return std::unique_ptr<Dropout>(new Dropout(options));
}

absl::StatusOr<Tensor> Dropout::Forward(Context& ctx, const Tensor& x) {
  if (!x.defined() || !runtime::IsFloatingPoint(x.dtype())) {
    return absl::InvalidArgumentError(absl::StrCat("Dropout::Forward: input is ",
                                                   layer_util::Describe(x),
                                                   "; want an f32, f16 or bf16 tensor"));
  }
  if (!ctx.training()) return x;
  if (options_.p == 0.0f) {
    // An undefined mask: the backward passes dy through.
    ctx.Save(this, {Tensor()});
    return x;
  }
  const uint64_t offset =
      ctx.NextRandomOffset(runtime::PhiloxCounters(static_cast<uint64_t>(x.numel())));
  BRAID_ASSIGN_OR_RETURN(
      Tensor mask, DrawMask(x.shape(), x.dtype(), x.device(), options_.p, ctx.options().rng_seed,
                            ctx.options().rng_stream, offset));
  BRAID_ASSIGN_OR_RETURN(Tensor y, ApplyMask(x, mask, 1.0f / (1.0f - options_.p), ctx.stream()));
  ctx.Save(this, {mask});
  return y;
}

absl::StatusOr<Tensor> Dropout::BackwardInput(Context& ctx, const Tensor& dy) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "Dropout::BackwardInput"));
  if (saved.size() != 1) {
    return absl::FailedPreconditionError(
        "Dropout::BackwardInput: already ran for this microbatch; run BackwardWeight next");
  }
  const Tensor mask = saved[0];
  Tensor dx = dy;
  if (mask.defined()) {
    BRAID_RETURN_IF_ERROR(layer_util::CheckGradient("Dropout::BackwardInput", dy, mask.shape(),
                                                    mask.dtype(), mask.device()));
    BRAID_ASSIGN_OR_RETURN(dx, ApplyMask(dy, mask, 1.0f / (1.0f - options_.p), ctx.stream()));
  } else if (!dy.defined()) {
    return absl::InvalidArgumentError("Dropout::BackwardInput: undefined output gradient");
  }
  // The mask is no longer needed; the empty entry marks that BackwardInput ran.
  ctx.Save(this, {});
  return dx;
}

absl::Status Dropout::BackwardWeight(Context& ctx) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "Dropout::BackwardWeight"));
  if (!saved.empty()) {
    return absl::FailedPreconditionError(
        "Dropout::BackwardWeight: BackwardInput has not run for this microbatch");
  }
  ctx.Release(this);
  return absl::OkStatus();
}

}  // namespace braid::nn
