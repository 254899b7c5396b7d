// Validation and dispatch for kernels/reduce.h (CPU side); the loops are in
// cpu/reduce.cc, the CUDA versions in cuda/reduce.cu.
#include "kernels/reduce.h"

#include "absl/strings/str_cat.h"
#include "kernels/cpu/reduce.h"

namespace braid::kernels {

absl::string_view ToString(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::kSum:
      return "sum";
    case ReduceKind::kProd:
      return "prod";
    case ReduceKind::kMin:
      return "min";
    case ReduceKind::kMax:
      return "max";
  }
  return "unknown";
}

namespace {

absl::Status CheckBuffers(absl::string_view op, int64_t count, runtime::DType dtype,
                          std::initializer_list<const void*> buffers) {
  if (count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernels::", op, ": count ", count, " is negative; pass the element count"));
  }
  if (count == 0) return absl::OkStatus();
  for (const void* p : buffers) {
    if (p == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("kernels::", op, ": null buffer for ", count,
                                                     " elements of ", runtime::ToString(dtype)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ReduceInto(void* dst, const void* src, int64_t count, runtime::DType dtype,
                        ReduceKind kind) {
  absl::Status status = CheckBuffers("ReduceInto", count, dtype, {dst, src});
  if (!status.ok() || count == 0) return status;
  cpu::ReduceTo(dst, dst, src, count, dtype, kind);
  return absl::OkStatus();
}

absl::Status ReduceTo(void* dst, const void* a, const void* b, int64_t count, runtime::DType dtype,
                      ReduceKind kind) {
  absl::Status status = CheckBuffers("ReduceTo", count, dtype, {dst, a, b});
  if (!status.ok() || count == 0) return status;
  cpu::ReduceTo(dst, a, b, count, dtype, kind);
  return absl::OkStatus();
}

absl::Status DivideInPlace(void* dst, int64_t count, runtime::DType dtype, int64_t divisor) {
  if (divisor <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("kernels::DivideInPlace: divisor ", divisor,
                                                   " must be positive (the number of ranks)"));
  }
  absl::Status status = CheckBuffers("DivideInPlace", count, dtype, {dst});
  if (!status.ok() || count == 0) return status;
  cpu::DivideInPlace(dst, count, dtype, divisor);
  return absl::OkStatus();
}

}  // namespace braid::kernels
