// The tcp backend's algorithms for the variable-count and rooted operations
// (AllGatherV, ReduceScatterV, Gather, Scatter), in the style of
// algorithms.h: sequential code over OpContext's primitives, run on the
// communicator's executor thread, pipelined in segments of
// ctx.segment_bytes(). Buffers are host memory; counts are elements of
// `dtype`; each returns the first error (see OpContext).
#ifndef BRAID_COLLECTIVES_TCP_VECTOR_ALGORITHMS_H_
#define BRAID_COLLECTIVES_TCP_VECTOR_ALGORITHMS_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "collectives/tcp/op_context.h"
#include "kernels/reduce.h"
#include "runtime/dtype.h"

namespace braid::collectives::tcp {

// Ring all-gather with per-rank chunks: chunk j is output bytes
// [offsets[j], + bytes[j]) and rank j's input. At step s rank r forwards chunk
// (r-s) to its right neighbour and receives chunk (r-s-1) from its left one.
// `input` may alias this rank's chunk of output. (allgatherv_ring.cc)
absl::Status AllGatherVRing(OpContext& ctx, const void* input, void* output,
                            absl::Span<const size_t> offsets, absl::Span<const size_t> bytes);

// Ring reduce-scatter with per-rank chunks: `input` holds chunk j at element
// offsets[j] with counts[j] elements (not modified unless `output` aliases
// this rank's chunk of it, which is allowed); `output` (counts[rank]
// elements) receives the reduction of chunk rank(). Chunk c is reduced in the
// fixed order c+1, c+2, ..., c, as ReduceScatterRing. (reduce_scatterv_ring.cc)
absl::Status ReduceScatterVRing(OpContext& ctx, const void* input, void* output,
                                absl::Span<const int64_t> offsets,
                                absl::Span<const int64_t> counts, runtime::DType dtype,
                                kernels::ReduceKind kind);

// Direct sends to the root: rank j's `chunk_bytes` of input land at output
// chunk j on `root` (output is written on root only and may hold the root's
// input at its chunk already, in place). (gather_scatter.cc)
absl::Status GatherDirect(OpContext& ctx, const void* input, void* output, size_t chunk_bytes,
                          int root);

// Direct sends from the root: chunk j of `root`'s input (read on root only)
// lands in rank j's output; the root's own chunk may alias its output.
// (gather_scatter.cc)
absl::Status ScatterDirect(OpContext& ctx, const void* input, void* output, size_t chunk_bytes,
                           int root);

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_VECTOR_ALGORITHMS_H_
