// Per-element GELU math (tanh approximation), shared by the CPU loops and the
// CUDA kernels. All in f32.
// Transcendentals (expf, logf, tanhf, sqrtf) come from the host libm on the
// CPU and from CUDA's device library on the GPU, which may differ by an ulp or
// two: CPU and CUDA results agree to a tolerance, not bit for bit.
#ifndef BRAID_KERNELS_MATH_GELU_H_
#define BRAID_KERNELS_MATH_GELU_H_

#include <cmath>

#include "runtime/half.h"

namespace braid::kernels::math {

inline constexpr float kGeluSqrt2OverPi = 0.7978845608028654f;
inline constexpr float kGeluCubic = 0.044715f;

// 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))).
BRAID_HOST_DEVICE inline float Gelu(float x) {
  const float u = kGeluSqrt2OverPi * (x + kGeluCubic * x * x * x);
  return 0.5f * x * (1.0f + tanhf(u));
}

// d gelu(x) / dx.
BRAID_HOST_DEVICE inline float GeluGrad(float x) {
  const float u = kGeluSqrt2OverPi * (x + kGeluCubic * x * x * x);
  const float t = tanhf(u);
  const float du = kGeluSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_GELU_H_
