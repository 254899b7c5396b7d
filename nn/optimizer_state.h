// SlotStates: the per-slot state tensors of an elementwise optimizer (SGD's
// momentum, AdamW's moments), keyed by slot name, with the checks and the
// State/LoadState round trip that nn/optimizer.h promises. Shared by nn/sgd.cc
// and nn/adamw.cc; an optimizer owns one SlotStates and its step counter.
//
//   SlotStates states("AdamW", {"exp_avg", "exp_avg_sq"});
//   BRAID_ASSIGN_OR_RETURN(auto per_slot, states.Prepare(slots));
//   // per_slot[i][k] is state `k` ("exp_avg", ...) of slots[i]
//
// Rules (the optimizer contract):
// - A slot is a named f32 (value, grad) pair of one shape, both defined,
//   contiguous and on the CPU (no CUDA optimizer kernel yet: a CUDA slot is
//   kFailedPrecondition). Slot names are unique within a step.
// - The first Prepare fixes the slot set: it allocates zeroed f32 state of
//   each slot's shape. Every later Prepare must pass exactly the same names
//   and shapes, in any order; a difference is kInvalidArgument naming it.
// - State() lists "<slot>/<suffix>" for every slot (first-step order) and
//   suffix, then "step" (an i64 0-d tensor holding the step count). With no
//   suffixes (SGD without momentum) it is just "step".
// - LoadState copies a list of that form into freshly owned tensors. On an
//   optimizer that already has state the names and shapes must match
//   exactly; on a fresh one they define the slot set (checked at the next
//   Prepare). The caller's tensors are never aliased.
// Every failing call leaves the state as it was.
//
// Thread-safety: none (one optimizer, one thread).
#ifndef BRAID_NN_OPTIMIZER_STATE_H_
#define BRAID_NN_OPTIMIZER_STATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "nn/optimizer.h"
#include "runtime/tensor.h"

namespace braid::nn {

class SlotStates {
 public:
  // `optimizer` names the caller in messages; `suffixes` are the state names
  // each slot gets (may be empty).
  SlotStates(std::string optimizer, std::vector<std::string> suffixes);

  // Validates `slots` (see the rules above), allocating state on the first
  // call. Returns, for each slot in `slots` order, its state tensors in
  // suffix order (handles onto the live state).
  absl::StatusOr<std::vector<absl::Span<const runtime::Tensor>>> Prepare(
      absl::Span<const OptimizerSlot> slots);

  // Views of the live state, then "step" holding `steps`.
  std::vector<NamedTensor> State(int64_t steps) const;

  // Restores state saved by State(); sets *steps from "step".
  absl::Status LoadState(const std::vector<NamedTensor>& state, int64_t* steps);

 private:
  struct Entry {
    std::string name;
    runtime::Shape shape;
    std::vector<runtime::Tensor> tensors;  // one per suffix
  };

  absl::Status CheckSlot(const OptimizerSlot& slot) const;

  std::string optimizer_;
  std::vector<std::string> suffixes_;
  std::vector<Entry> entries_;                      // first-step order
  absl::flat_hash_map<std::string, size_t> index_;  // name -> entries_ index
};

}  // namespace braid::nn

#endif  // BRAID_NN_OPTIMIZER_STATE_H_
