// Learning-rate schedules: the lr for a given step.
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::WarmupCosine> schedule,
//                          nn::WarmupCosine::Create({.peak_lr = 3e-4f, .min_lr = 3e-5f,
//                                                    .warmup_steps = 2000,
//                                                    .total_steps = 600000}));
//   BRAID_RETURN_IF_ERROR(optimizer->Step(slots, schedule->At(optimizer->steps())));
//
// `step` is the number of optimizer steps already taken (Optimizer::steps()),
// so the first update uses At(0). A schedule is a pure function of the step:
// after recovery or a checkpoint restore, At(restored steps) continues
// exactly where training stopped.
//
// Thread-safety: schedules are immutable after Create; At is thread-safe.
#ifndef BRAID_NN_LR_SCHEDULE_H_
#define BRAID_NN_LR_SCHEDULE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

namespace braid::nn {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  // The learning rate for the update after `step` completed steps. A negative
  // step is treated as 0.
  virtual float At(int64_t step) const = 0;
};

// The same lr at every step.
class ConstantLr : public LrSchedule {
 public:
  // kInvalidArgument unless lr is finite and >= 0.
  static absl::StatusOr<std::unique_ptr<ConstantLr>> Create(float lr);
  float At(int64_t step) const override { return lr_; }

 private:
  explicit ConstantLr(float lr) : lr_(lr) {}
  float lr_;
};

struct WarmupCosineOptions {
  // The lr at the end of warmup. REQUIRES: finite, >= 0.
  float peak_lr = 0;
  // The lr at and after total_steps. REQUIRES: 0 <= min_lr <= peak_lr.
  float min_lr = 0;
  // Steps of linear warmup from 0 to peak_lr. REQUIRES: >= 0.
  int64_t warmup_steps = 0;
  // Step at which the cosine reaches min_lr. REQUIRES: > warmup_steps.
  int64_t total_steps = 0;
};

// Linear warmup then cosine decay (the GPT-2/3, Llama recipe; the same curve
// as transformers.get_cosine_schedule_with_warmup with a floor):
//   step < warmup_steps:            peak_lr * step / warmup_steps   (At(0) = 0)
//   warmup_steps <= step < total:   min_lr + (peak_lr - min_lr) *
//                                   (1 + cos(pi * (step - warmup) / (total - warmup))) / 2
//   step >= total_steps:            min_lr
// Computed in double, rounded once to float. At(warmup_steps) == peak_lr.
class WarmupCosine : public LrSchedule {
 public:
  // kInvalidArgument for options outside their REQUIRES.
  static absl::StatusOr<std::unique_ptr<WarmupCosine>> Create(const WarmupCosineOptions& options);
  float At(int64_t step) const override;
  const WarmupCosineOptions& options() const { return options_; }

 private:
  explicit WarmupCosine(const WarmupCosineOptions& options) : options_(options) {}
  WarmupCosineOptions options_;
};

}  // namespace braid::nn

#endif  // BRAID_NN_LR_SCHEDULE_H_
