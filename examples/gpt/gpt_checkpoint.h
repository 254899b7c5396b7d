// Checkpoints of braid_gpt: what `--save-dir D --save-every N --resume` save
// and restore, on top of elastic/checkpoint (docs/checkpoint.md).
//
//   GptCheckpointState state{.parameters = params, .dp = dp.get(), .optimizer = adamw.get()};
//   BRAID_ASSIGN_OR_RETURN(GptResume r, ResumeGpt(ckptr, options, state, world, deadline));
//   for (int64_t step = r.start_step; ...) { ...; SaveGpt(ckptr, step + 1, options, state,
//                                                           r.losses, world, deadline); }
//
// One checkpoint of step S (= completed optimizer steps = the sampler
// position, data/sampler.h) holds on every rank:
//   model/<parameter>    the f32 master values (replicated: every rank saves
//                        them, so each shard file resumes a rank on its own);
//   optim/<slot>/<state> this rank's AdamW state for DataParallel's slots --
//                        the whole state, or with ZeRO this rank's shard;
//   optim/step           AdamW's step count (bias correction);
//   log/loss             f32 [S]: the loss of every step so far, so that a
//                        resumed --loss-log is the whole curve;
// values "rng/seed" and "rng/stream" (the Philox stream of step S's first
// microbatch: S x global microbatches; dropout and data order are pure
// functions of seed, step and microbatch, so these two fix every random
// number of the rest of the run), and rank 0's config map (GptConfig).
//
// Compatibility on resume (CheckGptConfig): different model dimensions are
// kInvalidArgument (the parameters cannot be loaded: use the same --dim,
// --layers, --heads, --context, --mlp-hidden, or another --save-dir); a
// different --zero, or a different world size under ZeRO (the optimizer
// state is sharded per rank), is kInvalidArgument too. Other differences
// (seed, batch, learning rate, steps, ...) are logged as warnings: training
// continues, but no longer as an uninterrupted run would. Without ZeRO any
// world size resumes (every rank reads rank 0's shard).
//
// Thread-safety: plain functions on the caller's thread; they borrow
// everything they get.
#ifndef BRAID_EXAMPLES_GPT_GPT_CHECKPOINT_H_
#define BRAID_EXAMPLES_GPT_GPT_CHECKPOINT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "elastic/checkpoint/checkpointer.h"
#include "examples/gpt/gpt_trainer.h"
#include "nn/optimizer.h"
#include "nn/parameter.h"
#include "parallelism/data_parallel.h"

namespace braid::examples {

// The live training state a checkpoint covers (all borrowed).
struct GptCheckpointState {
  std::vector<nn::NamedParameter> parameters;  // the model's, after DataParallel::Create
  parallelism::DataParallel* dp = nullptr;
  nn::Optimizer* optimizer = nullptr;
  bool bf16 = false;  // refresh compute copies after loading values
};

// What a resume found.
struct GptResume {
  int64_t start_step = 0;            // 0 when there was no checkpoint
  std::vector<float> losses;         // losses of steps [0, start_step)
  std::string from;                  // "D/step-<N>", "" when starting fresh
  std::vector<std::string> refused;  // newer checkpoints refused, "step-<N>: <why>"
};

// The settings a checkpoint records, as strings ("model/dim" -> "32", ...).
// "model/..." keys must match to resume at all; "train/..." keys should.
std::map<std::string, std::string> GptConfig(const GptTrainOptions& options, int world_size);

// Compares a checkpoint's config (`saved`, from a run of `saved_world_size`
// ranks) with this run's: kInvalidArgument naming every model difference
// and what to do; ZeRO stage or (with ZeRO) world-size differences too.
// Differences in "train/..." keys are appended to `warnings` (may be null).
absl::Status CheckGptConfig(const std::map<std::string, std::string>& saved, int saved_world_size,
                            const std::map<std::string, std::string>& current,
                            int current_world_size, std::vector<std::string>* warnings);

// Collective over `world`: loads the newest checkpoint that verifies on
// every rank into `state` (model values, optimizer state, compute copies)
// and returns where to start. No committed checkpoint: {start_step = 0}.
// kDataLoss when every committed checkpoint is corrupt (the library logs
// each refusal); kInvalidArgument on an incompatible config; the
// communicator's code when a collective fails.
absl::StatusOr<GptResume> ResumeGpt(const elastic::checkpoint::Checkpointer& checkpointer,
                                    const GptTrainOptions& options, const GptCheckpointState& state,
                                    collectives::Communicator& world, absl::Time deadline);

// Collective over `world`: saves step `step` (completed steps; losses has
// at least `step` entries, the first `step` are saved). REQUIRES: between
// steps (after DataParallel::Step), the same step on every rank.
absl::Status SaveGpt(const elastic::checkpoint::Checkpointer& checkpointer, int64_t step,
                     const GptTrainOptions& options, const GptCheckpointState& state,
                     const std::vector<float>& losses, collectives::Communicator& world,
                     absl::Time deadline);

}  // namespace braid::examples

#endif  // BRAID_EXAMPLES_GPT_GPT_CHECKPOINT_H_
