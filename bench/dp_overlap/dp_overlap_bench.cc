// dp_overlap_bench: how much of DataParallel's gradient communication the
// backward hides. Per step of a stack of Linear layers it measures, in the
// same run, interleaved, on every rank:
//   compute  the same step on a world of one (every rank its own Split
//            communicator: nothing to reduce), one barrier per step;
//   comm     the step's bucket all-reduces alone, posted back to back (same
//            bucket sizes as DataParallel made);
//   overlap  the data-parallel step: forward + backward with buckets posted
//            from the gradient hook as they fill, then FinishGradients;
//   serial   the same with overlap off (all buckets posted after the backward).
// Each figure is the slowest rank's time; the table shows medians over the
// repeats and the ratio overlap / max(compute, comm): 1.0 is perfect overlap,
// (compute + comm) / max(compute, comm) is none.
//
//   braidrun --standalone --nproc-per-node 2 dp_overlap_bench
//   braidrun --standalone --nproc-per-node 4 dp_overlap_bench --rows 32
//   mpirun -np 2 dp_overlap_bench --backend=mpi
//   BRAID_TRACE=/tmp/trace braidrun ... dp_overlap_bench --repeats 3   # Perfetto pictures
//
// Rank 0 prints the table and one `csv,...` line per run (bench/dp_overlap/
// README.md has the latest numbers and what the trace shows).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "elastic/bootstrap/bootstrap.h"
#include "nn/context.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/sequential.h"
#include "parallelism/bucket_plan.h"
#include "parallelism/data_parallel.h"
#include "runtime/status_macros.h"
#include "runtime/tensor.h"
#include "runtime/trace.h"

namespace {

using braid::collectives::Communicator;
using braid::runtime::DType;
using braid::runtime::Tensor;
namespace nn = braid::nn;
namespace parallelism = braid::parallelism;

struct Flags {
  std::string backend;
  int64_t dim = 512;
  int layers = 8;
  int64_t rows = 64;
  double bucket_mb = 1.0;
  int iters = 3;     // steps per measurement
  int repeats = 11;  // interleaved measurements of each kind
  int warmup = 2;
  double timeout_s = 120;
  bool verbose = false;  // print every repeat's figures
  // Backward layer by layer (B, W per layer) instead of Sequential's all-B
  // then all-W order (what zero-bubble pipelines want, but it leaves no
  // gradient ready until the W pass).
  bool interleave = true;
};

enum class Kind { kCompute, kComm, kOverlap, kSerial };
constexpr Kind kKinds[] = {Kind::kCompute, Kind::kComm, Kind::kOverlap, Kind::kSerial};

// One model with its DataParallel wrapper; two of them (overlap on/off) so
// switching kinds costs nothing.
struct Replica {
  std::unique_ptr<nn::Sequential> model;
  std::unique_ptr<parallelism::DataParallel> dp;
};

absl::StatusOr<Replica> MakeReplica(const Flags& f, Communicator& world,
                                    braid::runtime::Tracer& tracer, bool overlap) {
  Replica r;
  BRAID_ASSIGN_OR_RETURN(r.model, nn::Sequential::Create());
  for (int i = 0; i < f.layers; ++i) {
    BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::Linear> fc,
                           nn::Linear::Create({.in_features = f.dim, .out_features = f.dim}));
    BRAID_RETURN_IF_ERROR(r.model->Append(absl::StrCat("fc", i), std::move(fc)));
  }
  BRAID_RETURN_IF_ERROR(r.model->Initialize(1));
  BRAID_ASSIGN_OR_RETURN(
      r.dp, parallelism::DataParallel::Create(
                r.model->NamedParameters(), world,
                {.bucket_bytes = static_cast<size_t>(f.bucket_mb * (1 << 20)),
                 .overlap = overlap,
                 .tracer = &tracer}));
  return r;
}

