// kernels/index.h's CUDA backend for builds without CUDA.
#include "kernels/internal/core_backends.h"

namespace braid::kernels::cuda {
namespace {
absl::Status NoCuda() {
  return absl::FailedPreconditionError(
      "kernels: CUDA tensor in a build without CUDA; use CPU tensors");
}
}  // namespace

absl::Status GatherRows(const Tensor&, const Tensor&, const Tensor&, Stream) { return NoCuda(); }
absl::Status ScatterAddRows(const Tensor&, const Tensor&, const Tensor&, Stream) {
  return NoCuda();
}

}  // namespace braid::kernels::cuda
