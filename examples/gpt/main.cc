// braid_gpt: a byte-level GPT trained data parallel on a text file.
//
//   braidrun --standalone --nproc-per-node 4 braid_gpt            # 4 ranks, shipped corpus
//   braidrun --standalone --nproc-per-node 2 braid_gpt --zero 2 --bf16 --microbatches 2
//   mpirun -np 2 braid_gpt --backend=mpi
//   braid_gpt --steps 50                                           # one process
//   braidrun --standalone --nproc-per-node 2 --max-restarts 3        # survives a crash:
//       braid_gpt --save-dir ckpt --save-every 50 --resume            # restarts resume
//
// Rank 0 prints progress (loss, tokens/s, compute / communication / exposed
// communication per step), the final validation loss and a text sample; see
// gpt_trainer.h for what one step does. The exit status is 0 only when
// training finished on this rank.
#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "elastic/bootstrap/bootstrap.h"
#include "examples/gpt/gpt_trainer.h"
#include "runtime/config.h"
#include "runtime/status_macros.h"

#ifndef BRAID_GPT_DEFAULT_CORPUS
#define BRAID_GPT_DEFAULT_CORPUS ""
#endif

namespace {

struct Flags {
  std::string backend;
  double timeout_s = 120;
  braid::examples::GptTrainOptions train;
};

absl::Status Validate(const braid::examples::GptTrainOptions& o) {
  if (o.data_path.empty()) {
    return absl::InvalidArgumentError("no corpus: pass --data FILE (any text file)");
  }
  if (o.dim % o.num_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dim ", o.dim, " is not a multiple of --heads ", o.num_heads));
  }
  if (o.deterministic && (o.microbatches & (o.microbatches - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--deterministic needs a power-of-two --microbatches (got ", o.microbatches, ")"));
  }
  if (o.save_dir.empty() && (o.resume || o.save_every > 0 || o.die_at_step >= 0)) {
    return absl::InvalidArgumentError(
        "--resume, --save-every and --die-at-step need --save-dir DIR");
  }
  return absl::OkStatus();
}

absl::Status Run(Flags& flags, const char* program) {
  BRAID_RETURN_IF_ERROR(Validate(flags.train));
  braid::elastic::BootstrapOptions options;
  options.backend = flags.backend;
  options.program = program;
  options.timeout = absl::Seconds(flags.timeout_s);
  if (flags.train.deterministic) {
    // --deterministic implies BRAID_DETERMINISTIC=1: a fixed reduction order
    // in the backend too.
    BRAID_ASSIGN_OR_RETURN(braid::runtime::Config config,
                           braid::runtime::Config::FromEnvironment());
    config.deterministic = true;
    options.config = std::move(config);
  }
  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<braid::elastic::Context> context,
                         braid::elastic::Bootstrap(options));
  flags.train.timeout = absl::Seconds(flags.timeout_s);
  return braid::examples::TrainGpt(flags.train, context->communicator(), context->tracer());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"braid_gpt: train a byte-level GPT data parallel (examples/gpt/gpt_trainer.h)"};
  Flags flags;
  braid::examples::GptTrainOptions& t = flags.train;
  t.data_path = BRAID_GPT_DEFAULT_CORPUS;
  app.add_option("--backend", flags.backend,
                 "collective backend: tcp, mpi, nccl (default: BRAID_BACKEND, else tcp)");
  app.add_option("--data", t.data_path, "text file to train on")->capture_default_str();
  app.add_option("--steps", t.steps, "optimizer steps")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--batch", t.batch, "sequences per microbatch")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--microbatches", t.microbatches,
                 "microbatches per rank per step (gradient accumulation)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--context", t.context_length, "sequence length")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--dim", t.dim, "model width")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--layers", t.num_layers, "transformer blocks")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--heads", t.num_heads, "attention heads")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--mlp-hidden", t.mlp_hidden, "MLP width (0: 4 x dim)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--dropout", t.dropout, "dropout probability")->capture_default_str()
      ->check(CLI::Range(0.0, 0.9));
  app.add_option("--lr", t.lr, "peak learning rate")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--min-lr", t.min_lr, "final learning rate of the cosine")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--warmup", t.warmup_steps, "linear warmup steps")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--weight-decay", t.weight_decay, "AdamW decoupled weight decay")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--clip", t.clip, "global gradient-norm clip")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", t.seed, "seed of initialisation, data order and sampling")
      ->capture_default_str();
  app.add_flag("--bf16", t.bf16, "bf16 compute with f32 master weights and gradients");
  app.add_option("--zero", t.zero, "ZeRO stage: 0, 1 (optimizer state) or 2 (+ gradients)")
      ->capture_default_str()->check(CLI::IsMember({0, 1, 2}));
  app.add_option("--compression", t.compression,
                 "gradient compression on the wire: none, bf16 or fp16")
      ->capture_default_str()->check(CLI::IsMember({"none", "bf16", "fp16"}));
  bool no_overlap = false;
  app.add_flag("--no-overlap", no_overlap,
               "reduce gradients only after the backward (for comparison)");
  app.add_option("--bucket-mb", t.bucket_mb, "gradient bucket size in MB")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--deterministic", t.deterministic,
               "bit-identical results across data-parallel sizes (power-of-two microbatches)");
  app.add_option("--log-every", t.log_every, "progress line every N steps")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--eval-batches", t.eval_batches, "validation batches at the end")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--prompt", t.prompt, "prompt of the final text sample")->capture_default_str();
  app.add_option("--sample-tokens", t.sample_tokens, "bytes to generate at the end (0: none)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--temperature", t.temperature, "sampling temperature (0: greedy)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--save", t.save_path, "write the final weights here (rank 0)");
  app.add_option("--loss-log", t.loss_log_path, "write 'step,loss' lines here (rank 0)");
  app.add_option("--save-dir", t.save_dir,
                 "checkpoint directory: model, optimizer, step, RNG and config every "
                 "--save-every steps and at the end (docs/checkpoint.md)");
  app.add_option("--save-every", t.save_every, "checkpoint every N steps (0: only at the end)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--keep-last", t.keep_last, "checkpoints kept in --save-dir (0: all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_flag("--resume", t.resume,
               "continue from the newest valid checkpoint in --save-dir (none: start fresh)");
  app.add_option("--stop-after", t.stop_after,
                 "end after N steps; the schedule still spans --steps (resume later)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--die-at-step", t.die_at_step,
                 "testing: --die-rank SIGKILLs itself at the start of this step, once per "
                 "--save-dir")->capture_default_str();
  app.add_option("--die-rank", t.die_rank, "testing: the global rank --die-at-step kills")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--timeout", flags.timeout_s,
                 "seconds bootstrap or any collective may take")->capture_default_str()
      ->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  t.overlap = !no_overlap;
  const absl::Status status = Run(flags, argv[0]);
  if (!status.ok()) {
    std::fprintf(stderr, "braid_gpt: FAILED: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
