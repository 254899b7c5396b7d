// GELU activation (tanh approximation, as GPT-2 uses), forward and backward.
//
//   gelu(x) = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
//
// Element-wise over tensors of any shape. Dtypes: f32, f16, bf16 (f16/bf16 are
// computed in f32 and rounded once on store). All operands are contiguous, of
// one dtype, on one device (CPU or CUDA; the op runs where the tensors are).
// Streams follow kernels/stream.h. Errors: kInvalidArgument for mismatched or
// non-contiguous operands (nothing is written); kFailedPrecondition for CUDA
// tensors in a build without CUDA; kInternal for a failed CUDA launch.
//
//   BRAID_RETURN_IF_ERROR(kernels::GeluForward(x, y));
//   BRAID_RETURN_IF_ERROR(kernels::GeluBackward(x, dy, dx));
#ifndef BRAID_KERNELS_GELU_H_
#define BRAID_KERNELS_GELU_H_

#include "absl/status/status.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

namespace braid::kernels {

// y = gelu(x).
// REQUIRES: y has x's shape, dtype and device. y may be x (in place).
absl::Status GeluForward(const runtime::Tensor& x, const runtime::Tensor& y, Stream stream = {});

// dx = dy * gelu'(x).
// REQUIRES: x, dy, dx of one shape, dtype and device. dx may be dy (in place).
absl::Status GeluBackward(const runtime::Tensor& x, const runtime::Tensor& dy,
                          const runtime::Tensor& dx, Stream stream = {});

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_GELU_H_
