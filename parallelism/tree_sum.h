// Fixed-order summation for deterministic data parallelism.
//
// One tree, used everywhere: the sum of n leaves in order is
//   Sum(leaves[0, n)) = Sum(first h leaves) + Sum(the other n - h),
// with h the largest power of two below n (a single leaf is itself). For
// n = 4 that is (l0 + l1) + (l2 + l3); for n = 6, ((l0+l1)+(l2+l3)) +
// (l4+l5). When every rank holds a contiguous, power-of-two block of the
// global microbatches, the tree over all of them splits exactly at rank
// boundaries, so summing each rank's block and then the ranks' partials with
// the same rule gives bit-identical results for every data-parallel size
// (docs/data_parallel.md, docs/DECISIONS.md "Deterministic mode"). f32
// addition is commutative, so only the grouping matters, not which operand
// is written to.
//
//   TreeAccumulator acc(numel, device);
//   Tensor current = ...zeroed...;
//   for (int mb = 0; mb < n; ++mb) {
//     if (mb > 0) BRAID_ASSIGN_OR_RETURN(current, acc.Push(current));   // a zeroed buffer
//     ... accumulate microbatch mb's gradient into current ...
//   }
//   BRAID_RETURN_IF_ERROR(acc.FoldInto(current, 0, numel));  // current = tree sum
//
// Thread-safety: none (one thread drives it). Errors: kResourceExhausted when
// a buffer cannot be allocated; kernel errors otherwise.
#ifndef BRAID_PARALLELISM_TREE_SUM_H_
#define BRAID_PARALLELISM_TREE_SUM_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/device.h"
#include "runtime/tensor.h"

namespace braid::parallelism {

// Sums the `n` consecutive chunks of `chunk` elements at the start of
// `buffer` (contiguous f32) along the tree above; the result lands in chunk
// 0 and the other chunks are clobbered. REQUIRES: n >= 1, buffer.numel() >=
// n * chunk.
absl::Status TreeSumChunks(const runtime::Tensor& buffer, int n, int64_t chunk);

// A binary counter of partial sums: level l holds the sum of a complete
// block of 2^l leaves. Buffers are f32 [numel] and recycled between steps.
class TreeAccumulator {
 public:
  TreeAccumulator(int64_t numel, runtime::Device device) : numel_(numel), device_(device) {}

  // Adds the finished leaf `leaf` (its handle is taken over; merging writes
  // into buffers this object owns) and returns a zeroed buffer for the next
  // leaf. REQUIRES: leaf is f32 [numel] and not referenced by a pending
  // collective.
  absl::StatusOr<runtime::Tensor> Push(const runtime::Tensor& leaf);

  // Adds every held partial, in tree order, into elements [begin, end) of
  // `last`, the final leaf: afterwards that range of `last` holds the tree
  // sum of all leaves. May be called for disjoint ranges one at a time (each
  // bucket when it is ready).
  absl::Status FoldInto(const runtime::Tensor& last, int64_t begin, int64_t end) const;

  // Forgets the partials; their buffers go back to the pool for the next
  // step. Buffers handed out by Push belong to the caller.
  void Reset();

  // Buffers allocated so far (levels in use plus the free pool).
  int buffers_allocated() const { return allocated_; }

 private:
  absl::StatusOr<runtime::Tensor> ZeroedBuffer();

  int64_t numel_;
  runtime::Device device_;
  // levels_[l] holds a partial when occupied_[l] (a stale handle otherwise,
  // whose buffer is in the pool or another level).
  std::vector<runtime::Tensor> levels_;
  std::vector<bool> occupied_;
  std::vector<runtime::Tensor> pool_;
  int allocated_ = 0;
};

}  // namespace braid::parallelism

#endif  // BRAID_PARALLELISM_TREE_SUM_H_
