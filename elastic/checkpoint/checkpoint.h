// Checkpoint: the state one rank saves at a step boundary and gets back on
// resume -- named tensors plus the metadata that makes a resumed run exact.
// Checkpointer (checkpointer.h) writes and reads it; this header holds the
// value types and the helpers that move tensors in and out of a model.
//
//   checkpoint::Checkpoint ckpt;
//   ckpt.step = step;                                   // also the sampler position
//   for (const nn::NamedParameter& p : model.NamedParameters())
//     ckpt.tensors.push_back({absl::StrCat("model/", p.name), p.parameter->value});
//   for (const nn::NamedTensor& s : optimizer.State())
//     ckpt.tensors.push_back({absl::StrCat("optim/", s.name), s.tensor});
//   ckpt.values["rng/seed"] = seed;
//   ckpt.config.emplace("dim", absl::StrCat(dim));
//
// and on resume
//
//   BRAID_ASSIGN_OR_RETURN(LoadedCheckpoint loaded, checkpointer->LoadLatest(world, deadline));
//   BRAID_RETURN_IF_ERROR(AssignTensors(WithPrefix(loaded.checkpoint.tensors, "model/"),
//                                       model_targets));
//
// Thread-safety: plain values; the helpers share no state.
#ifndef BRAID_ELASTIC_CHECKPOINT_CHECKPOINT_H_
#define BRAID_ELASTIC_CHECKPOINT_CHECKPOINT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "runtime/tensor.h"

namespace braid::elastic::checkpoint {

// A tensor under a name ("model/blocks.0.attn.qkv.weight", "optim/<slot>/exp_avg").
// Any dtype and shape (0-d included), any device, any strides: Save copies
// what is not a contiguous CPU tensor to the host first.
struct NamedTensor {
  std::string name;
  runtime::Tensor tensor;
};

// What one rank saves, and what it gets back.
struct Checkpoint {
  // The training step this state is the start of (the number of completed
  // optimizer steps). With data/sampler.h the data position is a function
  // of the step, so nothing else is needed to resume the sample order.
  // REQUIRES: >= 0 and the same on every rank.
  int64_t step = 0;
  // This rank's tensors: the whole state (pure data parallelism) or its shard
  // (ZeRO, pipeline stages, experts). Names unique within the rank, 1..4096
  // bytes. Saved in this order; loaded as fresh CPU tensors in this order.
  std::vector<NamedTensor> tensors;
  // This rank's counters: RNG seeds and Philox offsets, anything a u64 holds.
  std::map<std::string, uint64_t> values;
  // Free-form settings (model config, flags). Stored once, from rank 0; on
  // load every rank gets rank 0's map.
  std::map<std::string, std::string> config;
};

// The result of a load.
struct LoadedCheckpoint {
  // step, config, and the tensors and values of shard `shard_rank`.
  Checkpoint checkpoint;
  // Ranks that saved this step (may differ from the loader's world size).
  int world_size = 0;
  // Whose file `checkpoint.tensors` / `values` came from; -1 when none was
  // read (the loader's rank >= world_size and no shard was asked for).
  int shard_rank = -1;
  // "D/step-<N>": hand it to Checkpointer::ReadShard for other ranks' shards.
  std::string step_directory;
  // Newer steps that were refused, newest first, each "step-<N>: <why>".
  std::vector<std::string> refused;
};

// Called at named points of a save ("shard_partial", "shard_durable",
// "manifest_before", "manifest_durable"; see CheckpointerOptions::fault_hook)
// so that tests can kill the process there.
using FaultHook = std::function<void(absl::string_view point)>;

// The tensors of `tensors` whose names start with `prefix`, with the prefix
// removed, sharing storage, in order. WithPrefix(t, "") is a copy of `t`.
std::vector<NamedTensor> WithPrefix(const std::vector<NamedTensor>& tensors,
                                    absl::string_view prefix);

// The tensor named `name`, or nullptr.
const NamedTensor* FindTensor(const std::vector<NamedTensor>& tensors, absl::string_view name);

// Copies every target's bytes from the loaded tensor of the same name (any
// device on either side). kInvalidArgument naming the first target whose
// name is missing from `loaded` or whose dtype or shape differs; nothing is
// copied then. Loaded tensors no target names are ignored unless `exact`,
// which makes them kInvalidArgument too.
absl::Status AssignTensors(const std::vector<NamedTensor>& loaded,
                           const std::vector<NamedTensor>& targets, bool exact = false);

}  // namespace braid::elastic::checkpoint

#endif  // BRAID_ELASTIC_CHECKPOINT_CHECKPOINT_H_
