// braid_smoke: the first program to read. It bootstraps the job however it
// was launched, checks a few collectives and times a 1 MB all-reduce.
//
//   braid_smoke                                        # one process
//   braidrun --standalone --nproc-per-node 4 braid_smoke
//   mpirun -np 4 braid_smoke --backend=mpi             # or --backend=tcp
//   braidrun --nproc-per-node 4 braid_smoke --fail-rank 2   # see the root cause
//
// A rank that fails records its error in its error file (BRAID_ERROR_FILE,
// runtime/error_file.h), so braidrun's failure report names the rank that
// failed first and why. --fail-rank K makes rank K fail on purpose after
// bootstrap (--fail-mode error: return an error; segv / abort: crash, which
// the fatal-signal handler records); the other ranks then fail their next
// collective because K is gone.
//
// Every rank prints its world line; rank 0 prints the timing and "OK". The
// exit status is 0 only when every check passed on this rank.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "collectives/communicator.h"
#include "elastic/bootstrap/bootstrap.h"
#include "runtime/error_file.h"
#include "runtime/status_macros.h"
#include "runtime/tensor.h"
#include "runtime/trace.h"

namespace {

using braid::collectives::Communicator;
using braid::collectives::ReduceOp;
using braid::runtime::DType;
using braid::runtime::Tensor;

struct Flags {
  std::string backend;
  double size_mb = 1.0;
  int iters = 20;
  double timeout_s = 120;
  int fail_rank = -1;
  std::string fail_mode = "error";
};

// --fail-rank: this rank fails now, the way --fail-mode says.
absl::Status InjectFailure(const Flags& flags, int rank) {
  if (flags.fail_mode == "segv") {
    volatile int* volatile nowhere = nullptr;
    *nowhere = rank;
  } else if (flags.fail_mode == "abort") {
    std::abort();
  }
  return absl::InternalError(absl::StrCat("braid_smoke: injected failure on rank ", rank,
                                          " (--fail-rank ", flags.fail_rank, ")"));
}

absl::Time Deadline(const Flags& flags) { return absl::Now() + absl::Seconds(flags.timeout_s); }

// A check that failed on this rank.
absl::Status Mismatch(absl::string_view what, int64_t index, double got, double want) {
  return absl::InternalError(
      absl::StrCat(what, ": element ", index, " is ", got, ", expected ", want));
}

// All-reduce of a tensor of (rank + 1): every element must be n(n+1)/2.
absl::Status CheckAllReduce(Communicator& comm, const Flags& flags) {
  const int n = comm.size();
  BRAID_ASSIGN_OR_RETURN(Tensor t, Tensor::Full({4096}, DType::kF32, comm.rank() + 1.0));
  BRAID_RETURN_IF_ERROR(comm.AllReduce(t, t, ReduceOp::kSum)->Wait(Deadline(flags)));
  const double want = n * (n + 1) / 2.0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (t.data<float>()[i] != want) return Mismatch("all-reduce", i, t.data<float>()[i], want);
  }
  return absl::OkStatus();
}

// All-gather of each rank's number: element i must be i.
absl::Status CheckAllGather(Communicator& comm, const Flags& flags) {
  BRAID_ASSIGN_OR_RETURN(Tensor mine, Tensor::Full({1}, DType::kI32, comm.rank()));
  BRAID_ASSIGN_OR_RETURN(Tensor all, Tensor::Zeros({comm.size()}, DType::kI32));
  BRAID_RETURN_IF_ERROR(comm.AllGather(mine, all)->Wait(Deadline(flags)));
  for (int i = 0; i < comm.size(); ++i) {
    if (all.data<int32_t>()[i] != i) return Mismatch("all-gather", i, all.data<int32_t>()[i], i);
  }
  return absl::OkStatus();
}

// Broadcast from the last rank: everyone ends with its values.
absl::Status CheckBroadcast(Communicator& comm, const Flags& flags) {
  const int root = comm.size() - 1;
  BRAID_ASSIGN_OR_RETURN(Tensor t, Tensor::Zeros({257}, DType::kI64));
  if (comm.rank() == root) {
    for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = 1000 * root + i;
  }
  BRAID_RETURN_IF_ERROR(comm.Broadcast(t, root)->Wait(Deadline(flags)));
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int64_t want = 1000 * root + i;
    if (t.data<int64_t>()[i] != want) return Mismatch("broadcast", i, t.data<int64_t>()[i], want);
  }
  return absl::OkStatus();
}

