// CPU reduction loops with run-time ISA selection: the same loops
// (reduce_loops.inc) compiled for the baseline x86-64 ISA and for AVX2 + F16C,
// the latter picked once when the CPU supports it.
#include "kernels/cpu/reduce.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/math/reduce.h"
#include "runtime/half.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace braid::kernels::cpu {

// The bf16 pair loops read two elements as one 32-bit word.
static_assert(std::endian::native == std::endian::little, "reduce_loops.inc assumes little-endian");

namespace generic {
#include "kernels/cpu/reduce_loops.inc"
}  // namespace generic

#if defined(__x86_64__)
// Only the functions defined in this region get the AVX2 target (headers were
// included above without it), so no inline function shared with the baseline
// path is ever emitted with AVX2 instructions.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
namespace avx2 {
#define BRAID_REDUCE_F16C 1
#include "kernels/cpu/reduce_loops.inc"
#undef BRAID_REDUCE_F16C
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

bool UsesAvx2() {
#if defined(__x86_64__)
  // Immutable after the first call (thread-safe static initialisation).
  // F16C is CPUID leaf 1, ECX bit 29 (clang 14 has no __builtin_cpu_supports("f16c")).
  static const bool kAvx2 = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
    return f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return kAvx2;
#else
  return false;
#endif
}

void ReduceTo(void* dst, const void* a, const void* b, int64_t count, runtime::DType dtype,
              ReduceKind kind) {
#if defined(__x86_64__)
  if (UsesAvx2()) return avx2::ReduceTo(dst, a, b, count, dtype, kind);
#endif
  generic::ReduceTo(dst, a, b, count, dtype, kind);
}

void DivideInPlace(void* dst, int64_t count, runtime::DType dtype, int64_t divisor) {
#if defined(__x86_64__)
  if (UsesAvx2()) return avx2::DivideInPlace(dst, count, dtype, divisor);
#endif
  generic::DivideInPlace(dst, count, dtype, divisor);
}

void ReduceToBaseline(void* dst, const void* a, const void* b, int64_t count, runtime::DType dtype,
                      ReduceKind kind) {
  generic::ReduceTo(dst, a, b, count, dtype, kind);
}

void DivideInPlaceBaseline(void* dst, int64_t count, runtime::DType dtype, int64_t divisor) {
  generic::DivideInPlace(dst, count, dtype, divisor);
}

}  // namespace braid::kernels::cpu
