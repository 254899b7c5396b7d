// Per-element softmax math, shared by the CPU loops and the CUDA kernels.
// A row is reduced first (max, then sum of exponentials; or dot(dy, y) for the
// backward); these functions then give each element. All in f32.
// Transcendentals (expf, logf, tanhf, sqrtf) come from the host libm on the
// CPU and from CUDA's device library on the GPU, which may differ by an ulp or
// two: CPU and CUDA results agree to a tolerance, not bit for bit.
#ifndef BRAID_KERNELS_MATH_SOFTMAX_H_
#define BRAID_KERNELS_MATH_SOFTMAX_H_

#include <cmath>

#include "runtime/half.h"

namespace braid::kernels::math {

// exp(x - row_max): the unnormalised value; the row sum of these is row_sum,
// and the softmax value is SoftmaxExp(x, row_max) * (1 / row_sum).
BRAID_HOST_DEVICE inline float SoftmaxExp(float x, float row_max) { return expf(x - row_max); }

// dx = y * (dy - dot), with dot = sum over the row of dy * y.
BRAID_HOST_DEVICE inline float SoftmaxGrad(float y, float dy, float dot) { return y * (dy - dot); }

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_SOFTMAX_H_
