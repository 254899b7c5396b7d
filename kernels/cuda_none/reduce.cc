// kernels/reduce.h's cuda:: functions for builds without CUDA.
#include "kernels/reduce.h"

#include "absl/strings/str_cat.h"

namespace braid::kernels::cuda {
namespace {
absl::Status NoCuda(const char* op) {
  return absl::FailedPreconditionError(
      absl::StrCat("kernels::cuda::", op, ": braid was built without CUDA; use host buffers"));
}
}  // namespace

absl::Status ReduceInto(void*, const void*, int64_t, runtime::DType, ReduceKind, const Stream&) {
  return NoCuda("ReduceInto");
}
absl::Status ReduceTo(void*, const void*, const void*, int64_t, runtime::DType, ReduceKind,
                      const Stream&) {
  return NoCuda("ReduceTo");
}
absl::Status DivideInPlace(void*, int64_t, runtime::DType, int64_t, const Stream&) {
  return NoCuda("DivideInPlace");
}

}  // namespace braid::kernels::cuda
