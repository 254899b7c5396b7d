// Per-element cross-entropy math, shared by the CPU loops and the CUDA
// kernels. A row's log-sum-exp is reduced first. All in f32.
// Transcendentals (expf, logf, tanhf, sqrtf) come from the host libm on the
// CPU and from CUDA's device library on the GPU, which may differ by an ulp or
// two: CPU and CUDA results agree to a tolerance, not bit for bit.
#ifndef BRAID_KERNELS_MATH_CROSS_ENTROPY_H_
#define BRAID_KERNELS_MATH_CROSS_ENTROPY_H_

#include <cmath>
#include <cstdint>

#include "runtime/half.h"

namespace braid::kernels::math {

// log(row_sum) + row_max, with row_sum = sum exp(x - row_max).
BRAID_HOST_DEVICE inline float LogSumExp(float row_max, float row_sum) {
  return logf(row_sum) + row_max;
}

// Loss of one row: lse - logit of the target.
BRAID_HOST_DEVICE inline float CrossEntropyLoss(float lse, float target_logit) {
  return lse - target_logit;
}

// dlogit = scale * (softmax - onehot), softmax = exp(logit - lse).
BRAID_HOST_DEVICE inline float CrossEntropyGrad(float logit, float lse, bool is_target,
                                                float scale) {
  return scale * (expf(logit - lse) - (is_target ? 1.0f : 0.0f));
}

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_CROSS_ENTROPY_H_