// Flat buffers of the sizes of DataParallel's buckets: the same plan
// (parallelism/bucket_plan.h) over the gradients in backward order.
absl::StatusOr<std::vector<Tensor>> BucketBuffers(nn::Layer& model, const Flags& f, int shards,
                                                  int expected_buckets) {
  std::vector<int64_t> numels;
  for (const nn::NamedParameter& p : model.NamedParameters()) {
    numels.insert(numels.begin(), p.parameter->grad.numel());
  }
  const parallelism::BucketLayout layout =
      parallelism::PlanBuckets(numels, static_cast<size_t>(f.bucket_mb * (1 << 20)), shards);
  if (static_cast<int>(layout.buckets.size()) != expected_buckets) {
    return absl::InternalError(absl::StrCat("bucket plan has ", layout.buckets.size(),
                                            " buckets, DataParallel ", expected_buckets));
  }
  std::vector<Tensor> out;
  for (const parallelism::BucketPlan& b : layout.buckets) {
    BRAID_ASSIGN_OR_RETURN(Tensor t, Tensor::Zeros({b.padded_numel}, DType::kF32));
    out.push_back(std::move(t));
  }
  return out;
}

class Bench {
 public:
  Bench(const Flags& f, Communicator& world, braid::runtime::Tracer& tracer)
      : f_(f), world_(world), tracer_(tracer) {}

  absl::Status Setup() {
    // Every rank its own world of one: "compute alone" runs the same
    // DataParallel code with nothing to communicate.
    BRAID_ASSIGN_OR_RETURN(self_, world_.Split(world_.rank(), 0, Deadline()));
    BRAID_ASSIGN_OR_RETURN(alone_, MakeReplica(f_, *self_, tracer_, true));
    BRAID_ASSIGN_OR_RETURN(with_overlap_, MakeReplica(f_, world_, tracer_, true));
    BRAID_ASSIGN_OR_RETURN(without_overlap_, MakeReplica(f_, world_, tracer_, false));
    BRAID_ASSIGN_OR_RETURN(buckets_, BucketBuffers(*with_overlap_.model, f_, world_.size(),
                                                   with_overlap_.dp->num_buckets()));
    BRAID_ASSIGN_OR_RETURN(x_, Tensor::Empty({f_.rows, f_.dim}, DType::kF32));
    BRAID_RETURN_IF_ERROR(nn::InitNormal(x_, 1.0f, 2, world_.rank()));
    BRAID_ASSIGN_OR_RETURN(dy_, Tensor::Full({f_.rows, f_.dim}, DType::kF32, 1.0 / f_.rows));
    return absl::OkStatus();
  }

  // Seconds per step of `kind` (this rank), over f_.iters steps.
  absl::StatusOr<double> Measure(Kind kind) {
    BRAID_RETURN_IF_ERROR(world_.Barrier()->Wait(Deadline()));
    const absl::Time start = absl::Now();
    for (int i = 0; i < f_.iters; ++i) {
      switch (kind) {
        case Kind::kCompute:
          // The same step on a world of one (nothing to reduce), plus a
          // barrier so the ranks stay in step as they do in a real step.
          BRAID_RETURN_IF_ERROR(DataParallelStep(alone_));
          BRAID_RETURN_IF_ERROR(world_.Barrier()->Wait(Deadline()));
          break;
        case Kind::kComm:
          BRAID_RETURN_IF_ERROR(AllReduceBuckets());
          break;
        case Kind::kOverlap:
          BRAID_RETURN_IF_ERROR(DataParallelStep(with_overlap_));
          break;
        case Kind::kSerial:
          BRAID_RETURN_IF_ERROR(DataParallelStep(without_overlap_));
          break;
      }
    }
    return absl::ToDoubleSeconds(absl::Now() - start) / f_.iters;
  }

  int64_t gradient_bytes() const {
    int64_t n = 0;
    for (const Tensor& b : buckets_) n += b.nbytes();
    return n;
  }
  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  int64_t num_parameters() const { return with_overlap_.model->NumParameters(); }

 private:
  absl::Time Deadline() const { return absl::Now() + absl::Seconds(f_.timeout_s); }

