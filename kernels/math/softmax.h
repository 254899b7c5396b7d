// Per-element softmax math, shared by the CPU loops and the CUDA kernels.
// A row is reduced first (max, then sum of exponentials; or dot(dy, y) for the
// backward); these functions then give each element. All in f32.
#ifndef BRAID_KERNELS_MATH_SOFTMAX_H_
#define BRAID_KERNELS_MATH_SOFTMAX_H_

#include <cmath>

#include "runtime/half.h"

namespace braid::kernels::math {

// exp(x - row_max) / row_sum, with row_sum = sum exp(x - row_max).
BRAID_HOST_DEVICE inline float SoftmaxValue(float x, float row_max, float inv_row_sum) {
  return expf(x - row_max) * inv_row_sum;
}

// dx = y * (dy - dot), with dot = sum over the row of dy * y.
BRAID_HOST_DEVICE inline float SoftmaxGrad(float y, float dy, float dot) { return y * (dy - dot); }

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_SOFTMAX_H_
