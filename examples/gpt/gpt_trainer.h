// The training loop of braid_gpt: a byte-level GPT trained data parallel.
//
//   examples::GptTrainOptions options;           // main.cc fills it from flags
//   BRAID_RETURN_IF_ERROR(examples::TrainGpt(options, world, tracer));
//
// One step on each rank (global batch G = world size x microbatches x batch):
//   1. the DistributedSampler gives this rank its contiguous G/world samples
//      of the step; they are cut into `microbatches` microbatches of `batch`
//      sequences, global microbatch index = rank * microbatches + i;
//   2. each microbatch: DataParallel::BeginMicrobatch -> forward -> mean
//      cross-entropy -> backward; during the last one the gradient hook posts
//      bucket all-reduces while the backward continues;
//   3. FinishGradients (mean over all G samples), ClipGradients(clip),
//      DataParallel::Step(AdamW, warmup-cosine lr) (ZeRO 1/2 shard it), and
//      under --bf16 the compute copies are refreshed;
//   4. the step's loss = the mean of the G/batch microbatch losses, gathered
//      and summed in global microbatch order on every rank, so it is the same
//      number whatever the data-parallel size.
// So `world=4, microbatches=1` and `world=1, microbatches=4` train on the same
// samples in the same order, and with `deterministic` they are bit-identical
// (docs/DECISIONS.md, "Deterministic mode").
//
// Output (global rank 0): a progress line every `log_every` steps, the final
// validation loss, a text sample from Gpt::Generate, and optionally the loss
// log (`step,loss` per line) and the final weights (weights_file.h).
//
// Checkpoints: with `save_dir`, the state at every `save_every`-th step boundary is
// saved and `resume` restarts from the newest valid one, so braidrun
// --max-restarts continues a run whose worker died (gpt_checkpoint.h).
//
// Errors: any failed step returns its status (kAborted from a collective
// when a peer died: this example does not recover in-process; with
// checkpoints, braidrun --max-restarts and --resume it restarts from the
// last checkpoint; the elastic demo recovers in-process).
// Thread-safety: TrainGpt runs on the caller's thread and owns everything it
// creates; the communicator and tracer are borrowed.
#ifndef BRAID_EXAMPLES_GPT_GPT_TRAINER_H_
#define BRAID_EXAMPLES_GPT_GPT_TRAINER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "runtime/trace.h"

namespace braid::examples {

struct GptTrainOptions {
  // Text file to train on (bytes are tokens).
  std::string data_path;
  // Model: byte vocabulary (256), context T, width, depth, heads.
  int64_t context_length = 64;
  int64_t dim = 64;
  int num_layers = 2;
  int64_t num_heads = 4;
  int64_t mlp_hidden = 0;  // 0: 4 * dim
  float dropout = 0.0f;
  // Optimisation: AdamW(0.9, 0.95, weight_decay), warmup-cosine from 0 to
  // `lr` over `warmup_steps`, then down to `min_lr` at `steps`; global
  // gradient norm clipped to `clip`.
  int steps = 300;
  int batch = 4;         // sequences per microbatch
  int microbatches = 1;  // per rank per step (gradient accumulation)
  float lr = 6e-3f;
  float min_lr = 3e-4f;
  int warmup_steps = 20;
  float weight_decay = 0.1f;
  float clip = 1.0f;
  uint64_t seed = 1234;
  // Data parallelism.
  bool bf16 = false;        // bf16 compute, f32 master weights and grads
  int zero = 0;             // 0, 1 or 2
  bool overlap = true;      // post bucket reductions during the backward
  double bucket_mb = 0.125; // bucket size (small: several buckets to overlap)
  bool deterministic = false;  // also needs the communicator in deterministic mode
  // Gradient compression on the wire: "none", "bf16" or "fp16" (DDP comm hooks).
  std::string compression = "none";
  // Output.
  int log_every = 10;
  int eval_batches = 8;     // validation: this many batches of `batch`
  std::string prompt = "The ";
  int sample_tokens = 200;  // 0: no sample
  float temperature = 0.8f;
  std::string save_path;    // "" = do not save
  std::string loss_log_path;  // "" = none
  // Checkpoints (gpt_checkpoint.h, docs/checkpoint.md): every `save_every`
  // steps and when the run ends, model, optimizer state, step, RNG values and
  // config go to `save_dir` ("" = none; keep the `keep_last` newest);
  // `resume` continues from the newest valid checkpoint there (none: start
  // fresh), ending bit-identical to an uninterrupted run with `deterministic`.
  std::string save_dir;
  int save_every = 0;       // 0: only when the run ends
  int keep_last = 3;
  bool resume = false;
  // End after this many steps (0: run all `steps`); the learning-rate
  // schedule still spans `steps`, so a later --resume continues it exactly.
  int stop_after = 0;
  // Fault injection for tests: global rank `die_rank` SIGKILLs itself at the
  // start of step `die_at_step` (-1: never), once per `save_dir` (a marker
  // file there stops the restarted attempt from dying again).
  int die_at_step = -1;
  int die_rank = 0;
  // Every collective wait and the whole validation are bounded by this.
  absl::Duration timeout = absl::Seconds(120);
};

// Trains as described above. REQUIRES: options validated by main (positive
// sizes, zero in {0,1,2}).
absl::Status TrainGpt(const GptTrainOptions& options, collectives::Communicator& world,
                      runtime::Tracer& tracer);

}  // namespace braid::examples

#endif  // BRAID_EXAMPLES_GPT_GPT_TRAINER_H_
