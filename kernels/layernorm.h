// LayerNorm over the last dimension: forward, and a backward split into an
// input-gradient part and a weight-gradient part.
//
//   mean = avg(x[r, :]),  rstd = 1 / sqrt(var(x[r, :]) + eps)  (biased variance)
//   xhat = (x - mean) * rstd,  y = xhat * gamma + beta
//
// The split backward is what zero-bubble pipeline schedules need: the layer's
// BackwardInput calls LayerNormBackwardInput (dx, needed at once by the
// previous stage) and its BackwardWeight calls LayerNormBackwardWeight later
// (dgamma, dbeta). Both read the mean and rstd saved by the forward pass.
//
// Shapes: x, y, dy, dx are [..., C] (N rows of C); gamma, beta, dgamma, dbeta
// are [C]; mean and rstd are the leading shape [...] (N values), always f32.
// Dtypes: x and everything of x's shape or of shape [C] share one dtype, f32,
// f16 or bf16 (computed in f32). All operands are contiguous and on one device
// (CPU or CUDA). Streams follow kernels/stream.h. Errors: kInvalidArgument for
// mismatched, non-contiguous or 0-d operands or eps < 0 (nothing is written);
// kFailedPrecondition for CUDA tensors in a build without CUDA; kInternal for
// a failed CUDA launch.
#ifndef BRAID_KERNELS_LAYERNORM_H_
#define BRAID_KERNELS_LAYERNORM_H_

#include "absl/status/status.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

namespace braid::kernels {

// y = layernorm(x) * gamma + beta; writes mean and rstd for the backward.
// REQUIRES: shapes and dtypes as in the file comment; eps >= 0.
absl::Status LayerNormForward(const runtime::Tensor& x, const runtime::Tensor& gamma,
                              const runtime::Tensor& beta, float eps, const runtime::Tensor& y,
                              const runtime::Tensor& mean, const runtime::Tensor& rstd,
                              Stream stream = {});

// dx = rstd * (g - avg(g) - xhat * avg(g * xhat)) with g = dy * gamma.
// Overwrites dx. REQUIRES: mean and rstd from LayerNormForward on this x;
// dx may be dy.
absl::Status LayerNormBackwardInput(const runtime::Tensor& x, const runtime::Tensor& gamma,
                                    const runtime::Tensor& mean, const runtime::Tensor& rstd,
                                    const runtime::Tensor& dy, const runtime::Tensor& dx,
                                    Stream stream = {});

// dgamma += sum over rows of dy * xhat;  dbeta += sum over rows of dy.
// ACCUMULATES into dgamma and dbeta (zero them before the first micro-batch).
// REQUIRES: mean and rstd from LayerNormForward on this x.
absl::Status LayerNormBackwardWeight(const runtime::Tensor& x, const runtime::Tensor& mean,
                                     const runtime::Tensor& rstd, const runtime::Tensor& dy,
                                     const runtime::Tensor& dgamma, const runtime::Tensor& dbeta,
                                     Stream stream = {});

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_LAYERNORM_H_
