// CPU implementation of kernels/reduce.h (internal: call kernels/reduce.h).
// Arguments are already validated by the caller.
#ifndef BRAID_KERNELS_CPU_REDUCE_H_
#define BRAID_KERNELS_CPU_REDUCE_H_

#include <cstdint>

#include "kernels/reduce.h"
#include "runtime/dtype.h"

namespace braid::kernels::cpu {

// dst = a op b; dst may equal a and/or b.
void ReduceTo(void* dst, const void* a, const void* b, int64_t count, runtime::DType dtype,
              ReduceKind kind);

// dst = dst / divisor. REQUIRES: divisor > 0.
void DivideInPlace(void* dst, int64_t count, runtime::DType dtype, int64_t divisor);

// The same, always with the baseline-ISA loops (what a CPU without AVX2 runs),
// so tests can check both variants on any machine.
void ReduceToBaseline(void* dst, const void* a, const void* b, int64_t count, runtime::DType dtype,
                      ReduceKind kind);
void DivideInPlaceBaseline(void* dst, int64_t count, runtime::DType dtype, int64_t divisor);

// True when the AVX2/F16C loops are used on this CPU (for the benchmark's
// report and the tests).
bool UsesAvx2();

}  // namespace braid::kernels::cpu

#endif  // BRAID_KERNELS_CPU_REDUCE_H_
