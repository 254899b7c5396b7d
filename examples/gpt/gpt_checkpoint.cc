#include "examples/gpt/gpt_checkpoint.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "nn/mixed_precision.h"
#include "runtime/logging.h"
#include "runtime/status_macros.h"
#include "runtime/tensor.h"

namespace braid::examples {
namespace {

namespace ckpt = elastic::checkpoint;
using runtime::DType;
using runtime::Tensor;

constexpr absl::string_view kModelPrefix = "model/";
constexpr absl::string_view kOptimPrefix = "optim/";
constexpr absl::string_view kLossName = "log/loss";
constexpr absl::string_view kSeedValue = "rng/seed";
constexpr absl::string_view kStreamValue = "rng/stream";

std::string Get(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? std::string("<unset>") : it->second;
}

uint64_t GlobalMicrobatches(const GptTrainOptions& o, int world_size) {
  return static_cast<uint64_t>(world_size) * static_cast<uint64_t>(o.microbatches);
}

}  // namespace

std::map<std::string, std::string> GptConfig(const GptTrainOptions& o, int world_size) {
  std::map<std::string, std::string> c;
  c.emplace("model/vocab_size", "256");
  c.emplace("model/context_length", absl::StrCat(o.context_length));
  c.emplace("model/dim", absl::StrCat(o.dim));
  c.emplace("model/num_layers", absl::StrCat(o.num_layers));
  c.emplace("model/num_heads", absl::StrCat(o.num_heads));
  c.emplace("model/mlp_hidden", absl::StrCat(o.mlp_hidden > 0 ? o.mlp_hidden : 4 * o.dim));
  c.emplace("train/seed", absl::StrCat(o.seed));
  c.emplace("train/steps", absl::StrCat(o.steps));
  c.emplace("train/global_batch",
            absl::StrCat(GlobalMicrobatches(o, world_size) * static_cast<uint64_t>(o.batch)));
  c.emplace("train/batch", absl::StrCat(o.batch));
  c.emplace("train/microbatches", absl::StrCat(o.microbatches));
  c.emplace("train/world_size", absl::StrCat(world_size));
  c.emplace("train/zero", absl::StrCat(o.zero));
  c.emplace("train/bf16", o.bf16 ? "1" : "0");
  c.emplace("train/deterministic", o.deterministic ? "1" : "0");
  c.emplace("train/dropout", absl::StrCat(o.dropout));
  c.emplace("train/lr", absl::StrCat(o.lr));
  c.emplace("train/min_lr", absl::StrCat(o.min_lr));
  c.emplace("train/warmup", absl::StrCat(o.warmup_steps));
  c.emplace("train/weight_decay", absl::StrCat(o.weight_decay));
  c.emplace("train/clip", absl::StrCat(o.clip));
  c.emplace("train/data", o.data_path);
  return c;
}

absl::Status CheckGptConfig(const std::map<std::string, std::string>& saved, int saved_world_size,
                            const std::map<std::string, std::string>& current,
                            int current_world_size, std::vector<std::string>* warnings) {
  std::vector<std::string> model_diffs;
  for (const auto& [key, value] : current) {
    const std::string old = Get(saved, key);
    if (old == value) continue;
    std::string diff = absl::StrCat(key, " saved ", old, ", now ", value);
    if (absl::string_view(key).substr(0, kModelPrefix.size()) == kModelPrefix) {
      model_diffs.push_back(std::move(diff));
    } else if (key != "train/world_size" && warnings != nullptr) {
      warnings->push_back(std::move(diff));
    }
  }
  if (!model_diffs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint was written for another model (", absl::StrJoin(model_diffs, "; "),
                     "): resume with the model flags it was saved with (--dim, --layers, --heads, "
                     "--context, --mlp-hidden), or use another --save-dir to start afresh"));
  }
  const std::string zero = Get(current, "train/zero");
  if (Get(saved, "train/zero") != zero) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint was written with --zero ", Get(saved, "train/zero"), ", this run has --zero ",
        zero, ": the optimizer state is laid out differently; resume with --zero ",
        Get(saved, "train/zero")));
  }
  if (zero != "0" && saved_world_size != current_world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint was written by ", saved_world_size, " ranks with --zero ", zero,
                     " (optimizer state sharded per rank), this run has ", current_world_size,
                     " ranks: resume with ", saved_world_size,
                     " ranks (resharding ZeRO state is not "
                     "supported by braid_gpt)"));
  }
  if (saved_world_size != current_world_size && warnings != nullptr) {
    warnings->push_back(
        absl::StrCat("world size saved ", saved_world_size, ", now ", current_world_size));
  }
  return absl::OkStatus();
}

