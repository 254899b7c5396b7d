// PreMultiply: the "scale" half of a pre-multiplied sum (NCCL's PreMulSum,
// Communicator::AllReducePreMulSum) for backends that have no native form:
// they scale a copy of the input (or the output in place), then sum.
//
//   std::vector<uint8_t> scaled(input.nbytes());
//   BRAID_RETURN_IF_ERROR(PreMultiply(input.raw_data(), scaled.data(),
//                                     input.numel(), input.dtype(), 0.25));
//
// Semantics (the ones communicator.h promises): floating types multiply in
// f32 (f16/bf16 widened first, rounded back once); integer types multiply by
// the scale truncated toward zero, wrapping modulo 2^bits like the reduction
// kernels. Thread-safe (touches only the buffers passed in).
#ifndef BRAID_COLLECTIVES_PRE_MUL_SUM_H_
#define BRAID_COLLECTIVES_PRE_MUL_SUM_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "runtime/dtype.h"

namespace braid::collectives {

// dst[i] = scale * src[i] for `count` elements of `dtype` in host memory.
// REQUIRES: dst == src or the ranges do not overlap. kInvalidArgument for a
// negative count, a null pointer with count > 0, or a non-finite scale.
absl::Status PreMultiply(const void* src, void* dst, int64_t count, runtime::DType dtype,
                         double scale);

// "premulsum(0.25)", for operation names and error messages.
std::string PreMulSumName(double scale);

}  // namespace braid::collectives

#endif  // BRAID_COLLECTIVES_PRE_MUL_SUM_H_
