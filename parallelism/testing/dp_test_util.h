// Shared pieces of the data-parallel multi-rank tests: a rank's tcp
// communicator over the parent's test store, and one training step.
#ifndef BRAID_PARALLELISM_TESTING_DP_TEST_UTIL_H_
#define BRAID_PARALLELISM_TESTING_DP_TEST_UTIL_H_

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nn/context.h"
#include "parallelism/data_parallel.h"
#include "parallelism/testing/dp_test_model.h"

namespace braid::parallelism::testing {

inline const absl::Duration kWait = absl::Seconds(60);

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
