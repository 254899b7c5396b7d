// 16-bit floating point storage types: Half (IEEE binary16) and BFloat16.
//
// Both are plain 2-byte values with conversions to and from float that compile
// for host and device (__host__ __device__ under nvcc), so CPU tests run the
// exact same rounding as CUDA kernels. Conversions from float round to nearest
// even; NaN stays NaN. Arithmetic is done by converting to float.
#ifndef BRAID_RUNTIME_HALF_H_
#define BRAID_RUNTIME_HALF_H_

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define BRAID_HOST_DEVICE __host__ __device__
#else
#define BRAID_HOST_DEVICE
#endif

namespace braid::runtime {

namespace internal {
BRAID_HOST_DEVICE inline uint32_t FloatBits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
}
BRAID_HOST_DEVICE inline float BitsFloat(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}
}  // namespace internal

// bfloat16: the top 16 bits of an IEEE float32.
struct BFloat16 {
  uint16_t bits = 0;

  BFloat16() = default;
  BRAID_HOST_DEVICE explicit BFloat16(float f) : bits(FromFloat(f)) {}
  BRAID_HOST_DEVICE explicit operator float() const { return ToFloat(bits); }

  BRAID_HOST_DEVICE static uint16_t FromFloat(float f) {
    uint32_t u = internal::FloatBits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
    return static_cast<uint16_t>(u >> 16);
  }
  BRAID_HOST_DEVICE static float ToFloat(uint16_t b) {
    return internal::BitsFloat(static_cast<uint32_t>(b) << 16);
  }
  static BFloat16 FromBits(uint16_t b) {
    BFloat16 h;
    h.bits = b;
    return h;
  }
};

// IEEE 754 binary16.
struct Half {
  uint16_t bits = 0;

  Half() = default;
  BRAID_HOST_DEVICE explicit Half(float f) : bits(FromFloat(f)) {}
  BRAID_HOST_DEVICE explicit operator float() const { return ToFloat(bits); }

  BRAID_HOST_DEVICE static uint16_t FromFloat(float f) {
    const uint32_t u = internal::FloatBits(f);
    const uint32_t sign = (u >> 16) & 0x8000u;
    const uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
    if (abs < 0x38800000u) {
      // Subnormal half (or zero): scale into the subnormal range with the
      // float adder doing the round-to-nearest-even.
      const float magic = internal::BitsFloat(0x3f000000u);  // 0.5f
      float v = internal::BitsFloat(abs) + magic;
      return static_cast<uint16_t>(sign | (internal::FloatBits(v) - 0x3f000000u));
    }
    uint32_t mant_odd = (abs >> 13) & 1u;
    uint32_t r = abs + 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  BRAID_HOST_DEVICE static float ToFloat(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
      // zero or subnormal: mant * 2^-24
      float v = static_cast<float>(mant) * internal::BitsFloat(0x33800000u);
      return internal::BitsFloat(internal::FloatBits(v) | sign);
    }
    if (exp == 31) return internal::BitsFloat(sign | 0x7f800000u | (mant << 13));
    return internal::BitsFloat(sign | ((exp + 112u) << 23) | (mant << 13));
  }
  static Half FromBits(uint16_t b) {
    Half h;
    h.bits = b;
    return h;
  }
};

static_assert(sizeof(BFloat16) == 2 && sizeof(Half) == 2);

}  // namespace braid::runtime

#endif  // BRAID_RUNTIME_HALF_H_
