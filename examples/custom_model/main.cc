// braid_custom_model: how to write your own model and train it data parallel.
//
//   braid_custom_model                                     # one process
//   braidrun --standalone --nproc-per-node 2 braid_custom_model
//   mpirun -np 2 braid_custom_model --backend=mpi
//
// The model is a user-defined nn::Layer: a two-layer perceptron with a tanh
// between its nn::Linear children, written below in a few dozen lines. It
// learns y = sin(3 x0) + x1 x2 from 8 random inputs in [-1, 1] (synthetic
// data from a fixed seed, so every rank can make any batch). DataParallel
// averages the gradients over the ranks, overlapped with the backward, and
// AdamW steps. Rank 0 prints the loss; the program exits 0 and prints "OK"
// when the held-out loss fell below --check times its initial value.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "elastic/bootstrap/bootstrap.h"
#include "nn/adamw.h"
#include "nn/context.h"
#include "nn/init.h"
#include "nn/layer.h"
#include "nn/linear.h"
#include "parallelism/data_parallel.h"
#include "runtime/status_macros.h"
#include "runtime/tensor.h"

namespace {

using braid::runtime::DType;
using braid::runtime::Tensor;
namespace nn = braid::nn;

// ---- The model: your own Layer ------------------------------------------------
// y = fc2(tanh(fc1(x))). Children are registered in Create, so
// NamedParameters() is {fc1.weight, fc1.bias, fc2.weight, fc2.bias} and
// Initialize(seed) fills them. What the backward needs (tanh's output) is
// saved in the Context, never in the layer, so microbatches can interleave.
class TanhMlp : public nn::Layer {
 public:
  static absl::StatusOr<std::unique_ptr<TanhMlp>> Create(int64_t in, int64_t hidden) {
    std::unique_ptr<TanhMlp> m(new TanhMlp());
    BRAID_ASSIGN_OR_RETURN(m->fc1_, nn::Linear::Create({.in_features = in,
                                                        .out_features = hidden,
                                                        .init_std = 0.5f}));
    BRAID_ASSIGN_OR_RETURN(m->fc2_, nn::Linear::Create({.in_features = hidden,
                                                        .out_features = 1,
                                                        .init_std = 0.1f}));
    m->RegisterChild("fc1", m->fc1_.get());
    m->RegisterChild("fc2", m->fc2_.get());
    return m;
  }

  absl::StatusOr<Tensor> Forward(nn::Context& ctx, const Tensor& x) override {
    BRAID_ASSIGN_OR_RETURN(Tensor h, fc1_->Forward(ctx, x));
    for (int64_t i = 0; i < h.numel(); ++i) h.data<float>()[i] = std::tanh(h.data<float>()[i]);
    if (ctx.training()) ctx.Save(this, {h});
    return fc2_->Forward(ctx, h);
  }

  absl::StatusOr<Tensor> BackwardInput(nn::Context& ctx, const Tensor& dy) override {
    BRAID_ASSIGN_OR_RETURN(Tensor dh, fc2_->BackwardInput(ctx, dy));
    BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "TanhMlp::BackwardInput"));
    const float* a = saved[0].data<float>();
    for (int64_t i = 0; i < dh.numel(); ++i) dh.data<float>()[i] *= 1.0f - a[i] * a[i];
    return fc1_->BackwardInput(ctx, dh);
  }

  absl::Status BackwardWeight(nn::Context& ctx) override {
    BRAID_RETURN_IF_ERROR(fc2_->BackwardWeight(ctx));  // reverse order: fc2's grads first
    BRAID_RETURN_IF_ERROR(fc1_->BackwardWeight(ctx));
    ctx.Release(this);
    return absl::OkStatus();
  }

  absl::string_view kind() const override { return "TanhMlp"; }

 private:
  TanhMlp() = default;
  std::unique_ptr<nn::Linear> fc1_;
  std::unique_ptr<nn::Linear> fc2_;
};

// ---- Data and loss ----------------------------------------------------------
constexpr int64_t kInputs = 8;

// Rows [first, first + rows) of batch `batch_id`: x uniform in [-1, 1] from
// Philox(seed, stream = batch_id), t = sin(3 x0) + x1 x2. The whole batch is
// drawn and sliced, so a rank's rows do not depend on the world size.
absl::Status MakeBatch(uint64_t seed, uint64_t batch_id, int64_t batch_rows, int64_t first,
                       Tensor& x, Tensor& t) {
  BRAID_ASSIGN_OR_RETURN(Tensor all, Tensor::Empty({batch_rows, kInputs}, DType::kF32));
  BRAID_RETURN_IF_ERROR(nn::InitUniform(all, -1.0f, 1.0f, seed, batch_id));
  BRAID_ASSIGN_OR_RETURN(Tensor mine, all.Slice(0, first, first + x.dim(0)));
  BRAID_RETURN_IF_ERROR(x.CopyFrom(mine));
  for (int64_t r = 0; r < x.dim(0); ++r) {
    const float* row = x.data<float>() + r * kInputs;
    t.data<float>()[r] = std::sin(3.0f * row[0]) + row[1] * row[2];
  }
  return absl::OkStatus();
}

// Mean squared error and its gradient dL/dy = 2 (y - t) / n.
float MseLoss(const Tensor& y, const Tensor& t, Tensor* dy) {
  const int64_t n = y.numel();
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float e = y.data<float>()[i] - t.data<float>()[i];
    sum += double{e} * e;
    if (dy != nullptr) dy->data<float>()[i] = 2.0f * e / n;
  }
  return static_cast<float>(sum / n);
}

