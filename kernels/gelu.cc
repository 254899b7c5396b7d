#include "kernels/gelu.h"

#include "kernels/internal/nn_backends.h"
#include "kernels/internal/nn_validate.h"
#include "runtime/status_macros.h"

namespace braid::kernels {

using runtime::Tensor;

absl::Status GeluForward(const Tensor& x, const Tensor& y, Stream stream) {
  BRAID_RETURN_IF_ERROR(internal::CheckFloat("GeluForward", "x", x));
  BRAID_RETURN_IF_ERROR(internal::CheckLike("GeluForward", "y", y, x));
  if (x.numel() == 0) return absl::OkStatus();
  if (x.device().is_cuda()) return cuda::GeluForward(x, y, stream);
  return cpu::GeluForward(x, y, stream);
}

absl::Status GeluBackward(const Tensor& x, const Tensor& dy, const Tensor& dx, Stream stream) {
  BRAID_RETURN_IF_ERROR(internal::CheckFloat("GeluBackward", "x", x));
  BRAID_RETURN_IF_ERROR(internal::CheckLike("GeluBackward", "dy", dy, x));
  BRAID_RETURN_IF_ERROR(internal::CheckLike("GeluBackward", "dx", dx, x));
  if (x.numel() == 0) return absl::OkStatus();
  if (x.device().is_cuda()) return cuda::GeluBackward(x, dy, dx, stream);
  return cpu::GeluBackward(x, dy, dx, stream);
}

}  // namespace braid::kernels
