// Optimizer: updates parameter values from their gradients.
//
//   nn::AdamW adam({.beta1 = 0.9, .beta2 = 0.95, .weight_decay = 0.1});
//   std::vector<nn::OptimizerSlot> slots = nn::SlotsOf(model.NamedParameters());
//   float norm = ...;                                      // nn/grad_norm.h
//   BRAID_RETURN_IF_ERROR(adam.Step(slots, schedule.At(step)));
//
// An optimizer works on slots: named (value, grad) pairs of f32 tensors. A
// slot is usually one whole parameter, but may be any elementwise piece of
// one -- ZeRO (parallelism/data_parallel.h) hands each rank the slots of its
// shard of a flat bucket. The update is elementwise, so the result does not
// depend on how parameters are cut into slots.
//
// State (momentum, Adam moments) is created at the first Step of a slot name,
// with that slot's shape, and exposed as named tensors "<slot>/<state>" (plus
// "step") for checkpoints. The slot names and shapes must stay the same from
// step to step; a change is kInvalidArgument (rebuild the optimizer, or
// reshard its State, when the sharding changes).
//
// Thread-safety: none.
#ifndef BRAID_NN_OPTIMIZER_H_
#define BRAID_NN_OPTIMIZER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "nn/parameter.h"
#include "runtime/tensor.h"

namespace braid::nn {

struct OptimizerSlot {
  std::string name;
  runtime::Tensor value;  // f32, updated in place
  runtime::Tensor grad;   // f32, same shape; read only
  bool weight_decay = true;
};

// One slot per parameter, with the parameter's name, master value and grad.
std::vector<OptimizerSlot> SlotsOf(const std::vector<NamedParameter>& parameters);

struct NamedTensor {
  std::string name;
  runtime::Tensor tensor;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // One update of every slot with learning rate `lr`.
  virtual absl::Status Step(absl::Span<const OptimizerSlot> slots, float lr) = 0;

  // The optimizer's state as named tensors (views of the live state: copying
  // them out is a snapshot) and restoring from such a list. LoadState
  // requires exactly the names and shapes State() would give for the same
  // slots (kInvalidArgument naming the first mismatch otherwise).
  virtual std::vector<NamedTensor> State() = 0;
  virtual absl::Status LoadState(const std::vector<NamedTensor>& state) = 0;

  // Number of completed Steps.
  virtual int64_t steps() const = 0;
};

}  // namespace braid::nn

#endif  // BRAID_NN_OPTIMIZER_H_
