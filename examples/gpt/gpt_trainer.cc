#include "examples/gpt/gpt_trainer.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "data/sampler.h"
#include "data/text_dataset.h"
#include "data/tokenizer.h"
#include "elastic/checkpoint/checkpointer.h"
#include "examples/gpt/gpt_checkpoint.h"
#include "examples/gpt/weights_file.h"
#include "nn/adamw.h"
#include "nn/context.h"
#include "nn/gpt.h"
#include "nn/loss.h"
#include "nn/lr_schedule.h"
#include "nn/mixed_precision.h"
#include "parallelism/data_parallel.h"
#include "runtime/env.h"
#include "runtime/logging.h"
#include "runtime/status_macros.h"
#include "runtime/tensor.h"

namespace braid::examples {
namespace {

using collectives::Communicator;
using runtime::DType;
using runtime::Tensor;

// Averages of the per-step timings over one progress interval.
struct IntervalTimes {
  int steps = 0;
  absl::Duration step;
  absl::Duration compute;
  absl::Duration communication;
  absl::Duration exposed;
  int64_t bytes = 0;        // gradient bytes posted
  int64_t bytes_saved = 0;  // bytes compression kept off the wire
  void Add(absl::Duration s, absl::Duration c, const parallelism::DataParallelStats& stats) {
    ++steps;
    step += s;
    compute += c;
    communication += stats.communication;
    exposed += stats.exposed;
    bytes += stats.bytes;
    bytes_saved += stats.bytes_saved;
  }
};

double Ms(absl::Duration d, int n) { return absl::ToDoubleMilliseconds(d) / std::max(1, n); }

// The step's loss: every rank's per-microbatch losses gathered in global
// microbatch order and summed in that order, so it does not depend on the
// data-parallel size.
absl::StatusOr<float> GlobalMeanLoss(Communicator& world, const std::vector<float>& mine,
                                     absl::Time deadline) {
  const int64_t per_rank = static_cast<int64_t>(mine.size());
  BRAID_ASSIGN_OR_RETURN(Tensor local, Tensor::FromVector(mine, {per_rank}));
  BRAID_ASSIGN_OR_RETURN(Tensor all, Tensor::Zeros({per_rank * world.size()}, DType::kF32));
  BRAID_RETURN_IF_ERROR(world.AllGather(local, all)->Wait(deadline));
  double sum = 0;
  for (int64_t i = 0; i < all.numel(); ++i) sum += all.data<float>()[i];
  return static_cast<float>(sum / static_cast<double>(all.numel()));
}

// Mean cross-entropy over `eval_batches` validation batches, split
// round-robin over the ranks.
absl::StatusOr<float> ValidationLoss(const GptTrainOptions& o, const data::TextDataset& dataset,
                                     nn::Gpt& model, Communicator& world, Tensor& inputs,
                                     Tensor& targets) {
  const int64_t available = dataset.num_validation_samples() / o.batch;
  const int64_t batches = std::min<int64_t>(o.eval_batches, available);
  nn::CrossEntropyLoss loss_fn;
  double sum = 0;
  int64_t count = 0;
  for (int64_t b = world.rank(); b < batches; b += world.size()) {
    std::vector<int64_t> indices(o.batch);
    for (int i = 0; i < o.batch; ++i) indices[i] = b * o.batch + i;
    BRAID_RETURN_IF_ERROR(
        data::FillBatch(dataset, indices, inputs, targets, data::Split::kValidation));
    nn::Context ctx({.training = false});
    BRAID_ASSIGN_OR_RETURN(Tensor logits, model.Forward(ctx, inputs));
    BRAID_ASSIGN_OR_RETURN(float loss, loss_fn.Forward(ctx, logits, targets));
    sum += loss;
    ++count;
  }
  BRAID_ASSIGN_OR_RETURN(Tensor totals, Tensor::FromVector<float>(
                                            {static_cast<float>(sum), static_cast<float>(count)},
                                            {2}));
  BRAID_RETURN_IF_ERROR(world.AllReduce(totals, totals, collectives::ReduceOp::kSum)
                            ->Wait(absl::Now() + o.timeout));
  const float n = totals.data<float>()[1];
  return n > 0 ? totals.data<float>()[0] / n : 0.0f;
}

// The `step,loss` lines of --loss-log, rewritten whole (atomically, through
// runtime::Env) at every progress line and at the end.
class LossLog {
 public:
  explicit LossLog(std::string path) : path_(std::move(path)) {}
  // %.9g round-trips a float, so equal logs mean bit-identical losses.
  void Add(int step, float loss) {
    if (!path_.empty()) absl::StrAppendFormat(&text_, "%d,%.9g\n", step, loss);
  }
  absl::Status Write() const {
    if (path_.empty()) return absl::OkStatus();
    absl::Status s = runtime::Env::Default()->WriteFileAtomically(path_, text_);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--loss-log: ", s.message()));
    }
    return s;
  }

