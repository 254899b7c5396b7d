#include "kernels/softmax.h"

#include "kernels/internal/nn_backends.h"
#include "kernels/internal/nn_validate.h"
#include "runtime/status_macros.h"

namespace braid::kernels {

using runtime::Tensor;

absl::Status SoftmaxForward(const Tensor& x, const Tensor& y, Stream stream) {
  BRAID_RETURN_IF_ERROR(internal::CheckFloat("SoftmaxForward", "x", x));
  BRAID_RETURN_IF_ERROR(internal::CheckMinRank("SoftmaxForward", "x", x, 1));
  BRAID_RETURN_IF_ERROR(internal::CheckLike("SoftmaxForward", "y", y, x));
  if (x.numel() == 0) return absl::OkStatus();
  if (x.device().is_cuda()) return cuda::SoftmaxForward(x, y, stream);
  return cpu::SoftmaxForward(x, y, stream);
}

absl::Status SoftmaxBackward(const Tensor& y, const Tensor& dy, const Tensor& dx, Stream stream) {
  BRAID_RETURN_IF_ERROR(internal::CheckFloat("SoftmaxBackward", "y", y));
  BRAID_RETURN_IF_ERROR(internal::CheckMinRank("SoftmaxBackward", "y", y, 1));
  BRAID_RETURN_IF_ERROR(internal::CheckLike("SoftmaxBackward", "dy", dy, y));
  BRAID_RETURN_IF_ERROR(internal::CheckLike("SoftmaxBackward", "dx", dx, y));
  if (y.numel() == 0) return absl::OkStatus();
  if (y.device().is_cuda()) return cuda::SoftmaxBackward(y, dy, dx, stream);
  return cpu::SoftmaxBackward(y, dy, dx, stream);
}

}  // namespace braid::kernels
