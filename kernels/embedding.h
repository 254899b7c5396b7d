// Token embedding: forward gather of rows by token id, backward scatter-add of
// output gradients into the weight gradient.
//
// Shapes: weight and dweight are [V, C] (V rows, the vocabulary); ids has any
// shape S (i32 or i64 token ids); out and dout are [S..., C].
// Dtypes: weight, dweight, out, dout share one dtype, f32, f16 or bf16.
// All operands are contiguous and on one device (CPU or CUDA). Streams follow
// kernels/stream.h.
//
// Ids out of [0, V): on the CPU the call returns kInvalidArgument before
// writing anything. On CUDA the ids are not read back to the host (that would
// synchronise the stream): the forward writes a row of zeros and the backward
// skips the row, so a bad id never touches memory outside the tensors.
// Other errors: kInvalidArgument for mismatched or non-contiguous operands;
// kFailedPrecondition for CUDA tensors in a build without CUDA; kInternal for
// a failed CUDA launch.
//
// Determinism: the CPU backward adds rows in index order. The CUDA backward
// uses atomic adds, so repeated ids may sum in a different order run to run.
#ifndef BRAID_KERNELS_EMBEDDING_H_
#define BRAID_KERNELS_EMBEDDING_H_

#include "absl/status/status.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

namespace braid::kernels {

// out[s, :] = weight[ids[s], :] for every position s of ids.
// REQUIRES: shapes and dtypes as in the file comment.
absl::Status EmbeddingForward(const runtime::Tensor& weight, const runtime::Tensor& ids,
                              const runtime::Tensor& out, Stream stream = {});

// dweight[ids[s], :] += dout[s, :] for every position s of ids. ACCUMULATES
// into dweight (zero it before the first micro-batch).
// REQUIRES: shapes and dtypes as in the file comment.
absl::Status EmbeddingBackward(const runtime::Tensor& ids, const runtime::Tensor& dout,
                               const runtime::Tensor& dweight, Stream stream = {});

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_EMBEDDING_H_
