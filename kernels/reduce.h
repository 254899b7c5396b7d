// Reduction kernels for collectives: combine two raw buffers element by
// element with sum, prod, min or max, and divide for avg.
//
// These work on raw byte buffers, not Tensors, because collectives move bytes:
// a backend receives a chunk from a peer and folds it into its own buffer.
//
//   // dst[i] = dst[i] + src[i] for `count` f32 elements
//   BRAID_RETURN_IF_ERROR(kernels::ReduceInto(dst, src, count, DType::kF32,
//                                             kernels::ReduceKind::kSum));
//   // avg: sum first, then divide by the number of ranks
//   BRAID_RETURN_IF_ERROR(kernels::DivideInPlace(dst, count, DType::kF32, world_size));
//
// Semantics (identical on CPU and CUDA, checked by the tests):
// - Every runtime DType: f32, f16, bf16, i32, i64, u8.
// - f16/bf16 are computed in f32: each element is converted to f32, combined,
//   and rounded back once (round to nearest even).
// - Integer sum and prod wrap around modulo 2^bits (two's complement); they
//   never trap and are never undefined behaviour.
// - Floating min/max propagate NaN: if either operand is NaN, the result is
//   NaN (so a NaN on any rank is seen by all ranks).
// - DivideInPlace: floats use IEEE division by (float)divisor, rounded once;
//   integers truncate toward zero (C++ `/`).
// - In place is supported: dst may equal src (ReduceInto) or a and/or b
//   (ReduceTo). Other partial overlaps are not allowed.
// - count == 0 is a no-op (pointers may then be null).
//
// Performance: the CPU functions are the hot path of the tcp collectives.
// They are single-threaded, vectorised (AVX2/F16C picked at run time when the
// CPU has them, plain SSE2 loops otherwise) and memory-bound for large counts;
// bench/kernels/kernels_bench measures them against memcpy.
//
// Thread-safety: all functions are thread-safe (they touch only the buffers
// passed in). Errors: only kInvalidArgument (negative count, null pointer with
// count > 0, divisor <= 0) and, for the cuda:: versions, kFailedPrecondition
// (no CUDA in this build or no GPU) or kInternal (a CUDA launch failed). When
// an error is returned nothing has been written.
#ifndef BRAID_KERNELS_REDUCE_H_
#define BRAID_KERNELS_REDUCE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kernels/stream.h"
#include "runtime/dtype.h"

namespace braid::kernels {

enum class ReduceKind : uint8_t {
  kSum = 0,
  kProd = 1,
  kMin = 2,
  kMax = 3,
};

// "sum", "prod", "min", "max".
absl::string_view ToString(ReduceKind kind);

// Every ReduceKind, in enum order (for parameterised tests and loops).
inline constexpr ReduceKind kAllReduceKinds[] = {ReduceKind::kSum, ReduceKind::kProd,
                                                 ReduceKind::kMin, ReduceKind::kMax};

// ---- CPU (host memory; runs synchronously on the calling thread) -------------

// dst[i] = dst[i] op src[i] for i in [0, count).
// REQUIRES: dst and src hold `count` elements of `dtype`; dst == src or the
// ranges do not overlap.
absl::Status ReduceInto(void* dst, const void* src, int64_t count, runtime::DType dtype,
                        ReduceKind kind);

// dst[i] = a[i] op b[i] for i in [0, count): out of place, saving the copy of
// `a` into `dst` that ReduceInto would need.
// REQUIRES: each of dst, a, b holds `count` elements; dst may equal a and/or b,
// otherwise no overlap.
absl::Status ReduceTo(void* dst, const void* a, const void* b, int64_t count, runtime::DType dtype,
                      ReduceKind kind);

// dst[i] = dst[i] / divisor (the avg step after a sum). Integers truncate
// toward zero. REQUIRES: divisor > 0.
absl::Status DivideInPlace(void* dst, int64_t count, runtime::DType dtype, int64_t divisor);

// ---- CUDA (device memory) ------------------------------------------------------
//
// The same operations on device pointers, enqueued on stream.cuda_stream on
// the calling thread's current CUDA device (cudaSetDevice), which must own the
// pointers and the stream. Stream contract (kernels/stream.h): the call returns
// once the kernel is enqueued; dst may be read, and src/a/b reused, only after
// the stream's work completes. Without CUDA in the build, or without a GPU,
// each returns kFailedPrecondition.
namespace cuda {

absl::Status ReduceInto(void* dst, const void* src, int64_t count, runtime::DType dtype,
                        ReduceKind kind, const Stream& stream);
absl::Status ReduceTo(void* dst, const void* a, const void* b, int64_t count, runtime::DType dtype,
                      ReduceKind kind, const Stream& stream);
absl::Status DivideInPlace(void* dst, int64_t count, runtime::DType dtype, int64_t divisor,
                           const Stream& stream);

}  // namespace cuda
}  // namespace braid::kernels

#endif  // BRAID_KERNELS_REDUCE_H_
