// Shared pieces of the data-parallel multi-rank tests: a rank's tcp
// communicator over the parent's test store, and one training step.
#ifndef BRAID_PARALLELISM_TESTING_DP_TEST_UTIL_H_
#define BRAID_PARALLELISM_TESTING_DP_TEST_UTIL_H_

#include <functional>
#include <memory>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nn/context.h"
#include "parallelism/data_parallel.h"
#include "parallelism/testing/dp_test_model.h"

namespace braid::parallelism::testing {

inline const absl::Duration kWait = absl::Seconds(60);

// A TestModel initialised from `seed` (the same values on every rank).
inline std::unique_ptr<TestModel> NewModel(const TestModelOptions& options = {},
                                           uint64_t seed = 42) {
  auto model = TestModel::Create(options);
  EXPECT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->Initialize(seed).ok());
  return std::move(*model);
}

// Mean gradient over global microbatches [first, first + n) by one plain model.
inline std::map<std::string, std::vector<float>> ReferenceMean(const TestModelOptions& options,
                                                               int64_t first, int n) {
  std::unique_ptr<TestModel> ref = NewModel(options);
  for (int g = 0; g < n; ++g) {
    nn::Context ctx;
    EXPECT_TRUE(ref->TrainMicrobatch(ctx, MicrobatchInput(first + g, options.features),
                                     MicrobatchTarget(first + g, options.features))
                    .ok());
  }
  auto grads = Grads(ref->NamedParameters());
  for (auto& [name, g] : grads) {
    for (float& x : g) x /= static_cast<float>(n);
  }
  return grads;
}

// Every tensor of `want` is in `got` with the same values within a relative
// tolerance.
inline void ExpectNear(const std::map<std::string, std::vector<float>>& got,
                       const std::map<std::string, std::vector<float>>& want, float tol) {
  for (const auto& [name, w] : want) {
    ASSERT_TRUE(got.count(name)) << name;
    const std::vector<float>& g = got.at(name);
    ASSERT_EQ(g.size(), w.size()) << name;
    for (size_t i = 0; i < w.size(); ++i) {
      EXPECT_NEAR(g[i], w[i], tol * (1.0f + std::abs(w[i]))) << name << "[" << i << "]";
    }
  }
}

// Runs microbatches 0..count-1 of one step through `dp` on `model`; rank
// `group_rank` of a group trains on global microbatches
// first_global + group_rank * count + mb. `after_layer(mb, layer)` runs after
// each layer's backward.
inline absl::Status RunMicrobatches(
    DataParallel& dp, TestModel& model, int64_t features, int64_t first_global, int group_rank,
    int count, const std::function<void(int mb, int layer)>& after_layer = nullptr) {
  for (int mb = 0; mb < count; ++mb) {
    absl::StatusOr<nn::GradientHook*> hook = dp.BeginMicrobatch(mb, count);
    if (!hook.ok()) return hook.status();
    nn::Context ctx({.gradient_hook = *hook});
    const int64_t g = first_global + static_cast<int64_t>(group_rank) * count + mb;
    absl::Status s = model.TrainMicrobatch(
        ctx, MicrobatchInput(g, features), MicrobatchTarget(g, features), [&](int layer) {
          if (after_layer) after_layer(mb, layer);
        });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace braid::parallelism::testing

#endif  // BRAID_PARALLELISM_TESTING_DP_TEST_UTIL_H_