// ---- Training ---------------------------------------------------------------
struct Flags {
  std::string backend;
  int steps = 300;
  int64_t batch = 32;  // rows per rank per step
  int64_t hidden = 64;
  float lr = 1e-2f;
  uint64_t seed = 7;
  double check = 0.2;  // held-out loss must end below check x initial
  double timeout_s = 60;
};

absl::Status Run(const Flags& flags, const char* program) {
  BRAID_ASSIGN_OR_RETURN(auto context, braid::elastic::Bootstrap({.backend = flags.backend,
                                                                  .timeout = absl::Seconds(
                                                                      flags.timeout_s),
                                                                  .program = program}));
  braid::collectives::Communicator& world = context->communicator();
  auto deadline = [&] { return absl::Now() + absl::Seconds(flags.timeout_s); };

  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<TanhMlp> model, TanhMlp::Create(kInputs, flags.hidden));
  BRAID_RETURN_IF_ERROR(model->Initialize(flags.seed));  // same values on every rank
  BRAID_ASSIGN_OR_RETURN(auto dp, braid::parallelism::DataParallel::Create(
                                      model->NamedParameters(), world,
                                      {.bucket_bytes = 4096, .tracer = &context->tracer()}));
  BRAID_ASSIGN_OR_RETURN(auto adamw, nn::AdamW::Create({.weight_decay = 0.0f}));

  // Held-out rows, the same on every rank, to judge the fit.
  BRAID_ASSIGN_OR_RETURN(Tensor test_x, Tensor::Empty({256, kInputs}, DType::kF32));
  BRAID_ASSIGN_OR_RETURN(Tensor test_t, Tensor::Empty({256, 1}, DType::kF32));
  BRAID_RETURN_IF_ERROR(MakeBatch(flags.seed, ~uint64_t{0}, 256, 0, test_x, test_t));
  auto held_out_loss = [&]() -> absl::StatusOr<float> {
    nn::Context ctx({.training = false});
    BRAID_ASSIGN_OR_RETURN(Tensor y, model->Forward(ctx, test_x));
    return MseLoss(y, test_t, nullptr);
  };
  BRAID_ASSIGN_OR_RETURN(const float initial, held_out_loss());

  BRAID_ASSIGN_OR_RETURN(Tensor x, Tensor::Empty({flags.batch, kInputs}, DType::kF32));
  BRAID_ASSIGN_OR_RETURN(Tensor t, Tensor::Empty({flags.batch, 1}, DType::kF32));
  BRAID_ASSIGN_OR_RETURN(Tensor dy, Tensor::Empty({flags.batch, 1}, DType::kF32));
  for (int step = 0; step < flags.steps; ++step) {
    BRAID_RETURN_IF_ERROR(MakeBatch(flags.seed, step, flags.batch * world.size(),
                                    flags.batch * world.rank(), x, t));
    BRAID_ASSIGN_OR_RETURN(nn::GradientHook * hook, dp->BeginMicrobatch(0, 1));
    nn::Context ctx({.gradient_hook = hook});
    BRAID_ASSIGN_OR_RETURN(Tensor y, model->Forward(ctx, x));
    const float loss = MseLoss(y, t, &dy);
    BRAID_RETURN_IF_ERROR(model->Backward(ctx, dy).status());
    BRAID_RETURN_IF_ERROR(dp->FinishGradients(deadline()));  // mean over the ranks
    BRAID_RETURN_IF_ERROR(dp->Step(*adamw, flags.lr, deadline()));
    if (world.rank() == 0 && step % 50 == 0) {
      std::printf("step %4d  train loss (rank 0's rows) %.5f\n", step, loss);
      std::fflush(stdout);
    }
  }

  BRAID_ASSIGN_OR_RETURN(const float final_loss, held_out_loss());
  BRAID_RETURN_IF_ERROR(world.Barrier()->Wait(deadline()));
  if (world.rank() == 0) {
    std::printf("held-out loss %.5f -> %.5f on %d ranks (%s)\n", initial, final_loss,
                world.size(), std::string(world.backend()).c_str());
  }
  if (!(final_loss < flags.check * initial)) {
    return absl::InternalError(absl::StrCat("held-out loss ", final_loss, " is not below ",
                                            flags.check, " x the initial ", initial));
  }
  if (world.rank() == 0) std::printf("braid_custom_model: OK\n");
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"braid_custom_model: a user-defined model trained data parallel"};
  Flags flags;
  app.add_option("--backend", flags.backend, "tcp, mpi or nccl (default: BRAID_BACKEND, tcp)");
  app.add_option("--steps", flags.steps, "optimizer steps")->capture_default_str();
  app.add_option("--batch", flags.batch, "rows per rank per step")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--hidden", flags.hidden, "hidden units")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--lr", flags.lr, "AdamW learning rate")->capture_default_str();
  app.add_option("--seed", flags.seed, "seed of the weights and the data")->capture_default_str();
  app.add_option("--check", flags.check, "fail unless held-out loss < check x initial")
      ->capture_default_str();
  app.add_option("--timeout", flags.timeout_s, "seconds bootstrap or a collective may take")
      ->capture_default_str()->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const absl::Status status = Run(flags, argv[0]);
  if (!status.ok()) {
    std::fprintf(stderr, "braid_custom_model: FAILED: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
