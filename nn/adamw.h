// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled
// Weight Decay Regularization"), as torch.optim.AdamW (amsgrad off).
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::AdamW> adam,
//                          nn::AdamW::Create({.beta2 = 0.95f, .weight_decay = 0.1f}));
//   BRAID_RETURN_IF_ERROR(adam->Step(slots, schedule.At(adam->steps())));
//
// Step t (1 for the first Step), for each element with gradient g and value p:
//   p = p * (1 - lr * weight_decay)             (only slots with weight_decay)
//   m = beta1 * m + (1 - beta1) * g             (as torch's lerp)
//   v = beta2 * v + (1 - beta2) * g * g
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The bias corrections are computed once per step in double; the per-element
// math is kernels/math/optimizer.h (AdamWUpdate), in f32. The weight decay is
// scaled by lr (torch's convention), so a schedule decays it with the lr.
//
// State: "<slot>/exp_avg" and "<slot>/exp_avg_sq" (f32, the slot's shape) and
// "step" (i64, 0-d: t of the last Step); see nn/optimizer.h and
// nn/optimizer_state.h for the slot rules, State and LoadState. An update
// depends on each element alone, so cutting a parameter into several slots
// (ZeRO) gives bit-identical values. Slots live on the CPU for now: a CUDA
// slot is kFailedPrecondition (the math header is ready for a CUDA kernel).
//
// Thread-safety: none. Errors: kInvalidArgument for bad options, a bad lr,
// or slots that break the slot rules; a failed Step changes nothing.
#ifndef BRAID_NN_ADAMW_H_
#define BRAID_NN_ADAMW_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "nn/optimizer.h"
#include "nn/optimizer_state.h"

namespace braid::nn {

struct AdamWOptions {
  // Decay of the first moment. REQUIRES: 0 <= beta1 < 1.
  float beta1 = 0.9f;
  // Decay of the second moment. REQUIRES: 0 <= beta2 < 1.
  float beta2 = 0.999f;
  // Added to the denominator. REQUIRES: finite, >= 0 (0 lets a zero gradient
  // on a fresh element give 0/0 = NaN, as in torch).
  float eps = 1e-8f;
  // Decoupled weight decay (multiplied by lr), for slots with weight_decay.
  // REQUIRES: finite, >= 0.
  float weight_decay = 0.01f;
};

class AdamW : public Optimizer {
 public:
  // kInvalidArgument for options outside their REQUIRES.
  static absl::StatusOr<std::unique_ptr<AdamW>> Create(const AdamWOptions& options);

  // REQUIRES: lr finite and >= 0.
  absl::Status Step(absl::Span<const OptimizerSlot> slots, float lr) override;
  std::vector<NamedTensor> State() override;
  absl::Status LoadState(const std::vector<NamedTensor>& state) override;
  int64_t steps() const override { return steps_; }

  const AdamWOptions& options() const { return options_; }

 private:
  explicit AdamW(const AdamWOptions& options);

  AdamWOptions options_;
  SlotStates states_;
  int64_t steps_ = 0;
};

}  // namespace braid::nn

#endif  // BRAID_NN_ADAMW_H_
