// kernels/gemm.h's CUDA side for builds without CUDA: GemmContext never holds
// a handle and every CUDA GEMM fails with kFailedPrecondition.
#include "kernels/gemm.h"

#include "kernels/internal/core_backends.h"

namespace braid::kernels {

GemmContext::~GemmContext() = default;

absl::Status GemmContext::WithCudaHandle(int ordinal, absl::FunctionRef<absl::Status(void*)>) {
  return absl::FailedPreconditionError(
      "kernels::GemmContext: braid was built without CUDA; there is no cuBLAS handle");
}

namespace cuda {

absl::Status Gemm(const internal::GemmProblem&, Stream, GemmContext*) {
  return absl::FailedPreconditionError(
      "kernels::Gemm: CUDA tensor in a build without CUDA; use CPU tensors");
}

}  // namespace cuda
}  // namespace braid::kernels
