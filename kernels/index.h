// Row gather and row scatter-add by index: the building blocks of MoE token
// permutation (tokens -> expert-ordered rows) and unpermutation (back, summing
// each token's expert outputs).
//
//   // permute: rows[i] = tokens[order[i]]
//   BRAID_RETURN_IF_ERROR(kernels::GatherRows(tokens, order, rows));
//   // unpermute: out[order[i]] += expert_out[i]   (out zeroed first)
//   BRAID_RETURN_IF_ERROR(kernels::ScatterAddRows(expert_out, order, out));
//
// Tensors are viewed as 2-D row sets: `in`/`out` are [rows, ...] and a "row"
// is everything after the first dimension (the trailing shapes must match).
// Indices are a 1-D i64 or i32 tensor. The index value -1 means "no row": a
// gathered row is then written as zeros, and a scattered row is skipped (a
// dropped token when an expert is over capacity).
//
// DTypes: f32, f16, bf16 (in and out the same). Scatter-add into f16/bf16
// converts to f32, adds and rounds once per contribution.
//
// Validation of index values: on the CPU an index < -1 or >= the number of
// rows it selects from/into is kInvalidArgument and nothing is written. On
// CUDA, index values are not read back to the host (that would synchronise);
// an out-of-range index there is treated as -1.
//
// Determinism: GatherRows is exact everywhere. ScatterAddRows on the CPU adds
// contributions in index order i = 0, 1, ...; on CUDA repeated destination
// rows are combined with atomics, in an unspecified order (f32 results can
// then differ in the last bits between runs; with distinct indices it is exact).
//
// Stream contract (kernels/stream.h): CPU synchronous; CUDA enqueued on
// stream.cuda_stream on the tensors' device. `in` and `out` must not overlap.
//
// Thread-safety: thread-safe. Errors: kInvalidArgument for shape, dtype,
// device or (CPU) index mistakes; kFailedPrecondition for CUDA without CUDA or
// GPU; kInternal on launch failure.
#ifndef BRAID_KERNELS_INDEX_H_
#define BRAID_KERNELS_INDEX_H_

#include "absl/status/status.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

namespace braid::kernels {

// out[i, :] = in[indices[i], :] (zeros where indices[i] == -1).
// REQUIRES: out.dim(0) == indices.numel(); in and out contiguous.
absl::Status GatherRows(const runtime::Tensor& in, const runtime::Tensor& indices,
                        const runtime::Tensor& out, const Stream& stream = {});

// out[indices[i], :] += in[i, :] (skipped where indices[i] == -1).
// REQUIRES: in.dim(0) == indices.numel(); in and out contiguous.
absl::Status ScatterAddRows(const runtime::Tensor& in, const runtime::Tensor& indices,
                            const runtime::Tensor& out, const Stream& stream = {});

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_INDEX_H_
