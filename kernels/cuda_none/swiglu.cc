// The cuda:: entry points of kernels/swiglu.h for builds without CUDA: each fails with
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

absl::Status SwiGluForward(const Tensor& a, const Tensor& b, const Tensor& out, Stream stream) {
  return NoCuda("SwiGluForward");
}

absl::Status SwiGluBackward(const Tensor& a, const Tensor& b, const Tensor& dout, const Tensor& da,
                            const Tensor& db, Stream stream) {
  return NoCuda("SwiGluBackward");
}

}  // namespace braid::kernels::cuda
