// Scaled dot-product attention on one block of queries and keys, with causal
// masking by absolute positions, log-sum-exp output, merging of partial
// results, and the flash-attention backward. The building block of ring and
// blockwise attention: a long sequence is cut into blocks, each (query block,
// key block) pair is processed on its own and the partial results merged.
//
// Shapes: q, o, dout, dq are [B, H, Tq, D]; k, v, dk, dv are [B, H, Tk, D];
// lse (log-sum-exp of the scaled, masked scores of each query row) is
// [B, H, Tq], always f32. Dtypes: q, k, v, o, dout, dq, dk, dv share one dtype,
// f32, f16 or bf16 (computed in f32). All operands are contiguous and on one
// device (CPU or CUDA). Streams follow kernels/stream.h.
//
// Masking: with options.causal, query row i (absolute position q_offset + i)
// sees key row j (absolute position k_offset + j) iff
// k_offset + j <= q_offset + i. A query row that sees no key of the block has
// o = 0 and lse = -inf; AttentionMerge treats such a part as empty.
//
// Algorithm (per batch and head; S = q k^T * scale, masked entries -inf):
//   forward:  lse = logsumexp_j S[i, j];  o = exp(S - lse) v
//   merge:    lse = log(exp(lse1) + exp(lse2));
//             o = exp(lse1 - lse) o1 + exp(lse2 - lse) o2
//   backward: Drow = rowsum(dout * o);  P = exp(S - lse);  dv += P^T dout;
//             dP = dout v^T;  dS = P * (dP - Drow);
//             dq += dS k * scale;  dk += dS^T q * scale
// For ring attention, the backward of a block pair takes the FINAL (merged)
// o and lse of the query rows; summing its dq over key blocks and its dk, dv
// over query blocks gives the gradient of the whole sequence.
//
// CPU: per (batch, head) the operands are converted to f32 and processed in
// blocks of 64 query rows with OpenBLAS GEMMs, so temporary memory is
// O(64 * Tk + (Tq + Tk) * D) floats. CUDA: one thread block per query row (and
// per key row for dk, dv), online softmax; simple and exact, not tuned.
//
// Errors: kInvalidArgument for mismatched or non-contiguous operands, D == 0
// or a negative scale (nothing is written); kFailedPrecondition for CUDA
// tensors in a build without CUDA; kInternal for a failed CUDA launch.
#ifndef BRAID_KERNELS_ATTENTION_H_
#define BRAID_KERNELS_ATTENTION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

namespace braid::kernels {

struct AttentionOptions {
  // Multiplies q k^T before the softmax. 0 (default): 1 / sqrt(D).
  float scale = 0.0f;
  // Mask keys at later absolute positions than the query (see file comment).
  bool causal = true;
  // Absolute sequence position of query row 0 and of key row 0 of this block.
  int64_t q_offset = 0;
  int64_t k_offset = 0;
};

// Writes o and lse of the block.
// REQUIRES: shapes and dtypes as in the file comment.
absl::Status AttentionForward(const runtime::Tensor& q, const runtime::Tensor& k,
                              const runtime::Tensor& v, const AttentionOptions& options,
                              const runtime::Tensor& o, const runtime::Tensor& lse,
                              Stream stream = {});

// Combines two partial results over disjoint key sets of the same query rows
// into (o, lse), exactly as if attention had run over the union of the keys.
// REQUIRES: o1, o2, o of one shape [B, H, Tq, D] and dtype; lse1, lse2, lse
// [B, H, Tq] f32. o may be o1 or o2 and lse may be lse1 or lse2 (in place).
absl::Status AttentionMerge(const runtime::Tensor& o1, const runtime::Tensor& lse1,
                            const runtime::Tensor& o2, const runtime::Tensor& lse2,
                            const runtime::Tensor& o, const runtime::Tensor& lse,
                            Stream stream = {});

// ACCUMULATES the block's gradients into dq, dk and dv (zero them first when
// the block is the whole sequence). o and lse are the final forward results
// of these query rows (merged over all key blocks).
// REQUIRES: shapes and dtypes as in the file comment; same options as the
// forward; dq, dk, dv distinct from every input.
absl::Status AttentionBackward(const runtime::Tensor& q, const runtime::Tensor& k,
                               const runtime::Tensor& v, const runtime::Tensor& o,
                               const runtime::Tensor& lse, const runtime::Tensor& dout,
                               const AttentionOptions& options, const runtime::Tensor& dq,
                               const runtime::Tensor& dk, const runtime::Tensor& dv,
                               Stream stream = {});

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_ATTENTION_H_
