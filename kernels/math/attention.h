// Per-element attention math, shared by the CPU loops and the CUDA kernels:
// causal visibility, merging of partial (o, lse) results, and the backward's
// per-score terms. All in f32; -inf stands for "no visible key".
// Transcendentals (expf, logf, tanhf, sqrtf) come from the host libm on the
// CPU and from CUDA's device library on the GPU, which may differ by an ulp or
// two: CPU and CUDA results agree to a tolerance, not bit for bit.
#ifndef BRAID_KERNELS_MATH_ATTENTION_H_
#define BRAID_KERNELS_MATH_ATTENTION_H_

#include <cmath>
#include <cstdint>

#include "runtime/half.h"

namespace braid::kernels::math {

// True when a query at absolute position q_pos may attend to a key at k_pos.
BRAID_HOST_DEVICE inline bool AttentionVisible(bool causal, int64_t q_pos, int64_t k_pos) {
  return !causal || k_pos <= q_pos;
}

// log(exp(a) + exp(b)), exact for -inf operands (both -inf gives -inf).
BRAID_HOST_DEVICE inline float LogAddExp(float a, float b) {
  const float hi = a > b ? a : b;
  const float lo = a > b ? b : a;
  if (hi == -INFINITY) return -INFINITY;
  return hi + log1pf(expf(lo - hi));
}

// Weight of a part with log-sum-exp `lse_part` in a merged result with
// log-sum-exp `lse`: exp(lse_part - lse), 0 for an empty part.
BRAID_HOST_DEVICE inline float MergeWeight(float lse_part, float lse) {
  if (lse_part == -INFINITY) return 0.0f;
  return expf(lse_part - lse);
}

// Probability of a score s (already scaled) in a row of log-sum-exp lse;
// 0 for a row with no visible key.
BRAID_HOST_DEVICE inline float AttentionProb(float s, float lse) {
  if (lse == -INFINITY) return 0.0f;
  return expf(s - lse);
}

// dS = P * (dP - Drow).
BRAID_HOST_DEVICE inline float AttentionScoreGrad(float p, float dp, float drow) {
  return p * (dp - drow);
}

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_ATTENTION_H_
