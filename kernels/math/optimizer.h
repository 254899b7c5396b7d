// Per-element math of the optimizers in nn/ (nn/sgd.h, nn/adamw.h), written
// once as BRAID_HOST_DEVICE functions so the CPU loops and a CUDA kernel
// perform the same float operations in the same order.
//
// Every per-step scalar (bias corrections, decay factors) is computed once per
// step on the host in double and passed in as float, so each element sees the
// same constants whatever slot it is in: the update of an element depends only
// on that element's value, gradient and state, never on how parameters are
// cut into slots (ZeRO relies on this).
//
// Products are rounded separately (no fused multiply-add): nvcc contracts
// a * b + c by default, so device code uses __fmul_rn, which is never
// contracted; GCC's baseline x86-64 target has no FMA to contract into.
// Operation order follows torch.optim (SGD and AdamW, foreach=False) so the
// results agree with PyTorch's to float rounding.
#ifndef BRAID_KERNELS_MATH_OPTIMIZER_H_
#define BRAID_KERNELS_MATH_OPTIMIZER_H_

#include <cmath>

#include "runtime/half.h"

namespace braid::kernels::math {

// a * b rounded on its own (never fused into a following add).
BRAID_HOST_DEVICE inline float MulRn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

BRAID_HOST_DEVICE inline float SqrtF(float x) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(x);
#else
  return std::sqrt(x);
#endif
}

// The per-step constants of one SGD step (torch.optim.SGD).
struct SgdConstants {
  float lr = 0;
  float momentum = 0;
  float one_minus_dampening = 1;
  float weight_decay = 0;
};

// One SGD update of one element: p -= lr * d, where
//   g = grad + weight_decay * p                                 (kDecay)
//   buf = kFirst ? g : momentum * buf + (1 - dampening) * g     (kMomentum)
//   d = kNesterov ? g + momentum * buf : buf                    (kMomentum)
//   d = g                                                       (!kMomentum)
// The switches are template parameters so the loops have no branches and
// vectorise. `buf` is ignored (may be null) without kMomentum.
template <bool kDecay, bool kMomentum, bool kNesterov, bool kFirst>
BRAID_HOST_DEVICE inline void SgdUpdate(const SgdConstants& c, float grad, float* param,
                                        float* buf) {
  float g = grad;
  if constexpr (kDecay) g = g + MulRn(c.weight_decay, *param);
  if constexpr (kMomentum) {
    float b;
    if constexpr (kFirst) {
      b = g;
    } else {
      b = MulRn(c.momentum, *buf) + MulRn(c.one_minus_dampening, g);
    }
    *buf = b;
    if constexpr (kNesterov) {
      g = g + MulRn(c.momentum, b);
    } else {
      g = b;
    }
  }
  *param = *param - MulRn(c.lr, g);
}

// The per-step constants of one AdamW step (torch.optim.AdamW), for step
// number t >= 1:
//   decay = 1 - lr * weight_decay (1 for slots without weight decay)
//   step_size = lr / (1 - beta1^t), bias2_sqrt = sqrt(1 - beta2^t).
struct AdamWConstants {
  float decay = 1;
  float one_minus_beta1 = 0.1f;
  float beta2 = 0.999f;
  float one_minus_beta2 = 0.001f;
  float step_size = 0;
  float bias2_sqrt = 1;
  float eps = 1e-8f;
};

// One AdamW update of one element:
//   p = p * decay
//   m = m + (1 - beta1) * (g - m)            (torch's lerp)
//   v = v * beta2 + (1 - beta2) * g * g
//   p = p - (step_size * m) / (sqrt(v) / bias2_sqrt + eps)   (torch's addcdiv)
BRAID_HOST_DEVICE inline void AdamWUpdate(const AdamWConstants& c, float grad, float* param,
                                          float* exp_avg, float* exp_avg_sq) {
  const float p = MulRn(*param, c.decay);
  const float m = *exp_avg + MulRn(c.one_minus_beta1, grad - *exp_avg);
  const float v = MulRn(*exp_avg_sq, c.beta2) + MulRn(MulRn(c.one_minus_beta2, grad), grad);
  const float denom = SqrtF(v) / c.bias2_sqrt + c.eps;
  *exp_avg = m;
  *exp_avg_sq = v;
  *param = p - MulRn(c.step_size, m) / denom;
}

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_OPTIMIZER_H_
