#include "data/sampler.h"

#include <numeric>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "runtime/philox.h"
#include "runtime/status_macros.h"

namespace braid::data {

// The permutation of the most recently used epoch. Steps move forward, so one
// entry is enough; a lookup of another epoch replaces it.
struct DistributedSampler::Cache {
  absl::Mutex mu;
  int64_t epoch ABSL_GUARDED_BY(mu) = -1;
  std::shared_ptr<const std::vector<int64_t>> order ABSL_GUARDED_BY(mu);
};

std::vector<int64_t> PhiloxPermutation(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  // Draw k (k = 0, 1, ...) picks the element for position i = n - 1 - k from
  // [0, i]: r = the 64-bit value of lanes 0 (low) and 1 (high) of counter k,
  // j = floor(r * (i + 1) / 2^64) (bias below 2^-32 for n < 2^32).
  for (int64_t k = 0; k + 1 < n; ++k) {
    const int64_t i = n - 1 - k;
    const runtime::PhiloxBlock block =
        runtime::PhiloxRandom(seed, stream, static_cast<uint64_t>(k));
    const uint64_t r = (static_cast<uint64_t>(block.v[1]) << 32) | block.v[0];
    const auto j = static_cast<int64_t>(
        absl::Uint128High64(absl::uint128(r) * absl::uint128(static_cast<uint64_t>(i + 1))));
    std::swap(order[i], order[j]);
  }
  return order;
}

DistributedSampler::DistributedSampler(const DistributedSamplerOptions& options,
                                       int64_t steps_per_epoch)
    : options_(options), steps_per_epoch_(steps_per_epoch), cache_(std::make_shared<Cache>()) {}

absl::StatusOr<DistributedSampler> DistributedSampler::Create(
    const DistributedSamplerOptions& options) {
  if (options.global_batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("DistributedSampler: global_batch_size is ",
                                                   options.global_batch_size, "; it must be >= 1"));
  }
  if (options.num_samples < options.global_batch_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DistributedSampler: num_samples (", options.num_samples,
        ") is smaller than global_batch_size (", options.global_batch_size,
        "), so an epoch has no full batch; use more data, a shorter context or a smaller "
        "global batch"));
  }
  return DistributedSampler(options, options.num_samples / options.global_batch_size);
}

std::shared_ptr<const std::vector<int64_t>> DistributedSampler::EpochOrder(int64_t epoch) const {
  {
    absl::MutexLock lock(&cache_->mu);
    if (cache_->epoch == epoch) return cache_->order;
  }
  // Built outside the lock: two threads may both build the same order, which
  // is harmless (the result is a pure function of the epoch).
  std::vector<int64_t> order;
  if (options_.shuffle) {
    order = PhiloxPermutation(options_.num_samples, options_.seed,
                              kSamplerStreamBase + static_cast<uint64_t>(epoch));
  } else {
    order.resize(static_cast<size_t>(options_.num_samples));
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  auto shared = std::make_shared<const std::vector<int64_t>>(std::move(order));
  absl::MutexLock lock(&cache_->mu);
  cache_->epoch = epoch;
  cache_->order = shared;
  return shared;
}

absl::StatusOr<std::vector<int64_t>> DistributedSampler::Permutation(int64_t epoch) const {
  if (epoch < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("DistributedSampler::Permutation: epoch is ", epoch, "; it must be >= 0"));
  }
  return *EpochOrder(epoch);
}

absl::StatusOr<std::vector<int64_t>> DistributedSampler::Indices(int64_t step, int rank,
                                                                 int world_size) const {
  const int64_t g = options_.global_batch_size;
  if (step < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("DistributedSampler::Indices: step is ", step, "; it must be >= 0"));
  }
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError(absl::StrCat("DistributedSampler::Indices: rank ", rank,
                                                   " of world size ", world_size,
                                                   " is not a valid rank"));
  }
  if (g % world_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DistributedSampler::Indices: world size ", world_size,
        " does not divide global_batch_size ", g,
        "; every rank must read the same number of samples: use a world size that divides it "
        "or change the global batch size"));
  }
  const int64_t epoch = epoch_of(step);
  const int64_t position = step % steps_per_epoch_;
  const int64_t per_rank = g / world_size;
  const int64_t begin = position * g + rank * per_rank;
  const std::shared_ptr<const std::vector<int64_t>> order = EpochOrder(epoch);
  return std::vector<int64_t>(order->begin() + begin, order->begin() + begin + per_rank);
}

absl::StatusOr<std::vector<int64_t>> DistributedSampler::GlobalBatch(int64_t step) const {
  return Indices(step, 0, 1);
}

}  // namespace braid::data
