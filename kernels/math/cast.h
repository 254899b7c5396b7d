// Per-element math of kernels/cast.h, shared by the CPU loops and the CUDA
// kernels so both round identically: every value goes through f32 (exact for
// f16 and bf16) and is rounded once to the destination type (round to
// nearest even): runtime/half.h's BFloat16 conversions, and branchless
// equivalents of its Half conversions (bit-identical, tested) so the CPU
// loops vectorise.
#ifndef BRAID_KERNELS_MATH_CAST_H_
#define BRAID_KERNELS_MATH_CAST_H_

#include <cstdint>
#include <type_traits>

#include "runtime/half.h"

namespace braid::kernels::math {

// All-ones when `b`, else zero: selects below are bit masks, not `?:`, so
// GCC cannot sink a float operation into a branch (which, under its default
// -ftrapping-math, stops if-conversion and so vectorisation).
BRAID_HOST_DEVICE inline uint32_t SelectMask(bool b) { return 0u - static_cast<uint32_t>(b); }

// runtime::Half::FromFloat without branches: every case (NaN, overflow,
// subnormal, normal) is computed and one selected, so the CPU loops
// vectorise (the branchy form runs several times slower). Bit-identical to
// Half::FromFloat for every input (cast_test.cc sweeps the f32 bit patterns).
BRAID_HOST_DEVICE inline uint16_t HalfBitsBranchless(float f) {
  using runtime::internal::BitsFloat;
  using runtime::internal::FloatBits;
  const uint32_t u = FloatBits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t abs = u & 0x7fffffffu;
  // Subnormal half: the float adder rounds abs into units of 2^-24.
  const uint32_t subnormal = FloatBits(BitsFloat(abs) + BitsFloat(0x3f000000u)) - 0x3f000000u;
  // Normal half: rebias the exponent by -112 and round the mantissa to even.
  const uint32_t normal = (abs + 0xc8000fffu + ((abs >> 13) & 1u)) >> 13;
  const uint32_t is_subnormal = SelectMask(abs < 0x38800000u);
  const uint32_t is_overflow = SelectMask(abs >= 0x477ff000u);
  const uint32_t is_nan = SelectMask(abs > 0x7f800000u);
  uint32_t r = (subnormal & is_subnormal) | (normal & ~is_subnormal);
  r = (0x7c00u & is_overflow) | (r & ~is_overflow);
  r = (0x7e00u & is_nan) | (r & ~is_nan);
  return static_cast<uint16_t>(sign | (r & 0xffffu));
}

// runtime::Half::ToFloat without branches (exact, like it).
BRAID_HOST_DEVICE inline float HalfToFloatBranchless(uint16_t h) {
  using runtime::internal::BitsFloat;
  using runtime::internal::FloatBits;
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  const uint32_t subnormal =
      FloatBits(static_cast<float>(static_cast<int32_t>(mant)) * BitsFloat(0x33800000u)) | sign;
  const uint32_t special = sign | 0x7f800000u | (mant << 13);
  const uint32_t normal = sign | ((exp + 112u) << 23) | (mant << 13);
  const uint32_t is_subnormal = SelectMask(exp == 0);
  const uint32_t is_special = SelectMask(exp == 31);
  uint32_t r = (subnormal & is_subnormal) | (normal & ~is_subnormal);
  r = (special & is_special) | (r & ~is_special);
  return BitsFloat(r);
}

// `v` as f32 (exact for float, Half and BFloat16).
template <typename T>
BRAID_HOST_DEVICE inline float ToF32(T v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else if constexpr (std::is_same_v<T, runtime::Half>) {
    return HalfToFloatBranchless(v.bits);
  } else {
    return static_cast<float>(v);
  }
}

// `v` (f32) rounded once to To.
template <typename To>
BRAID_HOST_DEVICE inline To FromF32(float v) {
  if constexpr (std::is_same_v<To, float>) {
    return v;
  } else if constexpr (std::is_same_v<To, runtime::Half>) {
    runtime::Half h;
    h.bits = HalfBitsBranchless(v);
    return h;
  } else {
    return To(v);
  }
}

// `v` converted from From to To through f32 with a single rounding.
template <typename To, typename From>
BRAID_HOST_DEVICE inline To CastValue(From v) {
  return FromF32<To>(ToF32<From>(v));
}

// acc + float(v): one f32 add, one rounding.
template <typename From>
BRAID_HOST_DEVICE inline float AccumulateValue(float acc, From v) {
  return acc + ToF32<From>(v);
}

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_CAST_H_
