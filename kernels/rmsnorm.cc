#include "kernels/rmsnorm.h"

#include "absl/strings/str_cat.h"
#include "kernels/internal/nn_backends.h"
#include "kernels/internal/nn_validate.h"
#include "runtime/status_macros.h"

namespace braid::kernels {

using runtime::DType;
using runtime::Tensor;

namespace {

absl::Status CheckParam(absl::string_view op, absl::string_view name, const Tensor& param,
                        const Tensor& x) {
  return internal::CheckTensor(op, name, param, x.dtype(), x.device(), {x.dim(-1)});
}

absl::Status CheckRstd(absl::string_view op, const Tensor& rstd, const Tensor& x) {
  return internal::CheckTensor(op, "rstd", rstd, DType::kF32, x.device(),
                               internal::LeadingShape(x));
}

absl::Status CheckInput(absl::string_view op, const Tensor& x) {
  BRAID_RETURN_IF_ERROR(internal::CheckFloat(op, "x", x));
  return internal::CheckMinRank(op, "x", x, 1);
}

}  // namespace

absl::Status RmsNormForward(const Tensor& x, const Tensor& gamma, float eps, const Tensor& y,
                            const Tensor& rstd, Stream stream) {
  constexpr absl::string_view kOp = "RmsNormForward";
  BRAID_RETURN_IF_ERROR(CheckInput(kOp, x));
  BRAID_RETURN_IF_ERROR(CheckParam(kOp, "gamma", gamma, x));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "y", y, x));
  BRAID_RETURN_IF_ERROR(CheckRstd(kOp, rstd, x));
  if (!(eps >= 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": eps is ", eps, "; expected >= 0"));
  }
  if (x.numel() == 0) return absl::OkStatus();
  if (x.device().is_cuda()) return cuda::RmsNormForward(x, gamma, eps, y, rstd, stream);
  return cpu::RmsNormForward(x, gamma, eps, y, rstd, stream);
}

absl::Status RmsNormBackwardInput(const Tensor& x, const Tensor& gamma, const Tensor& rstd,
                                  const Tensor& dy, const Tensor& dx, Stream stream) {
  constexpr absl::string_view kOp = "RmsNormBackwardInput";
  BRAID_RETURN_IF_ERROR(CheckInput(kOp, x));
  BRAID_RETURN_IF_ERROR(CheckParam(kOp, "gamma", gamma, x));
  BRAID_RETURN_IF_ERROR(CheckRstd(kOp, rstd, x));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "dy", dy, x));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "dx", dx, x));
  if (x.numel() == 0) return absl::OkStatus();
  if (x.device().is_cuda()) return cuda::RmsNormBackwardInput(x, gamma, rstd, dy, dx, stream);
  return cpu::RmsNormBackwardInput(x, gamma, rstd, dy, dx, stream);
}

absl::Status RmsNormBackwardWeight(const Tensor& x, const Tensor& rstd, const Tensor& dy,
                                   const Tensor& dgamma, Stream stream) {
  constexpr absl::string_view kOp = "RmsNormBackwardWeight";
  BRAID_RETURN_IF_ERROR(CheckInput(kOp, x));
  BRAID_RETURN_IF_ERROR(CheckRstd(kOp, rstd, x));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "dy", dy, x));
  BRAID_RETURN_IF_ERROR(CheckParam(kOp, "dgamma", dgamma, x));
  if (x.numel() == 0) return absl::OkStatus();
  if (x.device().is_cuda()) return cuda::RmsNormBackwardWeight(x, rstd, dy, dgamma, stream);
  return cpu::RmsNormBackwardWeight(x, rstd, dy, dgamma, stream);
}

}  // namespace braid::kernels
