// Shared pieces of collectives_bench and fault_bench: the benchmarked
// operations and their nccl-tests bandwidth conventions, percentiles, and
// starting / reaping groups of rank processes with a wall-clock bound.
//
// Conventions (nccl-tests, PERFORMANCE.md): "size" is the bytes of the
// largest buffer of the operation (all-reduce: the buffer; reduce-scatter:
// the input; all-gather: the output; broadcast: the buffer; all-to-all: the
// input), algbw = size / time, busbw = algbw * BusBwFactor(op, ranks).
//
// Thread-safety: the functions are thread-compatible; ProcessGroup is not
// thread-safe (one owner).
#ifndef BRAID_BENCH_COLLECTIVES_BENCH_UTIL_H_
#define BRAID_BENCH_COLLECTIVES_BENCH_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace braid::bench {

enum class BenchOp : uint8_t {
  kAllReduce = 0,
  kReduceScatter = 1,
  kAllGather = 2,
  kBroadcast = 3,
  kAllToAll = 4,
};

// "allreduce", "reducescatter", "allgather", "broadcast", "alltoall".
absl::string_view ToString(BenchOp op);
// Parses the names above; kInvalidArgument otherwise.
absl::StatusOr<BenchOp> ParseBenchOp(absl::string_view name);
// Parses a comma-separated list of op names.
absl::StatusOr<std::vector<BenchOp>> ParseBenchOps(absl::string_view list);

// busbw / algbw: all-reduce 2(n-1)/n; reduce-scatter, all-gather and
// all-to-all (n-1)/n; broadcast 1.
double BusBwFactor(BenchOp op, int ranks);

// The element count (f32) of the operation's largest buffer for a nominal
// `bytes`: bytes / 4, rounded down to a multiple of `ranks` where the op
// splits the buffer in per-rank chunks. At least `ranks` (one per rank).
int64_t SizeElements(BenchOp op, int64_t bytes, int ranks);

// Element counts of the input and output buffers of `op` when its largest
// buffer has `size_elements` elements. Broadcast works in place on output.
struct BufferCounts {
  int64_t input = 0;
  int64_t output = 0;
};
BufferCounts OpBufferCounts(BenchOp op, int64_t size_elements, int ranks);

// The sizes min, min*factor, ... up to max (inclusive), in bytes.
std::vector<int64_t> SizeSweep(int64_t min_bytes, int64_t max_bytes, int64_t factor);

// The p-th percentile (0..100, nearest rank) of `values`; 0 when empty.
double Percentile(std::vector<double> values, double p);
inline double Median(std::vector<double> values) { return Percentile(std::move(values), 50); }

// CLOCK_MONOTONIC in nanoseconds: comparable across the processes of one
// machine (the kill time in the parent vs the error time in a survivor).
int64_t MonotonicNanos();

// "4K", "1M", "256M" for power-of-two byte counts, else the number.
std::string FormatBytes(int64_t bytes);

// A set of child processes in one process group (the first child's), started
// with posix_spawn and bounded in time.
class ProcessGroup {
 public:
  ProcessGroup() = default;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;
  // Kills (SIGKILL to the group) and reaps whatever is still running.
  ~ProcessGroup();

  // Starts argv[0] (a path) with `argv`, the parent's environment plus
  // `extra_env`. Returns the child's pid; kInternal when spawning fails.
  absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                              const std::map<std::string, std::string>& extra_env = {});

  // How one child ended.
  struct Exit {
    pid_t pid = -1;
    bool exited = false;
    int exit_code = -1;
    int signal = 0;
    bool timed_out = false;
    bool ok() const { return exited && exit_code == 0 && !timed_out; }
  };

  // Waits for every child until `deadline`, then kills the group (SIGKILL)
  // and reaps it (timed_out set). Exits in spawn order.
  std::vector<Exit> WaitAll(absl::Time deadline);

  // Sends SIGKILL to one child (by pid); it is still reaped by WaitAll.
  void Kill(pid_t pid);

  const std::vector<pid_t>& pids() const { return pids_; }

 private:
  void KillGroupAndReap();

  std::vector<pid_t> pids_;
  std::map<pid_t, Exit> exits_;
  pid_t pgid_ = 0;
};

// "exit 0", "signal 9", "timed out" for `exits`, one per line with pids.
std::string Summarize(const std::vector<ProcessGroup::Exit>& exits);
bool AllOk(const std::vector<ProcessGroup::Exit>& exits);

// The absolute path of the running executable (/proc/self/exe resolved).
std::string SelfExe();

}  // namespace braid::bench

#endif  // BRAID_BENCH_COLLECTIVES_BENCH_UTIL_H_
