// Per-element math of kernels/elementwise.h, shared by the CPU loops and the
// CUDA kernels. Everything computes in float; callers widen f16/bf16 inputs
// and round the result once. Add and Mul are the reduction ops SumOp and
// ProdOp of kernels/math/reduce.h (they run through the reduction loops).
#ifndef BRAID_KERNELS_MATH_ELEMENTWISE_H_
#define BRAID_KERNELS_MATH_ELEMENTWISE_H_

#include "runtime/half.h"

namespace braid::kernels::math {

// alpha * x, with alpha carried in the op.
struct ScaleOp {
  float alpha;
  BRAID_HOST_DEVICE float Apply(float x) const { return alpha * x; }
};

// y + alpha * x, as a separately rounded multiply and add (never a fused
// multiply-add) so CPU and CUDA round the same way. nvcc contracts a * b + c
// by default; __fmul_rn is never contracted. GCC contracts only where FMA
// instructions are enabled, which the baseline x86-64 ISA the CPU loops are
// compiled for does not have.
struct AxpyOp {
  float alpha;
  BRAID_HOST_DEVICE float Apply(float x, float y) const {
#if defined(__CUDA_ARCH__)
    const float prod = __fmul_rn(alpha, x);
#else
    const float prod = alpha * x;
#endif
    return y + prod;
  }
};

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_ELEMENTWISE_H_
