// Dtype conversion between floating-point tensors, and accumulation of a
// low-precision tensor into an f32 one.
//
//   // bf16 compute copy of an f32 master weight (nn/mixed_precision.h)
//   BRAID_RETURN_IF_ERROR(kernels::Cast(p.value, p.compute));
//   // f32 gradient += bf16 gradient of one microbatch
//   BRAID_RETURN_IF_ERROR(kernels::AccumulateInto(grad_bf16, p.grad));
//
// Both tensors of a call are defined, contiguous, of the same shape and on the
// same device; dtypes are f32, f16 or bf16 (integers are kInvalidArgument).
// An empty tensor (numel 0) is a no-op.
//
// Rounding: every element goes through f32 (exact for f16 and bf16) and is
// rounded once to the destination type, to nearest even, with
// runtime/half.h's conversions; CPU and CUDA give bit-identical results.
// A value beyond the destination's largest finite rounds to +-inf (as IEEE
// rounding does), infinities stay infinite and NaN stays NaN. AccumulateInto
// computes dst + float(src) in f32, one rounding per element.
//
// Aliasing: Cast with src and dst the same tensor (same storage, offset and
// dtype) is a no-op; AccumulateInto with src == dst (f32) doubles dst. Any
// other overlap between src and dst is not allowed.
//
// Per-element math lives in kernels/math/cast.h, shared by the CPU loops and
// the CUDA kernels.
//
// Stream contract (kernels/stream.h): CPU tensors are processed synchronously
// on the calling thread; CUDA tensors are enqueued on stream.cuda_stream on
// the tensors' device (same-dtype Cast is a cudaMemcpyAsync on that stream);
// the call returns once enqueued.
//
// Thread-safety: thread-safe (no shared state). Errors: kInvalidArgument for an
// undefined, non-contiguous or integer tensor, or mismatched shape/device
// (and, for AccumulateInto, a dst that is not f32); nothing is written.
// kFailedPrecondition for a CUDA tensor in a build without CUDA or without a
// GPU; kInternal when a CUDA launch fails.
#ifndef BRAID_KERNELS_CAST_H_
#define BRAID_KERNELS_CAST_H_

#include "absl/status/status.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

namespace braid::kernels {

// dst = dtype_of_dst(src), elementwise. Same dtype: a copy.
// REQUIRES: src and dst have the same shape and device, are contiguous, and are
// f32, f16 or bf16; they do not overlap unless they are the same tensor.
absl::Status Cast(const runtime::Tensor& src, const runtime::Tensor& dst,
                  const Stream& stream = {});

// dst = dst + float(src), elementwise, in f32.
// REQUIRES: dst is f32; src is f32, f16 or bf16 with dst's shape and device;
// both contiguous; no overlap unless src is dst.
absl::Status AccumulateInto(const runtime::Tensor& src, const runtime::Tensor& dst,
                            const Stream& stream = {});

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_CAST_H_
