#include "parallelism/bucket_plan.h"

#include <cstring>

namespace braid::parallelism {
namespace {

constexpr int64_t kAlignElements = 16;  // 64 bytes of f32

int64_t RoundUp(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

void CloseBucket(BucketPlan& bucket, int shards, BucketLayout& layout) {
  bucket.padded_numel = RoundUp(bucket.numel, shards);
  bucket.arena_offset = RoundUp(layout.arena_numel, kAlignElements);
  layout.arena_numel = bucket.arena_offset + bucket.padded_numel;
  layout.buckets.push_back(std::move(bucket));
  bucket = BucketPlan();
}

uint64_t Mix(uint64_t h, const void* data, size_t n) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= bytes[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

BucketLayout PlanBuckets(absl::Span<const int64_t> numels, size_t bucket_bytes, int shards) {
  BucketLayout layout;
  BucketPlan current;
  const int64_t cap = static_cast<int64_t>(bucket_bytes / sizeof(float));
  for (size_t i = 0; i < numels.size(); ++i) {
    if (!current.members.empty() && current.numel + numels[i] > cap) {
      CloseBucket(current, shards, layout);
    }
    current.members.push_back(static_cast<int>(i));
    current.offsets.push_back(current.numel);
    current.numel += numels[i];
  }
  if (!current.members.empty()) CloseBucket(current, shards, layout);
  return layout;
}

uint64_t ParameterFingerprint(absl::string_view name, absl::Span<const int64_t> shape,
                              int registrations) {
  uint64_t h = 0xcbf29ce484222325ull;
  const uint64_t name_size = name.size();
  h = Mix(h, &name_size, sizeof(name_size));
  h = Mix(h, name.data(), name.size());
  const uint64_t ndim = shape.size();
  h = Mix(h, &ndim, sizeof(ndim));
  for (int64_t d : shape) h = Mix(h, &d, sizeof(d));
  const int64_t r = registrations;
  h = Mix(h, &r, sizeof(r));
  return h;
}

}  // namespace braid::parallelism
