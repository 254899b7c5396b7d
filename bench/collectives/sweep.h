// The measurement loop every collectives_bench worker runs, whatever the
// implementation under test (braid's tcp / mpi / nccl backend, Open MPI,
// Gloo): one BenchGroup per rank, the same sweep of ops and sizes, the same
// timing rules, the same result file.
//
// Timing (nccl-tests style): per (op, size) `warmup` untimed runs, a barrier,
// then `iters` back-to-back blocking runs timed on rank 0; time = elapsed /
// iters. Iterations shrink with size (iters = clamp(iter_budget_bytes /
// size, min_iters, iters)) so a 256 MB sweep stays bounded. After the timed
// runs every rank checks its output (inputs are rank+1 everywhere), so a
// fast but wrong implementation fails the run (kDataLoss).
// Latency: `latency_iters` single 8-byte (2 x f32) all-reduces, each timed
// on rank 0 alone; p50 and p99.
//
// Result file (written by rank 0 only), one record per line:
//   op <name> <bytes> <iters> <time_us>
//   skip <name> <reason...>
//   lat allreduce 8 <p50_us> <p99_us> <iters>
//
// Thread-safety: a BenchGroup is used from one thread.
#ifndef BRAID_BENCH_COLLECTIVES_SWEEP_H_
#define BRAID_BENCH_COLLECTIVES_SWEEP_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/collectives/bench_util.h"

namespace braid::bench {

// One rank's handle on the implementation under test.
class BenchGroup {
 public:
  virtual ~BenchGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Empty when `op` is supported, else why not (the sweep records a skip).
  virtual std::string Unsupported(BenchOp op) const { return ""; }
  // Sets up `op` on f32 buffers laid out as OpBufferCounts(op,
  // size_elements, size()) says (broadcast: root 0, in place on `out`).
  // The buffers stay valid until the next Prepare.
  virtual absl::Status Prepare(BenchOp op, float* in, float* out, int64_t size_elements) = 0;
  // Runs the prepared op once and returns when it completed on this rank.
  virtual absl::Status RunOnce() = 0;
  // Makes the last run's output visible in the host buffer given to Prepare
  // (a device implementation copies it back); outside the timed loop.
  virtual absl::Status Finish() { return absl::OkStatus(); }
  virtual absl::Status Barrier() = 0;
};

struct SweepOptions {
  std::vector<BenchOp> ops = {BenchOp::kAllReduce};
  std::vector<int64_t> sizes;  // bytes
  int iters = 200;
  int min_iters = 3;
  int warmup = 5;
  int64_t iter_budget_bytes = int64_t{128} << 20;
  // 0: no latency measurement.
  int latency_iters = 1000;
};

// Timed iterations for `bytes` (see the file comment).
int ItersFor(const SweepOptions& options, int64_t bytes);
int WarmupFor(const SweepOptions& options, int64_t bytes);

// Runs the sweep on this rank; rank 0 writes `result_path`. Errors of the
// implementation, or a wrong result (kDataLoss), end the sweep.
absl::Status RunSweep(BenchGroup& group, const SweepOptions& options,
                      const std::string& result_path);

// A parsed result file.
struct SweepResult {
  // (op, bytes) -> average time per op in microseconds.
  std::map<std::pair<BenchOp, int64_t>, double> time_us;
  std::map<std::pair<BenchOp, int64_t>, int> iters;
  std::map<BenchOp, std::string> skipped;
  double latency_p50_us = -1;
  double latency_p99_us = -1;
};

// kNotFound when the file is missing, kDataLoss when a line is malformed.
absl::StatusOr<SweepResult> ReadSweepResult(const std::string& path);

}  // namespace braid::bench

#endif  // BRAID_BENCH_COLLECTIVES_SWEEP_H_