// Times `iters` all-reduces of size_mb MB of f32 (after one warm-up) and
// checks the last result. Returns the mean seconds per all-reduce.
absl::StatusOr<double> TimeAllReduce(Communicator& comm, const Flags& flags,
                                     braid::runtime::Tracer& tracer) {
  const int64_t numel = std::max<int64_t>(1, static_cast<int64_t>(flags.size_mb * (1 << 20) / 4));
  BRAID_ASSIGN_OR_RETURN(Tensor input, Tensor::Full({numel}, DType::kF32, 1.0));
  BRAID_ASSIGN_OR_RETURN(Tensor output, Tensor::Zeros({numel}, DType::kF32));
  BRAID_RETURN_IF_ERROR(comm.AllReduce(input, output, ReduceOp::kSum)->Wait(Deadline(flags)));
  BRAID_RETURN_IF_ERROR(comm.Barrier()->Wait(Deadline(flags)));
  const absl::Time start = absl::Now();
  for (int i = 0; i < flags.iters; ++i) {
    braid::runtime::ScopedSpan span(tracer, "allreduce", braid::runtime::Category::kCommunication);
    BRAID_RETURN_IF_ERROR(comm.AllReduce(input, output, ReduceOp::kSum)->Wait(Deadline(flags)));
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start) / std::max(1, flags.iters);
  for (int64_t i = 0; i < numel; i += 997) {
    if (output.data<float>()[i] != comm.size()) {
      return Mismatch("timed all-reduce", i, output.data<float>()[i], comm.size());
    }
  }
  return seconds;
}

absl::Status Run(const Flags& flags, const char* program) {
  braid::elastic::BootstrapOptions options;
  options.backend = flags.backend;
  options.program = program;
  options.timeout = absl::Seconds(flags.timeout_s);
  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<braid::elastic::Context> context,
                         braid::elastic::Bootstrap(options));
  Communicator& comm = context->communicator();
  std::printf("braid_smoke: %s\n", context->DebugString().c_str());
  std::fflush(stdout);
  if (comm.rank() == flags.fail_rank) return InjectFailure(flags, comm.rank());

  BRAID_RETURN_IF_ERROR(CheckAllReduce(comm, flags));
  BRAID_RETURN_IF_ERROR(CheckAllGather(comm, flags));
  BRAID_RETURN_IF_ERROR(CheckBroadcast(comm, flags));
  BRAID_RETURN_IF_ERROR(comm.Barrier()->Wait(Deadline(flags)));
  BRAID_ASSIGN_OR_RETURN(double seconds, TimeAllReduce(comm, flags, context->tracer()));

  // Everyone agrees that everyone passed (a rank that failed above has
  // returned, and the others' next collective reports it).
  BRAID_RETURN_IF_ERROR(comm.Barrier()->Wait(Deadline(flags)));
  if (comm.rank() == 0) {
    const int n = comm.size();
    const double bytes = flags.size_mb * (1 << 20);
    const double algbw = bytes / seconds / 1e9;
    std::printf(
        "braid_smoke: all-reduce %.3g MB x %d on %d ranks (%s): %.1f us, algbw %.3f GB/s, "
        "busbw %.3f GB/s\nbraid_smoke: OK\n",
        flags.size_mb, flags.iters, n, std::string(comm.backend()).c_str(), seconds * 1e6, algbw,
        n > 1 ? algbw * 2.0 * (n - 1) / n : algbw);
    std::fflush(stdout);
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"braid_smoke: bootstrap the job, check collectives, time an all-reduce"};
  Flags flags;
  app.add_option("--backend", flags.backend,
                 "collective backend: tcp, mpi, nccl or cpu:tcp,cuda:nccl (default: "
                 "BRAID_BACKEND, else tcp)");
  app.add_option("--size-mb", flags.size_mb, "size of the timed all-reduce in MB (default 1)")
      ->check(CLI::PositiveNumber);
  app.add_option("--iters", flags.iters, "timed all-reduces (default 20)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--timeout", flags.timeout_s,
                 "seconds any step (bootstrap, one collective) may take (default 120)")
      ->check(CLI::PositiveNumber);
  app.add_option("--fail-rank", flags.fail_rank,
                 "this rank fails on purpose after bootstrap (to see braidrun's failure report)");
  app.add_option("--fail-mode", flags.fail_mode,
                 "how --fail-rank fails: error (default; returns an error), segv or abort")
      ->check(CLI::IsMember({"error", "segv", "abort"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const absl::Status status = Run(flags, argv[0]);
  if (!status.ok()) {
    // For braidrun's failure report (no-op when not launched with an error file).
    (void)braid::runtime::RecordError(status);
    std::fprintf(stderr, "braid_smoke: FAILED: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