 private:
  std::string path_;
  std::string text_;
};

// --die-at-step: SIGKILLs this process unless the marker file says that an
// earlier attempt already died here.
absl::Status MaybeDie(const GptTrainOptions& o, int step, int global_rank) {
  if (step != o.die_at_step || global_rank != o.die_rank) return absl::OkStatus();
  const std::string marker =
      absl::StrCat(o.save_dir, "/died-at-step-", step, "-rank-", global_rank);
  runtime::Env* env = runtime::Env::Default();
  if (env->ReadFile(marker).ok()) return absl::OkStatus();
  BRAID_RETURN_IF_ERROR(env->WriteFileAtomically(marker, "killed\n"));
  BRAID_LOG(WARNING) << "--die-at-step " << step << ": rank " << global_rank
                     << " kills itself (SIGKILL)";
  std::fflush(stdout);
  std::fflush(stderr);
  raise(SIGKILL);
  return absl::InternalError("--die-at-step: SIGKILL did not end the process");
}

}  // namespace

absl::Status TrainGpt(const GptTrainOptions& o, Communicator& world, runtime::Tracer& tracer) {
  const bool leader = world.rank() == 0;
  const int world_size = world.size();
  auto deadline = [&] { return absl::Now() + o.timeout; };

  // Data: every rank opens the same file; the sampler decides who reads what.
  BRAID_ASSIGN_OR_RETURN(data::TextDataset dataset,
                         data::TextDataset::Open({.path = o.data_path,
                                                  .context_length = o.context_length}));
  const int64_t global_batch = int64_t{world_size} * o.microbatches * o.batch;
  BRAID_ASSIGN_OR_RETURN(
      data::DistributedSampler sampler,
      data::DistributedSampler::Create({.num_samples = dataset.num_train_samples(),
                                        .global_batch_size = global_batch,
                                        .seed = o.seed}));
  data::ByteTokenizer tokenizer;

  // Model: initialised from the seed by parameter name, identical everywhere.
  nn::GptOptions gpt_options;
  gpt_options.vocab_size = tokenizer.vocab_size();
  gpt_options.context_length = o.context_length;
  gpt_options.dim = o.dim;
  gpt_options.num_layers = o.num_layers;
  gpt_options.num_heads = o.num_heads;
  gpt_options.mlp_hidden = o.mlp_hidden;
  gpt_options.dropout = o.dropout;
  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::Gpt> model, nn::Gpt::Create(gpt_options));
  BRAID_RETURN_IF_ERROR(model->Initialize(o.seed));
  const std::vector<nn::NamedParameter> parameters = model->NamedParameters();

  BRAID_ASSIGN_OR_RETURN(
      std::unique_ptr<parallelism::DataParallel> dp,
      parallelism::DataParallel::Create(
          parameters, world,
          {.bucket_bytes = static_cast<size_t>(o.bucket_mb * (1 << 20)),
           .overlap = o.overlap,
           .zero = static_cast<parallelism::ZeroStage>(o.zero),
           .deterministic = o.deterministic,
           .tracer = &tracer,
           .compression = o.compression == "bf16"   ? parallelism::GradientCompression::kBf16
                          : o.compression == "fp16" ? parallelism::GradientCompression::kFp16
                                                    : parallelism::GradientCompression::kNone}));
  if (o.bf16) BRAID_RETURN_IF_ERROR(nn::EnableMixedPrecision(parameters, DType::kBF16));
  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::AdamW> adamw,
                         nn::AdamW::Create({.beta1 = 0.9f,
                                            .beta2 = 0.95f,
                                            .weight_decay = o.weight_decay}));
  const GptCheckpointState ckpt_state{.parameters = parameters,
                                      .dp = dp.get(),
                                      .optimizer = adamw.get(),
                                      .bf16 = o.bf16};
  std::unique_ptr<elastic::checkpoint::Checkpointer> checkpointer;
  GptResume resumed;
  if (!o.save_dir.empty()) {
    BRAID_ASSIGN_OR_RETURN(checkpointer, elastic::checkpoint::Checkpointer::Create(
                                             {.directory = o.save_dir, .keep_last = o.keep_last}));
    if (o.resume) {
      BRAID_ASSIGN_OR_RETURN(resumed, ResumeGpt(*checkpointer, o, ckpt_state, world, deadline()));
      if (leader) {
        if (resumed.from.empty()) {
          std::printf("resume: no checkpoint in %s, starting at step 0\n", o.save_dir.c_str());
        } else {
          std::printf("resume: from %s, continuing at step %lld\n", resumed.from.c_str(),
                      static_cast<long long>(resumed.start_step));
          for (const std::string& refused : resumed.refused) {
            std::printf("resume: refused newer checkpoint %s\n", refused.c_str());
          }
        }
        std::fflush(stdout);
      }
    }
  }
  const int end_step = o.stop_after > 0 ? std::min(o.stop_after, o.steps) : o.steps;
  // Short runs (tests) keep a valid schedule: warmup < steps, min <= peak.
  BRAID_ASSIGN_OR_RETURN(
      std::unique_ptr<nn::WarmupCosine> schedule,
      nn::WarmupCosine::Create({.peak_lr = o.lr,
                                .min_lr = std::min(o.min_lr, o.lr),
                                .warmup_steps = std::min<int64_t>(o.warmup_steps, o.steps - 1),
                                .total_steps = o.steps}));
  nn::CrossEntropyLoss loss_fn;
  LossLog loss_log(leader ? o.loss_log_path : "");
  if (leader) {
    std::printf(
        "braid_gpt: %lld parameters (dim %lld, %d layers, %lld heads, context %lld), %d ranks x "
        "%d microbatches x %d sequences = %lld sequences/step, %lld train / %lld validation "
        "windows, %d buckets, zero %d%s%s%s\n",
        static_cast<long long>(model->NumParameters()), static_cast<long long>(o.dim),
        o.num_layers, static_cast<long long>(o.num_heads),
        static_cast<long long>(o.context_length), world_size, o.microbatches, o.batch,
        static_cast<long long>(global_batch), static_cast<long long>(dataset.num_train_samples()),
        static_cast<long long>(dataset.num_validation_samples()), dp->num_buckets(), o.zero,
        o.bf16 ? ", bf16" : "", o.overlap ? ", overlap" : ", no overlap",
        o.deterministic ? ", deterministic" : "");
    std::fflush(stdout);
  }

  BRAID_ASSIGN_OR_RETURN(Tensor inputs, Tensor::Zeros({o.batch, o.context_length}, DType::kI32));
  BRAID_ASSIGN_OR_RETURN(Tensor targets, Tensor::Zeros({o.batch, o.context_length}, DType::kI32));
  const int64_t global_microbatches = int64_t{world_size} * o.microbatches;
  IntervalTimes times;
  std::vector<float> losses(o.microbatches);
  // Every step's loss so far (checkpoints carry it, so a resumed loss log is
  // the whole curve).
  std::vector<float> history = std::move(resumed.losses);
  for (size_t s = 0; s < history.size(); ++s) loss_log.Add(static_cast<int>(s), history[s]);
  for (int step = static_cast<int>(resumed.start_step); step < end_step; ++step) {
    BRAID_RETURN_IF_ERROR(MaybeDie(o, step, world.rank()));
    const absl::Time step_start = absl::Now();
    BRAID_ASSIGN_OR_RETURN(std::vector<int64_t> indices,
                           sampler.Indices(step, world.rank(), world_size));
    for (int mb = 0; mb < o.microbatches; ++mb) {
      BRAID_ASSIGN_OR_RETURN(nn::GradientHook * hook, dp->BeginMicrobatch(mb, o.microbatches));
      BRAID_RETURN_IF_ERROR(data::FillBatch(
          dataset, absl::MakeConstSpan(indices).subspan(mb * o.batch, o.batch), inputs, targets));
      const int64_t global_mb = int64_t{world.rank()} * o.microbatches + mb;
      nn::Context ctx({.microbatch = mb,
                       .rng_seed = o.seed,
                       .rng_stream = static_cast<uint64_t>(step * global_microbatches + global_mb),
                       .tracer = &tracer,
                       .gradient_hook = hook});
      Tensor dlogits;
      {
        runtime::ScopedSpan span(tracer, "forward", runtime::Category::kCompute);
        BRAID_ASSIGN_OR_RETURN(Tensor logits, model->Forward(ctx, inputs));
        BRAID_ASSIGN_OR_RETURN(losses[mb], loss_fn.Forward(ctx, logits, targets));
        BRAID_ASSIGN_OR_RETURN(dlogits, loss_fn.Backward(ctx));
      }
      runtime::ScopedSpan span(tracer, "backward", runtime::Category::kCompute);
      BRAID_RETURN_IF_ERROR(model->Backward(ctx, dlogits).status());
    }
    const absl::Duration compute = absl::Now() - step_start;
    {
      runtime::ScopedSpan span(tracer, "finish gradients", runtime::Category::kIdle);
      BRAID_RETURN_IF_ERROR(dp->FinishGradients(deadline()));
    }
    // At(0) is 0: step s uses At(s + 1), so the first step already learns.
    const float lr = schedule->At(step + 1);
    float grad_norm = 0;
    {
      runtime::ScopedSpan span(tracer, "clip + optimizer", runtime::Category::kCompute);
      BRAID_ASSIGN_OR_RETURN(grad_norm, dp->ClipGradients(o.clip, deadline()));
      BRAID_RETURN_IF_ERROR(dp->Step(*adamw, lr, deadline()));
      if (o.bf16) BRAID_RETURN_IF_ERROR(nn::RefreshComputeCopies(parameters));
    }
    const absl::Duration step_time = absl::Now() - step_start;
    times.Add(step_time, compute, dp->last_step_stats());

    BRAID_ASSIGN_OR_RETURN(float loss, GlobalMeanLoss(world, losses, deadline()));
    loss_log.Add(step, loss);
    history.push_back(loss);
    if (leader && (step % o.log_every == 0 || step + 1 == end_step)) {
      const double tokens_per_s = static_cast<double>(global_batch * o.context_length) *
                                  times.steps / absl::ToDoubleSeconds(times.step);
      std::printf(
          "step %5d/%d  loss %.4f  lr %.2e  |g| %.2f  %.0f tok/s  step %.1f ms = compute %.1f "
          "+ exposed comm %.1f + optimizer %.1f; comm in flight %.1f ms over %d buckets, "
          "%.2f MB/step posted (%.2f saved)\n",
          step, o.steps, loss, lr, grad_norm, tokens_per_s, Ms(times.step, times.steps),
          Ms(times.compute, times.steps), Ms(times.exposed, times.steps),
          Ms(times.step - times.compute - times.exposed, times.steps),
          Ms(times.communication, times.steps), dp->num_buckets(),
          static_cast<double>(times.bytes) / 1e6 / std::max(1, times.steps),
          static_cast<double>(times.bytes_saved) / 1e6 / std::max(1, times.steps));
      std::fflush(stdout);
      times = IntervalTimes();
      BRAID_RETURN_IF_ERROR(loss_log.Write());
    }
    if (checkpointer != nullptr &&
        ((o.save_every > 0 && (step + 1) % o.save_every == 0) || step + 1 == end_step)) {
      runtime::ScopedSpan span(tracer, "checkpoint", runtime::Category::kIdle);
      const absl::Time save_start = absl::Now();
      BRAID_RETURN_IF_ERROR(
          SaveGpt(*checkpointer, step + 1, o, ckpt_state, history, world, deadline()));
      if (leader) {
        std::printf("checkpoint: step %d saved to %s/step-%d in %.1f ms\n", step + 1,
                    o.save_dir.c_str(), step + 1,
                    absl::ToDoubleMilliseconds(absl::Now() - save_start));
        std::fflush(stdout);
      }
    }
  }
  if (leader && end_step < o.steps) {
    std::printf("stopped after step %d of %d (--stop-after)\n", end_step, o.steps);
  }

  BRAID_RETURN_IF_ERROR(loss_log.Write());
  BRAID_ASSIGN_OR_RETURN(float validation,
                         ValidationLoss(o, dataset, *model, world, inputs, targets));
  if (leader) {
    std::printf("validation loss %.4f\n", validation);
    if (o.sample_tokens > 0) {
      BRAID_ASSIGN_OR_RETURN(
          std::vector<int32_t> tokens,
          model->Generate(tokenizer.Encode(o.prompt), o.sample_tokens, o.temperature, o.seed));
      std::printf("sample (temperature %.2f):\n%s%s\n", o.temperature, o.prompt.c_str(),
                  tokenizer.Decode(tokens).c_str());
    }
    if (!o.save_path.empty()) {
      BRAID_RETURN_IF_ERROR(SaveWeights(o.save_path, parameters));
      std::printf("saved weights to %s\n", o.save_path.c_str());
    }
    std::fflush(stdout);
  }
  // Nobody leaves while rank 0 still writes: a departure would look like a
  // failed peer to the others' last collective.
  return world.Barrier()->Wait(deadline());
}

}  // namespace braid::examples
