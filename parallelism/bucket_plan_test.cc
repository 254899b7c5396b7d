#include "parallelism/bucket_plan.h"

#include <vector>

#include "gtest/gtest.h"

namespace braid::parallelism {
namespace {

TEST(PlanBucketsTest, PacksGreedilyAndPadsToShards) {
  // 40-byte buckets = 10 elements; shards = 3.
  const std::vector<int64_t> numels = {4, 4, 4, 25, 1, 0};
  BucketLayout layout = PlanBuckets(numels, 40, 3);
  ASSERT_EQ(layout.buckets.size(), 4u);
  EXPECT_EQ(layout.buckets[0].members, (std::vector<int>{0, 1}));
  EXPECT_EQ(layout.buckets[0].offsets, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(layout.buckets[0].numel, 8);
  EXPECT_EQ(layout.buckets[0].padded_numel, 9);
  EXPECT_EQ(layout.buckets[0].arena_offset, 0);
  // 4 + 25 > 10 closes the bucket: the big one gets its own.
  EXPECT_EQ(layout.buckets[1].members, (std::vector<int>{2}));
  EXPECT_EQ(layout.buckets[1].arena_offset, 16);  // 64-byte aligned
  EXPECT_EQ(layout.buckets[2].members, (std::vector<int>{3}));
  EXPECT_EQ(layout.buckets[2].numel, 25);
  EXPECT_EQ(layout.buckets[2].padded_numel, 27);
  EXPECT_EQ(layout.buckets[2].shard_numel(3), 9);
  // 25 + 1 > 10: the small ones start a new bucket (a 0-element one joins).
  EXPECT_EQ(layout.buckets[3].members, (std::vector<int>{4, 5}));
  EXPECT_EQ(layout.buckets[3].padded_numel, 3);
  EXPECT_EQ(layout.arena_numel, layout.buckets.back().arena_offset + layout.buckets.back().padded_numel);
}

TEST(PlanBucketsTest, EmptyAndSingleShard) {
  EXPECT_TRUE(PlanBuckets({}, 100, 4).buckets.empty());
  BucketLayout one = PlanBuckets(std::vector<int64_t>{3, 5}, 1 << 20, 1);
  ASSERT_EQ(one.buckets.size(), 1u);
  EXPECT_EQ(one.buckets[0].padded_numel, 8);
}

TEST(ParameterFingerprintTest, DependsOnNameShapeAndRegistrations) {
  const uint64_t a = ParameterFingerprint("w", std::vector<int64_t>{2, 3}, 1);
  EXPECT_EQ(a, ParameterFingerprint("w", std::vector<int64_t>{2, 3}, 1));
  EXPECT_NE(a, ParameterFingerprint("v", std::vector<int64_t>{2, 3}, 1));
  EXPECT_NE(a, ParameterFingerprint("w", std::vector<int64_t>{3, 2}, 1));
  EXPECT_NE(a, ParameterFingerprint("w", std::vector<int64_t>{6}, 1));
  EXPECT_NE(a, ParameterFingerprint("w", std::vector<int64_t>{2, 3}, 2));
}

}  // namespace
}  // namespace braid::parallelism
