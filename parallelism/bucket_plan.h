// Bucket planning for data parallelism: which parameters share a flat
// gradient buffer, where each one sits in it, and how a bucket is cut into
// per-rank shards. Pure arithmetic, no tensors, so it is tested on its own.
//
//   BucketLayout layout = PlanBuckets(numels_in_backward_order, 25 << 20, dp_size);
//   for (const BucketPlan& b : layout.buckets) { ... b.arena_offset ... }
//
// Parameters are taken in the order given (DataParallel passes them in
// reverse registration order, the order the backward produces gradients) and
// packed greedily: a bucket is closed when the next parameter would take it
// past `bucket_bytes`; a parameter larger than that gets a bucket of its own.
// Each bucket is padded to a multiple of `shards` elements so it cuts into
// equal shards (ReduceScatter, AllGather and AllToAll need equal chunks); the
// padding stays zero. Buckets lie one after another in one flat arena, each
// starting on a 64-byte boundary (16 f32 elements).
//
// Thread-safety: pure functions.
#ifndef BRAID_PARALLELISM_BUCKET_PLAN_H_
#define BRAID_PARALLELISM_BUCKET_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace braid::parallelism {

struct BucketPlan {
  // Indices into the list given to PlanBuckets, in packing order.
  std::vector<int> members;
  // Element offset of each member inside the bucket (parallel to members).
  std::vector<int64_t> offsets;
  int64_t numel = 0;         // elements of the members together
  int64_t padded_numel = 0;  // numel rounded up to a multiple of shards
  int64_t arena_offset = 0;  // first element of the bucket in the arena

  // Shard `shard` of `shards`: elements [shard_begin, shard_end) of the
  // padded bucket.
  int64_t shard_numel(int shards) const { return padded_numel / shards; }
};

struct BucketLayout {
  std::vector<BucketPlan> buckets;
  int64_t arena_numel = 0;  // elements of the arena holding every bucket
};

// REQUIRES: bucket_bytes > 0, shards >= 1, every numel >= 0. Elements are
// 4-byte f32.
BucketLayout PlanBuckets(absl::Span<const int64_t> numels, size_t bucket_bytes, int shards);

// A stable 64-bit fingerprint (FNV-1a) of a parameter's name, shape and the
// number of times it is registered, for the cross-rank check.
uint64_t ParameterFingerprint(absl::string_view name, absl::Span<const int64_t> shape,
                              int registrations);

}  // namespace braid::parallelism

#endif  // BRAID_PARALLELISM_BUCKET_PLAN_H_
