// Learning-rate schedules (nn/lr_schedule.h).
#include "nn/lr_schedule.h"

#include <cmath>
#include <numbers>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace braid::nn {

absl::StatusOr<std::unique_ptr<ConstantLr>> ConstantLr::Create(float lr) {
  if (!std::isfinite(lr) || lr < 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("ConstantLr::Create: lr ", lr, " must be finite and >= 0"));
  }
  return std::unique_ptr<ConstantLr>(new ConstantLr(lr));
}

absl::StatusOr<std::unique_ptr<WarmupCosine>> WarmupCosine::Create(
    const WarmupCosineOptions& options) {
  if (!std::isfinite(options.peak_lr) || options.peak_lr < 0.0f) {
    return absl::InvalidArgumentError(absl::StrCat("WarmupCosine::Create: peak_lr ",
                                                   options.peak_lr, " must be finite and >= 0"));
  }
  if (!(options.min_lr >= 0.0f && options.min_lr <= options.peak_lr)) {
    return absl::InvalidArgumentError(absl::StrCat("WarmupCosine::Create: min_lr ", options.min_lr,
                                                   " must be in [0, peak_lr = ", options.peak_lr,
                                                   "]"));
  }
  if (options.warmup_steps < 0 || options.total_steps <= options.warmup_steps) {
    return absl::InvalidArgumentError(absl::StrCat(
        "WarmupCosine::Create: need 0 <= warmup_steps < total_steps (got warmup_steps ",
        options.warmup_steps, ", total_steps ", options.total_steps,
        "); for warmup then a constant lr, set min_lr = peak_lr"));
  }
  return std::unique_ptr<WarmupCosine>(new WarmupCosine(options));
}

float WarmupCosine::At(int64_t step) const {
  const WarmupCosineOptions& o = options_;
  if (step < 0) step = 0;
  const double peak = o.peak_lr;
  const double floor = o.min_lr;
  if (step < o.warmup_steps) {
    return static_cast<float>(peak * static_cast<double>(step) /
                              static_cast<double>(o.warmup_steps));
  }
  if (step >= o.total_steps) return o.min_lr;
  const double progress = static_cast<double>(step - o.warmup_steps) /
                          static_cast<double>(o.total_steps - o.warmup_steps);
  return static_cast<float>(floor +
                            (peak - floor) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
}

}  // namespace braid::nn
