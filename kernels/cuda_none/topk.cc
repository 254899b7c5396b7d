// kernels/topk.h's CUDA backend for builds without CUDA.
#include "kernels/internal/core_backends.h"

namespace braid::kernels::cuda {

absl::Status TopK(const Tensor&, int64_t, const Tensor&, const Tensor&, Stream) {
  return absl::FailedPreconditionError(
      "kernels::TopK: CUDA tensor in a build without CUDA; use CPU tensors");
}

}  // namespace braid::kernels::cuda