absl::StatusOr<GptResume> ResumeGpt(const ckpt::Checkpointer& checkpointer,
                                    const GptTrainOptions& o, const GptCheckpointState& state,
                                    collectives::Communicator& world, absl::Time deadline) {
  // Without ZeRO every shard holds the whole state: read rank 0's, so any
  // world size resumes. With ZeRO each rank needs its own.
  ckpt::LoadOptions load_options;
  if (o.zero == 0) load_options.shard_rank = 0;
  absl::StatusOr<ckpt::LoadedCheckpoint> loaded =
      checkpointer.LoadLatest(world, deadline, load_options);
  if (absl::IsNotFound(loaded.status())) return GptResume{};
  if (!loaded.ok()) {
    return absl::Status(loaded.status().code(),
                        absl::StrCat("--resume from ", checkpointer.options().directory, ": ",
                                     loaded.status().message()));
  }
  const ckpt::Checkpoint& c = loaded->checkpoint;
  const std::string where = loaded->step_directory;
  std::vector<std::string> warnings;
  absl::Status compatible = CheckGptConfig(c.config, loaded->world_size, GptConfig(o, world.size()),
                                           world.size(), &warnings);
  if (!compatible.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--resume from ", where, ": ", compatible.message()));
  }
  if (!warnings.empty() && world.rank() == 0) {
    BRAID_LOG(WARNING) << "--resume from " << where << ": settings differ ("
                       << absl::StrJoin(warnings, "; ")
                       << "); training continues but will not match an uninterrupted run";
  }
  if (loaded->shard_rank < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--resume from ", where, ": no shard for rank ",
                                                   world.rank(), " (saved by ", loaded->world_size,
                                                   " ranks)"));
  }

  // Model: the f32 master values, exactly the model's parameter names.
  std::vector<ckpt::NamedTensor> targets;
  targets.reserve(state.parameters.size());
  for (const nn::NamedParameter& p : state.parameters) {
    targets.push_back({p.name, p.parameter->value});
  }
  absl::Status assigned = ckpt::AssignTensors(ckpt::WithPrefix(c.tensors, kModelPrefix), targets,
                                              /*exact=*/true);
  if (!assigned.ok()) {
    return absl::Status(assigned.code(),
                        absl::StrCat("--resume from ", where, ": model: ", assigned.message()));
  }
  if (state.bf16) BRAID_RETURN_IF_ERROR(nn::RefreshComputeCopies(state.parameters));

  // Optimizer: the state of this rank's DataParallel slots.
  std::vector<nn::NamedTensor> optim_state;
  for (ckpt::NamedTensor& t : ckpt::WithPrefix(c.tensors, kOptimPrefix)) {
    optim_state.push_back({std::move(t.name), std::move(t.tensor)});
  }
  absl::Status optim_loaded = state.optimizer->LoadState(optim_state);
  if (!optim_loaded.ok()) {
    return absl::Status(optim_loaded.code(), absl::StrCat("--resume from ", where,
                                                          ": optimizer: ", optim_loaded.message()));
  }
  for (const nn::OptimizerSlot& slot : state.dp->OptimizerSlots()) {
    if (ckpt::FindTensor(c.tensors, absl::StrCat(kOptimPrefix, slot.name, "/exp_avg")) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--resume from ", where, ": no optimizer state for slot '", slot.name,
                       "' (the checkpoint's data-parallel layout differs: same --zero and "
                       "--bucket-mb as when it was saved)"));
    }
  }

  GptResume resume;
  resume.start_step = c.step;
  resume.from = where;
  resume.refused = loaded->refused;
  const ckpt::NamedTensor* losses = ckpt::FindTensor(c.tensors, kLossName);
  if (losses != nullptr && losses->tensor.dtype() == DType::kF32 &&
      losses->tensor.numel() == c.step) {
    const float* p = losses->tensor.data<float>();
    resume.losses.assign(p, p + c.step);
  } else {
    return absl::DataLossError(absl::StrCat("--resume from ", where, ": '", kLossName,
                                            "' missing or not f32 [", c.step, "]"));
  }
  auto seed = c.values.find(std::string(kSeedValue));
  auto stream = c.values.find(std::string(kStreamValue));
  const uint64_t want_stream = static_cast<uint64_t>(c.step) * GlobalMicrobatches(o, world.size());
  if (seed == c.values.end() || stream == c.values.end()) {
    return absl::DataLossError(absl::StrCat("--resume from ", where, ": RNG values missing"));
  }
  if ((seed->second != o.seed || stream->second != want_stream) && world.rank() == 0) {
    BRAID_LOG(WARNING) << "--resume from " << where << ": RNG seed/stream saved " << seed->second
                       << "/" << stream->second << ", this run continues with " << o.seed << "/"
                       << want_stream << " (different seed or global batch)";
  }
  return resume;
}

absl::Status SaveGpt(const ckpt::Checkpointer& checkpointer, int64_t step, const GptTrainOptions& o,
                     const GptCheckpointState& state, const std::vector<float>& losses,
                     collectives::Communicator& world, absl::Time deadline) {
  if (static_cast<int64_t>(losses.size()) < step) {
    return absl::InternalError(absl::StrCat("SaveGpt: ", losses.size(), " losses for step ", step));
  }
  ckpt::Checkpoint c;
  c.step = step;
  for (const nn::NamedParameter& p : state.parameters) {
    c.tensors.push_back({absl::StrCat(kModelPrefix, p.name), p.parameter->value});
  }
  for (const nn::NamedTensor& s : state.optimizer->State()) {
    c.tensors.push_back({absl::StrCat(kOptimPrefix, s.name), s.tensor});
  }
  BRAID_ASSIGN_OR_RETURN(
      Tensor loss_history,
      Tensor::FromVector(std::vector<float>(losses.begin(), losses.begin() + step), {step}));
  c.tensors.push_back({std::string(kLossName), std::move(loss_history)});
  c.values.emplace(std::string(kSeedValue), o.seed);
  c.values.emplace(std::string(kStreamValue),
                   static_cast<uint64_t>(step) * GlobalMicrobatches(o, world.size()));
  c.config = GptConfig(o, world.size());
  absl::Status saved = checkpointer.Save(c, world, deadline);
  if (!saved.ok()) {
    return absl::Status(saved.code(), absl::StrCat("--save-dir ", checkpointer.options().directory,
                                                   ": saving step ", step, ": ", saved.message()));
  }
  return absl::OkStatus();
}

}  // namespace braid::examples