  absl::Status ForwardBackward(nn::Sequential& model, nn::GradientHook* hook) {
    using braid::runtime::Category;
    using braid::runtime::ScopedSpan;
    nn::Context ctx({.tracer = &tracer_, .gradient_hook = hook});
    Tensor y;
    {
      ScopedSpan span(tracer_, "forward", Category::kCompute);
      BRAID_ASSIGN_OR_RETURN(y, model.Forward(ctx, x_));
    }
    ScopedSpan span(tracer_, "backward", Category::kCompute);
    if (!f_.interleave) return model.Backward(ctx, dy_).status();
    // Layer by layer, BackwardInput then BackwardWeight, so gradients become
    // ready all through the backward instead of only in a final W pass.
    Tensor dy = dy_;
    for (size_t i = model.size(); i-- > 0;) {
      BRAID_ASSIGN_OR_RETURN(dy, model.layer(i).BackwardInput(ctx, dy));
      BRAID_RETURN_IF_ERROR(model.layer(i).BackwardWeight(ctx));
    }
    return absl::OkStatus();
  }

  absl::Status DataParallelStep(Replica& r) {
    BRAID_ASSIGN_OR_RETURN(nn::GradientHook * hook, r.dp->BeginMicrobatch(0, 1));
    BRAID_RETURN_IF_ERROR(ForwardBackward(*r.model, hook));
    braid::runtime::ScopedSpan span(tracer_, "finish gradients",
                                    braid::runtime::Category::kIdle);
    return r.dp->FinishGradients(Deadline());
  }

  absl::Status AllReduceBuckets() {
    braid::runtime::ScopedSpan span(tracer_, "bench comm alone",
                                    braid::runtime::Category::kCommunication);
    std::vector<std::shared_ptr<braid::collectives::Work>> works;
    for (Tensor& b : buckets_) {
      works.push_back(world_.AllReduce(b, b, braid::collectives::ReduceOp::kSum));
    }
    for (auto& w : works) BRAID_RETURN_IF_ERROR(w->Wait(Deadline()));
    return absl::OkStatus();
  }

