// kernels/cast.h's CUDA backend for builds without CUDA.
#include <string>

#include "kernels/internal/cast_backends.h"

namespace braid::kernels::cuda {
namespace {
absl::Status NoCuda(const char* op) {
  return absl::FailedPreconditionError(std::string("kernels::") + op +
                                       ": CUDA tensor in a build without CUDA; use CPU tensors");
}
}  // namespace

absl::Status Cast(const runtime::Tensor&, const runtime::Tensor&, Stream) { return NoCuda("Cast"); }
absl::Status AccumulateInto(const runtime::Tensor&, const runtime::Tensor&, Stream) {
  return NoCuda("AccumulateInto");
}

}  // namespace braid::kernels::cuda
