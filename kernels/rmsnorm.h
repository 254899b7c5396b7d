// RMSNorm over the last dimension: forward, and a backward split into an
// input-gradient part and a weight-gradient part (see layernorm.h for why).
//
//   rstd = 1 / sqrt(avg(x[r, :]^2) + eps),  xhat = x * rstd,  y = xhat * gamma
//
// Shapes: x, y, dy, dx are [..., C] (N rows of C); gamma and dgamma are [C];
// rstd is the leading shape [...] (N values), always f32. Dtypes: x and every
// operand of x's shape or of shape [C] share one dtype, f32, f16 or bf16
// (computed in f32). All operands are contiguous and on one device (CPU or
// CUDA). Streams follow kernels/stream.h. Errors: kInvalidArgument for
// mismatched, non-contiguous or 0-d operands or eps < 0 (nothing is written);
// kFailedPrecondition for CUDA tensors in a build without CUDA; kInternal for
// a failed CUDA launch.
#ifndef BRAID_KERNELS_RMSNORM_H_
#define BRAID_KERNELS_RMSNORM_H_

#include "absl/status/status.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

namespace braid::kernels {

// y = x * rstd * gamma; writes rstd for the backward.
// REQUIRES: shapes and dtypes as in the file comment; eps >= 0.
absl::Status RmsNormForward(const runtime::Tensor& x, const runtime::Tensor& gamma, float eps,
                            const runtime::Tensor& y, const runtime::Tensor& rstd,
                            Stream stream = {});

// dx = rstd * (g - xhat * avg(g * xhat)) with g = dy * gamma. Overwrites dx.
// REQUIRES: rstd from RmsNormForward on this x; dx may be dy.
absl::Status RmsNormBackwardInput(const runtime::Tensor& x, const runtime::Tensor& gamma,
                                  const runtime::Tensor& rstd, const runtime::Tensor& dy,
                                  const runtime::Tensor& dx, Stream stream = {});

// dgamma += sum over rows of dy * xhat. ACCUMULATES into dgamma.
// REQUIRES: rstd from RmsNormForward on this x.
absl::Status RmsNormBackwardWeight(const runtime::Tensor& x, const runtime::Tensor& rstd,
                                   const runtime::Tensor& dy, const runtime::Tensor& dgamma,
                                   Stream stream = {});

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_RMSNORM_H_
