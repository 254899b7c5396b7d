// Elementwise arithmetic on tensors: add, mul, scale, axpy.
//
//   BRAID_RETURN_IF_ERROR(kernels::Add(x, residual, x));        // x += residual
//   BRAID_RETURN_IF_ERROR(kernels::Axpy(-lr, grad, param));     // param -= lr * grad
//
// All tensors of one call have the same shape, dtype (f32, f16 or bf16) and
// device, and are contiguous. f16/bf16 compute in f32: each element is
// converted, combined and rounded once (round to nearest even). The output may
// be the same tensor as an input (in place); other overlaps are not allowed.
// An empty tensor (numel 0) is a no-op.
//
// Per-element math lives in kernels/math/elementwise.h, shared by the CPU
// loops and the CUDA kernels, so both round identically.
//
// Stream contract (kernels/stream.h): CPU tensors are processed synchronously
// on the calling thread; CUDA tensors are enqueued on stream.cuda_stream on
// the tensors' device.
//
// Thread-safety: thread-safe (no shared state). Errors: kInvalidArgument for
// mismatched shape/dtype/device or a non-contiguous tensor (nothing written);
// kFailedPrecondition for a CUDA tensor without CUDA or GPU; kInternal when a
// CUDA launch fails.
#ifndef BRAID_KERNELS_ELEMENTWISE_H_
#define BRAID_KERNELS_ELEMENTWISE_H_

#include "absl/status/status.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

namespace braid::kernels {

// out = a + b.
absl::Status Add(const runtime::Tensor& a, const runtime::Tensor& b, const runtime::Tensor& out,
                 const Stream& stream = {});

// out = a * b (elementwise).
absl::Status Mul(const runtime::Tensor& a, const runtime::Tensor& b, const runtime::Tensor& out,
                 const Stream& stream = {});

// out = alpha * x.
absl::Status Scale(const runtime::Tensor& x, float alpha, const runtime::Tensor& out,
                   const Stream& stream = {});

// y = y + alpha * x (BLAS axpy), in place on y.
absl::Status Axpy(float alpha, const runtime::Tensor& x, const runtime::Tensor& y,
                  const Stream& stream = {});

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_ELEMENTWISE_H_
