// Top-k along the last dimension: the k largest values of each row and their
// positions, largest first.
//
//   // router logits [tokens, experts] -> the 2 best experts per token
//   BRAID_ASSIGN_OR_RETURN(kernels::TopKResult best, kernels::TopK(logits, 2));
//   // best.values [tokens, 2] (dtype of logits), best.indices [tokens, 2] i64
//
// Order: descending by value; equal values keep the lower index first (a stable
// order, identical on CPU and CUDA). NaN counts as larger than every number
// (so a NaN row is visible, as in PyTorch); -0.0 and +0.0 are equal.
// Input dtypes: f32, f16, bf16. Values are copied, never rounded, so they keep
// the input dtype; indices are i64 positions along the last dimension.
// Every row is independent: x may have any number of leading dimensions
// (a 1-D x is one row); x must be contiguous. k == 0 is a no-op.
//
// Cost: CPU O(n log k) per row (partial sort). CUDA: one block per row,
// O(k * n / threads) per row (k successive block-wide arg-max passes), meant
// for router-sized rows (n up to a few thousand, small k).
//
// Stream contract (kernels/stream.h): CPU synchronous; CUDA enqueued on
// stream.cuda_stream on x's device (the convenience overload allocates the
// outputs with a synchronous cudaMalloc first).
//
// Thread-safety: thread-safe. Errors: kInvalidArgument for a bad k (k < 0 or
// k > last dimension), dtype, shape or device (nothing written);
// kFailedPrecondition for CUDA without CUDA or GPU; kInternal on launch failure.
#ifndef BRAID_KERNELS_TOPK_H_
#define BRAID_KERNELS_TOPK_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

namespace braid::kernels {

struct TopKResult {
  runtime::Tensor values;   // [..., k], dtype of the input
  runtime::Tensor indices;  // [..., k], i64
};

// Writes the top k of each row of x into values and indices.
// REQUIRES: values [..., k] of x's dtype and indices [..., k] i64, contiguous,
// on x's device, with x's leading dimensions.
absl::Status TopK(const runtime::Tensor& x, int64_t k, const runtime::Tensor& values,
                  const runtime::Tensor& indices, const Stream& stream = {});

// Allocates the outputs on x's device and calls the overload above.
absl::StatusOr<TopKResult> TopK(const runtime::Tensor& x, int64_t k, const Stream& stream = {});

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_TOPK_H_
