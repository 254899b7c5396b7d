// The cuda:: entry points of kernels/softmax.h for builds without CUDA: each fails with
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

absl::Status SoftmaxForward(const Tensor& x, const Tensor& y, Stream stream) {
  return NoCuda("SoftmaxForward");
}

absl::Status SoftmaxBackward(const Tensor& y, const Tensor& dy, const Tensor& dx, Stream stream) {
  return NoCuda("SoftmaxBackward");
}

}  // namespace braid::kernels::cuda
