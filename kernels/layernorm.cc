#include "kernels/layernorm.h"

#include "absl/strings/str_cat.h"
#include "kernels/internal/nn_backends.h"
#include "kernels/internal/nn_validate.h"
#include "runtime/status_macros.h"

namespace braid::kernels {

using runtime::DType;
using runtime::Tensor;

namespace {

// x is a float tensor of rank >= 1; `param` is [C] of x's dtype and device.
absl::Status CheckParam(absl::string_view op, absl::string_view name, const Tensor& param,
                        const Tensor& x) {
  return internal::CheckTensor(op, name, param, x.dtype(), x.device(), {x.dim(-1)});
}

// `stat` (mean or rstd) is f32 of x's leading shape on x's device.
absl::Status CheckStat(absl::string_view op, absl::string_view name, const Tensor& stat,
                       const Tensor& x) {
  return internal::CheckTensor(op, name, stat, DType::kF32, x.device(), internal::LeadingShape(x));
}

absl::Status CheckInput(absl::string_view op, const Tensor& x) {
  BRAID_RETURN_IF_ERROR(internal::CheckFloat(op, "x", x));
  return internal::CheckMinRank(op, "x", x, 1);
}

}  // namespace

absl::Status LayerNormForward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                              const Tensor& y, const Tensor& mean, const Tensor& rstd,
                              Stream stream) {
  constexpr absl::string_view kOp = "LayerNormForward";
  BRAID_RETURN_IF_ERROR(CheckInput(kOp, x));
  BRAID_RETURN_IF_ERROR(CheckParam(kOp, "gamma", gamma, x));
  BRAID_RETURN_IF_ERROR(CheckParam(kOp, "beta", beta, x));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "y", y, x));
  BRAID_RETURN_IF_ERROR(CheckStat(kOp, "mean", mean, x));
  BRAID_RETURN_IF_ERROR(CheckStat(kOp, "rstd", rstd, x));
  if (!(eps >= 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": eps is ", eps, "; expected >= 0"));
  }
  if (x.numel() == 0) return absl::OkStatus();
  if (x.device().is_cuda())
    return cuda::LayerNormForward(x, gamma, beta, eps, y, mean, rstd, stream);
  return cpu::LayerNormForward(x, gamma, beta, eps, y, mean, rstd, stream);
}

absl::Status LayerNormBackwardInput(const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                    const Tensor& rstd, const Tensor& dy, const Tensor& dx,
                                    Stream stream) {
  constexpr absl::string_view kOp = "LayerNormBackwardInput";
  BRAID_RETURN_IF_ERROR(CheckInput(kOp, x));
  BRAID_RETURN_IF_ERROR(CheckParam(kOp, "gamma", gamma, x));
  BRAID_RETURN_IF_ERROR(CheckStat(kOp, "mean", mean, x));
  BRAID_RETURN_IF_ERROR(CheckStat(kOp, "rstd", rstd, x));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "dy", dy, x));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "dx", dx, x));
  if (x.numel() == 0) return absl::OkStatus();
  if (x.device().is_cuda()) {
    return cuda::LayerNormBackwardInput(x, gamma, mean, rstd, dy, dx, stream);
  }
  return cpu::LayerNormBackwardInput(x, gamma, mean, rstd, dy, dx, stream);
}

absl::Status LayerNormBackwardWeight(const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                     const Tensor& dy, const Tensor& dgamma, const Tensor& dbeta,
                                     Stream stream) {
  constexpr absl::string_view kOp = "LayerNormBackwardWeight";
  BRAID_RETURN_IF_ERROR(CheckInput(kOp, x));
  BRAID_RETURN_IF_ERROR(CheckStat(kOp, "mean", mean, x));
  BRAID_RETURN_IF_ERROR(CheckStat(kOp, "rstd", rstd, x));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "dy", dy, x));
  BRAID_RETURN_IF_ERROR(CheckParam(kOp, "dgamma", dgamma, x));
  BRAID_RETURN_IF_ERROR(CheckParam(kOp, "dbeta", dbeta, x));
  if (x.numel() == 0) return absl::OkStatus();
  if (x.device().is_cuda()) {
    return cuda::LayerNormBackwardWeight(x, mean, rstd, dy, dgamma, dbeta, stream);
  }
  return cpu::LayerNormBackwardWeight(x, mean, rstd, dy, dgamma, dbeta, stream);
}

}  // namespace braid::kernels
