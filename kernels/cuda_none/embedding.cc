// The cuda:: entry points of kernels/embedding.h for builds without CUDA: each fails with
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

absl::Status EmbeddingForward(const Tensor& weight, const Tensor& ids, const Tensor& out,
                              Stream stream) {
  return NoCuda("EmbeddingForward");
}

absl::Status EmbeddingBackward(const Tensor& ids, const Tensor& dout, const Tensor& dweight,
                               Stream stream) {
  return NoCuda("EmbeddingBackward");
}

}  // namespace braid::kernels::cuda
