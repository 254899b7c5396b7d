// Philox4x32-10: the counter-based random number generator of Salmon, Moraes,
// Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC 2011), as
// in Random123, cuRAND and PyTorch.
//
// A random number is a pure function of (seed, stream, offset): no state, so
// any rank, thread or CUDA kernel computes any element's value on its own and
// the numbers do not depend on how the work is split. Parameter init and
// dropout use it, so state can be resharded without changing a number.
//
// Layout (same as PyTorch's CUDA Philox): key = the 64-bit seed (low word
// first); counter = {offset low, offset high, stream low, stream high}. One
// counter value yields 4 uint32 "lanes". Element i of a logical index range
// uses counter offset + i/4 and lane i%4, so a range of n elements consumes
// PhiloxCounters(n) = ceil(n/4) counter values; the next independent draw
// should use offset + PhiloxCounters(n) (or another stream).
//
// Conversions: uniform floats take the top 24 bits (exact multiples of 2^-24
// in [0, 1)); normals use Box-Muller on lane pairs (0,1) and (2,3). The bits
// and the uniform floats are identical on CPU and GPU; normals use
// logf/sinf/cosf, whose last bit may differ between the host libm and CUDA's.
//
// Everything here is BRAID_HOST_DEVICE (callable from CUDA kernels) except the
// Tensor fills at the bottom, which run on the CPU.
//
// Thread-safety: pure functions; safe from any thread.
#ifndef BRAID_RUNTIME_PHILOX_H_
#define BRAID_RUNTIME_PHILOX_H_

#include <cmath>
#include <cstdint>

#include "absl/status/status.h"
#include "runtime/half.h"

namespace braid::runtime {

class Tensor;

struct PhiloxBlock {
  uint32_t v[4];
};

namespace philox_internal {
inline constexpr uint32_t kM0 = 0xD2511F53u;
inline constexpr uint32_t kM1 = 0xCD9E8D57u;
inline constexpr uint32_t kW0 = 0x9E3779B9u;  // golden ratio
inline constexpr uint32_t kW1 = 0xBB67AE85u;  // sqrt(3) - 1

BRAID_HOST_DEVICE inline void MulHiLo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}
}  // namespace philox_internal

// The raw bijection: 10 rounds of Philox4x32 on `counter` under `key`.
// This is what the Random123 known-answer tests check.
BRAID_HOST_DEVICE inline PhiloxBlock Philox4x32_10(PhiloxBlock counter, uint32_t key0,
                                                   uint32_t key1) {
  using namespace philox_internal;
  uint32_t c0 = counter.v[0], c1 = counter.v[1], c2 = counter.v[2], c3 = counter.v[3];
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 += kW0;
      key1 += kW1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    MulHiLo(kM0, c0, &hi0, &lo0);
    MulHiLo(kM1, c2, &hi1, &lo1);
    const uint32_t n0 = hi1 ^ c1 ^ key0;
    const uint32_t n2 = hi0 ^ c3 ^ key1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return PhiloxBlock{{c0, c1, c2, c3}};
}

// The 4 lanes for counter value `offset` of `stream` under `seed`.
BRAID_HOST_DEVICE inline PhiloxBlock PhiloxRandom(uint64_t seed, uint64_t stream,
                                                  uint64_t offset) {
  PhiloxBlock counter{{static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32),
                       static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)}};
  return Philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Counter values consumed by n elements: ceil(n / 4).
BRAID_HOST_DEVICE inline uint64_t PhiloxCounters(uint64_t n) { return (n + 3) / 4; }

// A uint32 as a float in [0, 1): the top 24 bits times 2^-24.
BRAID_HOST_DEVICE inline float PhiloxUniform(uint32_t x) {
  return static_cast<float>(x >> 8) * 5.9604644775390625e-08f;  // 2^-24
}

// A uint32 as a float in (0, 1] (never 0, so log() is finite).
BRAID_HOST_DEVICE inline float PhiloxUniformNonZero(uint32_t x) {
  return static_cast<float>((x >> 8) + 1u) * 5.9604644775390625e-08f;
}

// Box-Muller: two standard normals from two uint32s. `first` selects which of
// the pair (cos branch when true, sin branch when false).
BRAID_HOST_DEVICE inline float PhiloxNormal(uint32_t a, uint32_t b, bool first) {
  const float u1 = PhiloxUniformNonZero(a);
  const float u2 = PhiloxUniform(b);
  const float r = sqrtf(-2.0f * logf(u1));
  const float theta = 6.2831853071795864769f * u2;
  return first ? r * cosf(theta) : r * sinf(theta);
}

// Element `index` of the uniform [0, 1) sequence (seed, stream, offset).
BRAID_HOST_DEVICE inline float PhiloxUniformAt(uint64_t seed, uint64_t stream, uint64_t offset,
                                               uint64_t index) {
  const PhiloxBlock b = PhiloxRandom(seed, stream, offset + index / 4);
  return PhiloxUniform(b.v[index % 4]);
}

// Element `index` of the standard normal sequence (seed, stream, offset).
BRAID_HOST_DEVICE inline float PhiloxNormalAt(uint64_t seed, uint64_t stream, uint64_t offset,
                                              uint64_t index) {
  const PhiloxBlock b = PhiloxRandom(seed, stream, offset + index / 4);
  const unsigned pair = static_cast<unsigned>(index % 4) / 2;
  return PhiloxNormal(b.v[2 * pair], b.v[2 * pair + 1], index % 2 == 0);
}

// ---- CPU fills -----------------------------------------------------------------------
// Where the element index is the position in row-major (logical) order of the
// tensor, whatever its strides; so a tensor filled whole equals the same
// tensor filled slice by slice with FillUniformRange over matching ranges.

// out[j] = low + (high - low) * U(first + j) for j in [0, n): in [low, high),
// except that float rounding of the product may give `high` itself.
void FillUniformRange(float* out, uint64_t first, uint64_t n, uint64_t seed, uint64_t stream,
                      uint64_t offset, float low = 0.0f, float high = 1.0f);
// out[j] = mean + stddev * N(first + j) for j in [0, n).
void FillNormalRange(float* out, uint64_t first, uint64_t n, uint64_t seed, uint64_t stream,
                     uint64_t offset, float mean = 0.0f, float stddev = 1.0f);

// Fills a CPU tensor of f32, f16 or bf16 (values computed in f32, then
// rounded to nearest even). Element i (row-major) is element i of the
// sequence. kInvalidArgument for an undefined tensor, an integer dtype or
// low > high / stddev < 0; kFailedPrecondition for a non-CPU tensor (CUDA
// kernels call PhiloxUniformAt / PhiloxNormalAt themselves).
absl::Status FillUniform(Tensor& tensor, uint64_t seed, uint64_t stream, uint64_t offset,
                         float low = 0.0f, float high = 1.0f);
absl::Status FillNormal(Tensor& tensor, uint64_t seed, uint64_t stream, uint64_t offset,
                        float mean = 0.0f, float stddev = 1.0f);

}  // namespace braid::runtime

#endif  // BRAID_RUNTIME_PHILOX_H_
