// Per-element LayerNorm math, shared by the CPU loops and the CUDA kernels.
// Row statistics (mean, rstd; the two row means of the backward) are reduced
// first; these functions then give each element. All in f32.
// Transcendentals (expf, logf, tanhf, sqrtf) come from the host libm on the
// CPU and from CUDA's device library on the GPU, which may differ by an ulp or
// two: CPU and CUDA results agree to a tolerance, not bit for bit.
#ifndef BRAID_KERNELS_MATH_LAYERNORM_H_
#define BRAID_KERNELS_MATH_LAYERNORM_H_

#include <cmath>

#include "runtime/half.h"

namespace braid::kernels::math {

// 1 / sqrt(var + eps).
BRAID_HOST_DEVICE inline float Rstd(float var, float eps) { return 1.0f / sqrtf(var + eps); }

// y = (x - mean) * rstd * gamma + beta.
BRAID_HOST_DEVICE inline float LayerNormValue(float x, float mean, float rstd, float gamma,
                                              float beta) {
  return (x - mean) * rstd * gamma + beta;
}

// dx = rstd * (g - mean_g - xhat * mean_gxhat), where g = dy * gamma,
// mean_g = avg(g) and mean_gxhat = avg(g * xhat) over the row.
BRAID_HOST_DEVICE inline float LayerNormGradInput(float g, float xhat, float rstd, float mean_g,
                                                  float mean_gxhat) {
  return rstd * (g - mean_g - xhat * mean_gxhat);
}

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_LAYERNORM_H_