  const Flags& f_;
  Communicator& world_;
  braid::runtime::Tracer& tracer_;
  std::unique_ptr<Communicator> self_;
  Replica alone_;
  Replica with_overlap_;
  Replica without_overlap_;
  std::vector<Tensor> buckets_;
  Tensor x_;
  Tensor dy_;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

absl::Status Run(const Flags& f, const char* program) {
  braid::elastic::BootstrapOptions options;
  options.backend = f.backend;
  options.program = program;
  options.timeout = absl::Seconds(f.timeout_s);
  BRAID_ASSIGN_OR_RETURN(auto context, braid::elastic::Bootstrap(options));
  Communicator& world = context->communicator();
  Bench bench(f, world, context->tracer());
  BRAID_RETURN_IF_ERROR(bench.Setup());

  for (int i = 0; i < f.warmup; ++i) {
    for (Kind kind : kKinds) BRAID_RETURN_IF_ERROR(bench.Measure(kind).status());
  }
  std::map<Kind, std::vector<double>> seconds;
  for (int rep = 0; rep < f.repeats; ++rep) {
    // Rotate the order so no kind always follows the same one.
    BRAID_ASSIGN_OR_RETURN(Tensor times, Tensor::Zeros({4}, DType::kF32));
    for (int k = 0; k < 4; ++k) {
      const Kind kind = kKinds[(k + rep) % 4];
      BRAID_ASSIGN_OR_RETURN(double s, bench.Measure(kind));
      times.data<float>()[static_cast<int>(kind)] = static_cast<float>(s);
    }
    // A step takes as long as its slowest rank.
    BRAID_RETURN_IF_ERROR(world.AllReduce(times, times, braid::collectives::ReduceOp::kMax)
                              ->Wait(absl::Now() + absl::Seconds(f.timeout_s)));
    for (Kind kind : kKinds) seconds[kind].push_back(times.data<float>()[static_cast<int>(kind)]);
    if (f.verbose && world.rank() == 0) {
      std::printf("repeat %2d: compute %.2f comm %.2f overlap %.2f serial %.2f ms\n", rep,
                  times.data<float>()[0] * 1e3, times.data<float>()[1] * 1e3,
                  times.data<float>()[2] * 1e3, times.data<float>()[3] * 1e3);
    }
  }
  if (world.rank() == 0) {
    const double compute = Median(seconds[Kind::kCompute]) * 1e3;
    const double comm = Median(seconds[Kind::kComm]) * 1e3;
    const double overlap = Median(seconds[Kind::kOverlap]) * 1e3;
    const double serial = Median(seconds[Kind::kSerial]) * 1e3;
    const double bound = std::max(compute, comm);
    const double hidden = std::min(compute, comm) > 0
                              ? (compute + comm - overlap) / std::min(compute, comm)
                              : 0.0;
    std::printf(
        "dp_overlap_bench: %d ranks (%s), %d x Linear(%lld, %lld), %lld rows/rank, %lld "
        "parameters, %.2f MB of gradients in %d buckets, %s backward; medians of %d repeats x %d "
        "steps\n",
        world.size(), std::string(world.backend()).c_str(), f.layers,
        static_cast<long long>(f.dim), static_cast<long long>(f.dim),
        static_cast<long long>(f.rows), static_cast<long long>(bench.num_parameters()),
        bench.gradient_bytes() / 1048576.0, bench.num_buckets(),
        f.interleave ? "layer-by-layer" : "all-B-then-all-W", f.repeats, f.iters);
    std::printf("  %-28s %9.2f ms\n", "compute alone", compute);
    std::printf("  %-28s %9.2f ms\n", "communication alone", comm);
    std::printf("  %-28s %9.2f ms   x%.2f of max(compute, comm)\n", "step, overlap on", overlap,
                overlap / bound);
    std::printf("  %-28s %9.2f ms   x%.2f of max(compute, comm)\n", "step, overlap off", serial,
                serial / bound);
    std::printf("  %-28s %9.0f %%\n", "communication hidden", 100.0 * hidden);
    std::printf(
        "csv,ranks,backend,backward,dim,layers,rows,grad_mb,buckets,compute_ms,comm_ms,"
        "overlap_ms,serial_ms,ratio_overlap,ratio_serial\n");
    std::printf("csv,%d,%s,%s,%lld,%d,%lld,%.3f,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f\n",
                world.size(), std::string(world.backend()).c_str(),
                f.interleave ? "layered" : "split", static_cast<long long>(f.dim), f.layers,
                static_cast<long long>(f.rows), bench.gradient_bytes() / 1048576.0,
                bench.num_buckets(), compute, comm, overlap, serial, overlap / bound,
                serial / bound);
    std::fflush(stdout);
  }
  return world.Barrier()->Wait(absl::Now() + absl::Seconds(f.timeout_s));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dp_overlap_bench: DataParallel step time with and without overlap"};
  Flags f;
  app.add_option("--backend", f.backend, "tcp, mpi or nccl (default: BRAID_BACKEND, tcp)");
  app.add_option("--dim", f.dim, "Linear width")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--layers", f.layers, "Linear layers")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--rows", f.rows, "rows per rank (sets compute time)")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--bucket-mb", f.bucket_mb, "DataParallel bucket size")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--iters", f.iters, "steps per measurement")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--repeats", f.repeats, "interleaved measurements of each kind")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup", f.warmup, "untimed rounds first")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--timeout", f.timeout_s, "seconds bootstrap or a collective may take")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_flag("--verbose", f.verbose, "print every repeat's figures");
  app.add_flag("--interleave,!--no-interleave", f.interleave,
               "backward layer by layer (default) or Sequential's all-B-then-all-W order");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const absl::Status status = Run(f, argv[0]);
  if (!status.ok()) {
    std::fprintf(stderr, "dp_overlap_bench: FAILED: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
