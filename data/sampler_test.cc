#include "data/sampler.h"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"

namespace braid::data {
namespace {

DistributedSampler MakeSampler(int64_t n, int64_t g, uint64_t seed = 7, bool shuffle = true) {
  absl::StatusOr<DistributedSampler> sampler = DistributedSampler::Create(
      {.num_samples = n, .global_batch_size = g, .seed = seed, .shuffle = shuffle});
  EXPECT_TRUE(sampler.ok()) << sampler.status();
  return *std::move(sampler);
}

bool IsPermutation(std::vector<int64_t> v, int64_t n) {
  if (static_cast<int64_t>(v.size()) != n) return false;
  std::sort(v.begin(), v.end());
  for (int64_t i = 0; i < n; ++i) {
    if (v[i] != i) return false;
  }
  return true;
}

TEST(DistributedSamplerTest, OptionsAreValidated) {
  EXPECT_EQ(DistributedSampler::Create({.num_samples = 10, .global_batch_size = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DistributedSampler::Create({.num_samples = 3, .global_batch_size = 4}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(DistributedSampler::Create({.num_samples = 4, .global_batch_size = 4}).ok());
}

TEST(DistributedSamplerTest, StepsPerEpochDropsPartialBatch) {
  const DistributedSampler sampler = MakeSampler(103, 10);
  EXPECT_EQ(sampler.steps_per_epoch(), 10);
  EXPECT_EQ(sampler.epoch_of(0), 0);
  EXPECT_EQ(sampler.epoch_of(9), 0);
  EXPECT_EQ(sampler.epoch_of(10), 1);
  EXPECT_EQ(sampler.epoch_of(35), 3);
}

TEST(DistributedSamplerTest, PermutationIsValidForManySizes) {
  for (int64_t n : {1, 2, 3, 7, 64, 1000, 4097}) {
    for (uint64_t stream : {uint64_t{0}, uint64_t{1}, kSamplerStreamBase + 5}) {
      EXPECT_TRUE(IsPermutation(PhiloxPermutation(n, 42, stream), n)) << n << " " << stream;
    }
  }
  EXPECT_TRUE(PhiloxPermutation(0, 1, 1).empty());
}

TEST(DistributedSamplerTest, PermutationKnownAnswer) {
  // Pins the exact shuffle (docs/data.md): changing it would change the data
  // order of runs resumed from a checkpoint.
  // Values from an independent implementation of Philox4x32-10 and the
  // shuffle described in docs/data.md.
  EXPECT_EQ(PhiloxPermutation(10, 0, 0), (std::vector<int64_t>{6, 1, 5, 9, 0, 4, 7, 2, 3, 8}));
  // Epoch 3 of seed 7 uses stream kSamplerStreamBase + 3.
  const DistributedSampler sampler = MakeSampler(10, 2, 7);
  EXPECT_EQ(*sampler.Permutation(3), (std::vector<int64_t>{5, 6, 9, 3, 4, 7, 2, 8, 0, 1}));
  EXPECT_EQ(*sampler.GlobalBatch(3 * 5 + 1), (std::vector<int64_t>{9, 3}));
}

TEST(DistributedSamplerTest, DeterministicAcrossInstances) {
  const DistributedSampler a = MakeSampler(1000, 32, 123);
  const DistributedSampler b = MakeSampler(1000, 32, 123);
  for (int64_t step : {0, 1, 30, 31, 32, 500}) {
    absl::StatusOr<std::vector<int64_t>> x = a.Indices(step, 1, 4);
    absl::StatusOr<std::vector<int64_t>> y = b.Indices(step, 1, 4);
    ASSERT_TRUE(x.ok() && y.ok());
    EXPECT_EQ(*x, *y) << "step " << step;
  }
  // Asking in a different order (cache misses) gives the same answers.
  absl::StatusOr<std::vector<int64_t>> late = a.GlobalBatch(500);
  absl::StatusOr<std::vector<int64_t>> early = a.GlobalBatch(3);
  absl::StatusOr<std::vector<int64_t>> late_again = a.GlobalBatch(500);
  absl::StatusOr<std::vector<int64_t>> early_fresh = b.GlobalBatch(3);
  ASSERT_TRUE(late.ok() && early.ok() && late_again.ok() && early_fresh.ok());
  EXPECT_EQ(*late, *late_again);
  EXPECT_EQ(*early, *early_fresh);
}

TEST(DistributedSamplerTest, EpochCoversDistinctSamplesInPermutationOrder) {
  const DistributedSampler sampler = MakeSampler(103, 10);
  absl::StatusOr<std::vector<int64_t>> perm = sampler.Permutation(2);
  ASSERT_TRUE(perm.ok());
  EXPECT_TRUE(IsPermutation(*perm, 103));
  std::vector<int64_t> seen;
  for (int64_t s = 20; s < 30; ++s) {  // epoch 2
    absl::StatusOr<std::vector<int64_t>> batch = sampler.GlobalBatch(s);
    ASSERT_TRUE(batch.ok());
    ASSERT_EQ(batch->size(), 10u);
    seen.insert(seen.end(), batch->begin(), batch->end());
  }
  EXPECT_EQ(seen, std::vector<int64_t>(perm->begin(), perm->begin() + 100));
  absl::flat_hash_set<int64_t> distinct(seen.begin(), seen.end());
  EXPECT_EQ(distinct.size(), 100u);
}

TEST(DistributedSamplerTest, ReshardKeepsGlobalBatchAndOrder) {
  const DistributedSampler sampler = MakeSampler(5000, 48, 99);
  for (int64_t step : {0, 1, 2, 103, 104, 105, 311}) {
    absl::StatusOr<std::vector<int64_t>> global = sampler.Indices(step, 0, 1);
    ASSERT_TRUE(global.ok());
    ASSERT_EQ(global->size(), 48u);
    for (int world : {2, 3, 4, 6, 8, 16}) {
      std::vector<int64_t> joined;
      for (int rank = 0; rank < world; ++rank) {
        absl::StatusOr<std::vector<int64_t>> mine = sampler.Indices(step, rank, world);
        ASSERT_TRUE(mine.ok()) << mine.status();
        EXPECT_EQ(static_cast<int>(mine->size()), 48 / world);
        joined.insert(joined.end(), mine->begin(), mine->end());
      }
      EXPECT_EQ(joined, *global) << "step " << step << " world " << world;
    }
  }
}

TEST(DistributedSamplerTest, EpochsAndSeedsDiffer) {
  const DistributedSampler sampler = MakeSampler(1000, 100, 5);
  absl::StatusOr<std::vector<int64_t>> e0 = sampler.Permutation(0);
  absl::StatusOr<std::vector<int64_t>> e1 = sampler.Permutation(1);
  ASSERT_TRUE(e0.ok() && e1.ok());
  EXPECT_NE(*e0, *e1);
  // Step 0 and step S read the first batch of different epochs.
  EXPECT_NE(*sampler.GlobalBatch(0), *sampler.GlobalBatch(sampler.steps_per_epoch()));
  const DistributedSampler other_seed = MakeSampler(1000, 100, 6);
  EXPECT_NE(*e0, *other_seed.Permutation(0));
  // A shuffle is not the identity (1000! orders: probability ~0 of a match).
  std::vector<int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), int64_t{0});
  EXPECT_NE(*e0, identity);
  // Roughly uniform: the first element over 4000 epochs of n = 4 hits each
  // value about 1000 times.
  const DistributedSampler small = MakeSampler(4, 4, 11);
  std::vector<int> first_count(4, 0);
  for (int64_t epoch = 0; epoch < 4000; ++epoch) ++first_count[(*small.Permutation(epoch))[0]];
  for (int v = 0; v < 4; ++v) {
    EXPECT_GT(first_count[v], 850) << v;
    EXPECT_LT(first_count[v], 1150) << v;
  }
}

TEST(DistributedSamplerTest, NoShuffleReadsInOrder) {
  const DistributedSampler sampler = MakeSampler(25, 4, 3, /*shuffle=*/false);
  EXPECT_EQ(sampler.steps_per_epoch(), 6);
  EXPECT_EQ(*sampler.GlobalBatch(1), (std::vector<int64_t>{4, 5, 6, 7}));
  EXPECT_EQ(*sampler.Indices(7, 1, 2), (std::vector<int64_t>{6, 7}));  // epoch 1, position 1
}

TEST(DistributedSamplerTest, BadArgumentsAreInvalidArgument) {
  const DistributedSampler sampler = MakeSampler(100, 12);
  EXPECT_EQ(sampler.Indices(-1, 0, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sampler.Indices(0, 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sampler.Indices(0, 2, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sampler.Indices(0, -1, 2).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<int64_t>> five = sampler.Indices(0, 0, 5);
  EXPECT_EQ(five.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(five.status().message().find("does not divide"), absl::string_view::npos)
      << five.status();
  EXPECT_EQ(sampler.Permutation(-1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DistributedSamplerTest, ConcurrentCallersAgree) {
  const DistributedSampler sampler = MakeSampler(2000, 40, 17);
  std::vector<std::vector<int64_t>> results(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&sampler, &results, t] {
      // Each thread walks epochs in a different order, so the cache churns.
      for (int64_t k = 0; k < 200; ++k) {
        const int64_t step = ((k * (t + 1)) % 200) * 7;
        absl::StatusOr<std::vector<int64_t>> batch = sampler.Indices(step, t, 4);
        if (batch.ok() && step == 0) results[t] = *batch;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::vector<int64_t> joined;
  for (const auto& r : results) joined.insert(joined.end(), r.begin(), r.end());
  EXPECT_EQ(joined, *sampler.GlobalBatch(0));
}

}  // namespace
}  // namespace braid::data
