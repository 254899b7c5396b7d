// Softmax over the last dimension, forward and backward.
//
// A tensor of shape [..., C] is treated as rows of C values; each row is
// normalised on its own (max-subtracted, so large inputs do not overflow).
// Dtypes: f32, f16, bf16 (computed in f32). All operands are contiguous, of one
// dtype, on one device (CPU or CUDA). Streams follow kernels/stream.h.
// Errors: kInvalidArgument for mismatched, non-contiguous or 0-d operands
// (nothing is written); kFailedPrecondition for CUDA tensors in a build
// without CUDA; kInternal for a failed CUDA launch.
#ifndef BRAID_KERNELS_SOFTMAX_H_
#define BRAID_KERNELS_SOFTMAX_H_

#include "absl/status/status.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

namespace braid::kernels {

// y[r, :] = exp(x[r, :] - max) / sum(exp(x[r, :] - max)).
// REQUIRES: x.ndim() >= 1; y of x's shape, dtype and device; y may be x.
absl::Status SoftmaxForward(const runtime::Tensor& x, const runtime::Tensor& y, Stream stream = {});

// dx[r, :] = y[r, :] * (dy[r, :] - sum(dy[r, :] * y[r, :])), from the forward
// output y (not the input).
// REQUIRES: y, dy, dx of one shape, dtype and device; dx may be dy.
absl::Status SoftmaxBackward(const runtime::Tensor& y, const runtime::Tensor& dy,
                             const runtime::Tensor& dx, Stream stream = {});

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_SOFTMAX_H_
