// kernels/elementwise.h's CUDA backend for builds without CUDA.
#include "kernels/internal/core_backends.h"

namespace braid::kernels::cuda {
namespace {
absl::Status NoCuda() {
  return absl::FailedPreconditionError(
      "kernels: CUDA tensor in a build without CUDA; use CPU tensors");
}
}  // namespace

absl::Status Add(const Tensor&, const Tensor&, const Tensor&, Stream) { return NoCuda(); }
absl::Status Mul(const Tensor&, const Tensor&, const Tensor&, Stream) { return NoCuda(); }
absl::Status Scale(const Tensor&, float, const Tensor&, Stream) { return NoCuda(); }
absl::Status Axpy(float, const Tensor&, const Tensor&, Stream) { return NoCuda(); }

}  // namespace braid::kernels::cuda
