// SwiGLU gate, forward and backward: out = silu(a) * b, silu(a) = a * sigmoid(a).
//
// `a` is the gate projection and `b` the up projection of a SwiGLU MLP; both
// have the same shape (any shape). Dtypes: f32, f16, bf16 (computed in f32).
// All operands are contiguous, of one dtype, on one device (CPU or CUDA).
// Streams follow kernels/stream.h. Errors: kInvalidArgument for mismatched or
// non-contiguous operands (nothing is written); kFailedPrecondition for CUDA
// tensors in a build without CUDA; kInternal for a failed CUDA launch.
#ifndef BRAID_KERNELS_SWIGLU_H_
#define BRAID_KERNELS_SWIGLU_H_

#include "absl/status/status.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

namespace braid::kernels {

// out = silu(a) * b.
// REQUIRES: a, b, out of one shape, dtype and device. out may be a or b.
absl::Status SwiGluForward(const runtime::Tensor& a, const runtime::Tensor& b,
                           const runtime::Tensor& out, Stream stream = {});

// da = dout * b * silu'(a),  db = dout * silu(a).
// REQUIRES: all five of one shape, dtype and device. da may be dout; db may be
// dout; da and db are distinct.
absl::Status SwiGluBackward(const runtime::Tensor& a, const runtime::Tensor& b,
                            const runtime::Tensor& dout, const runtime::Tensor& da,
                            const runtime::Tensor& db, Stream stream = {});

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_SWIGLU_H_
