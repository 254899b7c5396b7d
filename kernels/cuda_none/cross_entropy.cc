// The cuda:: entry points of kernels/cross_entropy.h for builds without CUDA: each fails with
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

absl::Status CrossEntropyForward(const Tensor& logits, const Tensor& targets,
                                 const CrossEntropyOptions& options, const Tensor& losses,
                                 const Tensor& lse, const Tensor& mean, Stream stream) {
  return NoCuda("CrossEntropyForward");
}

absl::Status CrossEntropyBackward(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                                  const CrossEntropyOptions& options, float dmean,
                                  const Tensor& dlogits, Stream stream) {
  return NoCuda("CrossEntropyBackward");
}

}  // namespace braid::kernels::cuda
