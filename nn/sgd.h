// SGD with momentum, dampening, Nesterov and coupled (L2) weight decay, as
// torch.optim.SGD.
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::Sgd> sgd,
//                          nn::Sgd::Create({.momentum = 0.9f, .weight_decay = 1e-4f}));
//   BRAID_RETURN_IF_ERROR(sgd->Step(nn::SlotsOf(model.NamedParameters()), lr));
//
// For each element of each slot, with g its gradient and p its value:
//   g   = g + weight_decay * p                  (only slots with weight_decay)
//   buf = g                                     (first step, momentum != 0)
//   buf = momentum * buf + (1 - dampening) * g  (later steps)
//   d   = nesterov ? g + momentum * buf : buf   (momentum != 0; else d = g)
//   p   = p - lr * d
// The per-element math is kernels/math/optimizer.h (SgdUpdate).
//
// State: "<slot>/momentum" (f32, the slot's shape) when momentum != 0, and
// "step" (i64, 0-d) always; see nn/optimizer.h and nn/optimizer_state.h for
// the slot rules, State and LoadState. Slots live on the CPU for now (a CUDA
// slot is kFailedPrecondition).
//
// Thread-safety: none. Errors: kInvalidArgument for bad options, a bad lr,
// or slots that break the slot rules; a failed Step changes nothing.
#ifndef BRAID_NN_SGD_H_
#define BRAID_NN_SGD_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "nn/optimizer.h"
#include "nn/optimizer_state.h"

namespace braid::nn {

struct SgdOptions {
  // Momentum factor; 0 disables the momentum buffer. REQUIRES: >= 0.
  float momentum = 0;
  // Dampening of the gradient's share in the momentum update. REQUIRES: >= 0.
  float dampening = 0;
  // Nesterov momentum. REQUIRES: momentum > 0 and dampening == 0.
  bool nesterov = false;
  // Coupled L2 weight decay added to the gradient of slots with
  // weight_decay = true. REQUIRES: >= 0.
  float weight_decay = 0;
};

class Sgd : public Optimizer {
 public:
  // kInvalidArgument for options outside their REQUIRES (non-finite included).
  static absl::StatusOr<std::unique_ptr<Sgd>> Create(const SgdOptions& options);

  // REQUIRES: lr finite and >= 0.
  absl::Status Step(absl::Span<const OptimizerSlot> slots, float lr) override;
  std::vector<NamedTensor> State() override;
  absl::Status LoadState(const std::vector<NamedTensor>& state) override;
  int64_t steps() const override { return steps_; }

  const SgdOptions& options() const { return options_; }

 private:
  explicit Sgd(const SgdOptions& options);

  SgdOptions options_;
  SlotStates states_;
  int64_t steps_ = 0;
};

}  // namespace braid::nn

#endif  // BRAID_NN_SGD_H_
