// The tcp backend's collective algorithms, one per file, each sequential code
// over OpContext's primitives, run on the communicator's executor thread.
//
// All of them are deterministic: the reduction order depends only on the
// group size and the counts, never on arrival order, so results are
// identical across runs; every rank ends with the same bits (each element is
// reduced once, at one rank, and copied to the others; where two ranks both
// reduce, as in recursive doubling, they combine in rank order).
//
// Counts are elements of `dtype` (the type reduced in: callers turn f16/bf16
// into f32 first); "bytes" arguments are plain byte ranges. Buffers are host
// memory. Each returns the first error (see OpContext).
#ifndef BRAID_COLLECTIVES_TCP_ALGORITHMS_H_
#define BRAID_COLLECTIVES_TCP_ALGORITHMS_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "collectives/tcp/op_context.h"
#include "kernels/reduce.h"
#include "runtime/dtype.h"

namespace braid::collectives::tcp {

// In place on `data` (count elements): reduce-scatter then all-gather around
// the ring, each chunk pipelined in segments of ctx.segment_bytes(). Moves
// 2 (n-1)/n of the data per rank: the large-message algorithm.
// (allreduce_ring.cc)
absl::Status AllReduceRing(OpContext& ctx, void* data, int64_t count, runtime::DType dtype,
                           kernels::ReduceKind kind);

// In place on `data`: log2(n) full-buffer exchanges (non-powers of two fold
// the extra ranks in first). Few rounds: the small-message algorithm.
// (allreduce_recursive_doubling.cc)
absl::Status AllReduceRecursiveDoubling(OpContext& ctx, void* data, int64_t count,
                                        runtime::DType dtype, kernels::ReduceKind kind);

// `output` = the reduction of every rank's `input` (count elements each;
// input == output in place, else no overlap), by cross-memory attach: the
// ranks exchange buffer addresses over the direct channel; rank g reduces
// chunk g by reading every peer's input piece straight from the peer's
// memory (process_vm_readv) in cache-sized pieces, announcing each group of
// pieces as it finishes, and the peers copy every announced group from its
// output while it is still in the shared cache; a last notice lets the
// peers release their buffers. A process only reads other processes'
// memory, never writes it, so one that gives up on the operation (error,
// timeout, Abort) may reuse its buffers at once. Out of place the input is
// never copied whole. REQUIRES: ctx.cma(). (cma.cc)
absl::Status AllReduceCma(OpContext& ctx, const void* input, void* output, int64_t count,
                          runtime::DType dtype, kernels::ReduceKind kind);

// `input` holds size() chunks of `chunk_count` elements (not modified);
// `output` (chunk_count elements) receives the reduction of chunk rank().
// (reduce_scatter_ring.cc)
absl::Status ReduceScatterRing(OpContext& ctx, const void* input, void* output,
                               int64_t chunk_count, runtime::DType dtype,
                               kernels::ReduceKind kind);

// `output` (size() * chunk_bytes) receives every rank's `input` in rank order.
// `input` may alias output's chunk rank(). (allgather_ring.cc)
absl::Status AllGatherRing(OpContext& ctx, const void* input, void* output, size_t chunk_bytes);

// Binomial tree from `root`, pipelined in segments. (broadcast_tree.cc)
absl::Status BroadcastTree(OpContext& ctx, void* data, size_t bytes, int root);

// AllGatherRing's contract by cross-memory attach: the ranks exchange input
// addresses over the direct channel and each copies every peer's input
// straight into its output; a last notice lets the peers release their
// inputs. REQUIRES: ctx.cma(). (cma.cc)
absl::Status AllGatherCma(OpContext& ctx, const void* input, void* output, size_t chunk_bytes);

// BroadcastTree's contract by cross-memory attach: the root sends its
// buffer's address, every other rank copies the buffer straight from the
// root's memory and tells the root, which returns once all have. REQUIRES:
// ctx.cma(). (cma.cc)
absl::Status BroadcastCma(OpContext& ctx, void* data, size_t bytes, int root);

// Binomial tree to `root`; `output` is written on root only. (reduce_tree.cc)
absl::Status ReduceTree(OpContext& ctx, const void* input, void* output, int64_t count,
                        runtime::DType dtype, kernels::ReduceKind kind, int root);

// Rank i's bytes [send_offsets[j], + send_bytes[j]) go to rank j's
// [recv_offsets[i], + recv_bytes[i]); n-1 pairwise exchange rounds.
// (alltoall_pairwise.cc)
absl::Status AllToAllPairwise(OpContext& ctx, const void* input,
                              absl::Span<const size_t> send_offsets,
                              absl::Span<const size_t> send_bytes, void* output,
                              absl::Span<const size_t> recv_offsets,
                              absl::Span<const size_t> recv_bytes);

// AllToAllPairwise's contract by cross-memory attach: every rank sends each
// peer the address of that peer's block of its input over the direct
// channel, copies every peer's block for it straight from the peer's input,
// and a last notice lets the peers release their inputs. `input` must not
// overlap `output`. REQUIRES: ctx.cma(). (cma.cc)
absl::Status AllToAllCma(OpContext& ctx, const void* input, absl::Span<const size_t> send_offsets,
                         absl::Span<const size_t> send_bytes, void* output,
                         absl::Span<const size_t> recv_offsets,
                         absl::Span<const size_t> recv_bytes);

// Dissemination barrier: ceil(log2 n) rounds of empty messages.
// (barrier_dissemination.cc)
absl::Status BarrierDissemination(OpContext& ctx);

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_ALGORITHMS_H_
