// Per-element SwiGLU math, shared by the CPU loops and the CUDA kernels.
// All in f32.
// Transcendentals (expf, logf, tanhf, sqrtf) come from the host libm on the
// CPU and from CUDA's device library on the GPU, which may differ by an ulp or
// two: CPU and CUDA results agree to a tolerance, not bit for bit.
#ifndef BRAID_KERNELS_MATH_SWIGLU_H_
#define BRAID_KERNELS_MATH_SWIGLU_H_

#include <cmath>

#include "runtime/half.h"

namespace braid::kernels::math {

BRAID_HOST_DEVICE inline float Sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// silu(a) = a * sigmoid(a).
BRAID_HOST_DEVICE inline float Silu(float a) { return a * Sigmoid(a); }

// d silu(a) / da = sigmoid(a) * (1 + a * (1 - sigmoid(a))).
BRAID_HOST_DEVICE inline float SiluGrad(float a) {
  const float s = Sigmoid(a);
  return s * (1.0f + a * (1.0f - s));
}

// out = silu(a) * b.
BRAID_HOST_DEVICE inline float SwiGlu(float a, float b) { return Silu(a) * b; }

// Gradients of SwiGlu for an upstream gradient dout.
BRAID_HOST_DEVICE inline float SwiGluGradA(float a, float b, float dout) {
  return dout * b * SiluGrad(a);
}
BRAID_HOST_DEVICE inline float SwiGluGradB(float a, float dout) { return dout * Silu(a); }

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_SWIGLU_H_
