// The cuda:: entry points of kernels/rmsnorm.h for builds without CUDA: each fails with
// kFailedPrecondition, so CUDA tensors are rejected with a clear message.
#include "absl/strings/str_cat.h"
#include "kernels/internal/nn_backends.h"

namespace braid::kernels::cuda {
namespace {

absl::Status NoCuda(absl::string_view op) {
  return absl::FailedPreconditionError(absl::StrCat(
      op,
      ": got CUDA tensors, but braid was built without CUDA; rebuild with -DBRAID_CUDA=ON "
      "or pass CPU tensors"));
}

}  // namespace

absl::Status RmsNormForward(const Tensor& x, const Tensor& gamma, float eps, const Tensor& y,
                            const Tensor& rstd, Stream stream) {
  return NoCuda("RmsNormForward");
}

absl::Status RmsNormBackwardInput(const Tensor& x, const Tensor& gamma, const Tensor& rstd,
                                  const Tensor& dy, const Tensor& dx, Stream stream) {
  return NoCuda("RmsNormBackwardInput");
}

absl::Status RmsNormBackwardWeight(const Tensor& x, const Tensor& rstd, const Tensor& dy,
                                   const Tensor& dgamma, Stream stream) {
  return NoCuda("RmsNormBackwardWeight");
}

}  // namespace braid::kernels::cuda
