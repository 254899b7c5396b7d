// Per-element RMSNorm math, shared by the CPU loops and the CUDA kernels.
// All in f32.
// Transcendentals (expf, logf, tanhf, sqrtf) come from the host libm on the
// CPU and from CUDA's device library on the GPU, which may differ by an ulp or
// two: CPU and CUDA results agree to a tolerance, not bit for bit.
#ifndef BRAID_KERNELS_MATH_RMSNORM_H_
#define BRAID_KERNELS_MATH_RMSNORM_H_

#include <cmath>

#include "runtime/half.h"

namespace braid::kernels::math {

// 1 / sqrt(mean_sq + eps), mean_sq = avg(x^2) over the row.
BRAID_HOST_DEVICE inline float RmsRstd(float mean_sq, float eps) {
  return 1.0f / sqrtf(mean_sq + eps);
}

// y = x * rstd * gamma.
BRAID_HOST_DEVICE inline float RmsNormValue(float x, float rstd, float gamma) {
  return x * rstd * gamma;
}

// dx = rstd * (g - xhat * mean_gxhat), where g = dy * gamma, xhat = x * rstd
// and mean_gxhat = avg(g * xhat) over the row.
BRAID_HOST_DEVICE inline float RmsNormGradInput(float g, float xhat, float rstd, float mean_gxhat) {
  return rstd * (g - xhat * mean_gxhat);
}

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_RMSNORM_H_
