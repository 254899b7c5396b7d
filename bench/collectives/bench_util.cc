#include "bench/collectives/bench_util.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

extern char** environ;

namespace braid::bench {

absl::string_view ToString(BenchOp op) {
  switch (op) {
    case BenchOp::kAllReduce:
      return "allreduce";
    case BenchOp::kReduceScatter:
      return "reducescatter";
    case BenchOp::kAllGather:
      return "allgather";
    case BenchOp::kBroadcast:
      return "broadcast";
    case BenchOp::kAllToAll:
      return "alltoall";
  }
  return "unknown";
}

absl::StatusOr<BenchOp> ParseBenchOp(absl::string_view name) {
  for (BenchOp op : {BenchOp::kAllReduce, BenchOp::kReduceScatter, BenchOp::kAllGather,
                     BenchOp::kBroadcast, BenchOp::kAllToAll}) {
    if (name == ToString(op)) return op;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown op '", name,
                   "'; use allreduce, reducescatter, allgather, broadcast or alltoall"));
}

absl::StatusOr<std::vector<BenchOp>> ParseBenchOps(absl::string_view list) {
  std::vector<BenchOp> ops;
  for (absl::string_view name : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    absl::StatusOr<BenchOp> op = ParseBenchOp(name);
    if (!op.ok()) return op.status();
    ops.push_back(*op);
  }
  if (ops.empty()) return absl::InvalidArgumentError("--ops names no operation");
  return ops;
}

double BusBwFactor(BenchOp op, int ranks) {
  const double n = ranks;
  switch (op) {
    case BenchOp::kAllReduce:
      return 2.0 * (n - 1) / n;
    case BenchOp::kReduceScatter:
    case BenchOp::kAllGather:
    case BenchOp::kAllToAll:
      return (n - 1) / n;
    case BenchOp::kBroadcast:
      return 1.0;
  }
  return 1.0;
}

int64_t SizeElements(BenchOp op, int64_t bytes, int ranks) {
  int64_t count = std::max<int64_t>(bytes / 4, 1);
  switch (op) {
    case BenchOp::kAllReduce:
    case BenchOp::kBroadcast:
      return count;
    case BenchOp::kReduceScatter:
    case BenchOp::kAllGather:
    case BenchOp::kAllToAll:
      return std::max<int64_t>(count / ranks, 1) * ranks;
  }
  return count;
}

BufferCounts OpBufferCounts(BenchOp op, int64_t size_elements, int ranks) {
  switch (op) {
    case BenchOp::kAllReduce:
    case BenchOp::kAllToAll:
      return {size_elements, size_elements};
    case BenchOp::kReduceScatter:
      return {size_elements, size_elements / ranks};
    case BenchOp::kAllGather:
      return {size_elements / ranks, size_elements};
    case BenchOp::kBroadcast:
      return {0, size_elements};
  }
  return {size_elements, size_elements};
}

std::vector<int64_t> SizeSweep(int64_t min_bytes, int64_t max_bytes, int64_t factor) {
  std::vector<int64_t> sizes;
  if (min_bytes <= 0 || factor < 2) return sizes;
  for (int64_t b = min_bytes; b <= max_bytes; b *= factor) {
    sizes.push_back(b);
    if (b > max_bytes / factor) break;
  }
  return sizes;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  // Nearest rank: the smallest value with at least p% of values <= it.
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const size_t index = static_cast<size_t>(std::clamp(rank, 1.0, double(values.size()))) - 1;
  return values[index];
}

int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::string FormatBytes(int64_t bytes) {
  if (bytes >= (int64_t{1} << 30) && bytes % (int64_t{1} << 30) == 0) {
    return absl::StrCat(bytes >> 30, "G");
  }
  if (bytes >= (1 << 20) && bytes % (1 << 20) == 0) return absl::StrCat(bytes >> 20, "M");
  if (bytes >= (1 << 10) && bytes % (1 << 10) == 0) return absl::StrCat(bytes >> 10, "K");
  return absl::StrCat(bytes);
}

ProcessGroup::~ProcessGroup() {
  if (exits_.size() < pids_.size()) KillGroupAndReap();
}

absl::StatusOr<pid_t> ProcessGroup::Spawn(const std::vector<std::string>& argv,
                                          const std::map<std::string, std::string>& extra_env) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    absl::string_view entry(*e);
    const size_t eq = entry.find('=');
    const std::string key(entry.substr(0, eq));
    if (extra_env.count(key) == 0) env_strings.emplace_back(entry);
  }
  for (const auto& [key, value] : extra_env) env_strings.push_back(absl::StrCat(key, "=", value));
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (std::string& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, pgid_);  // 0: a new group led by this child
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argp[0], nullptr, &attr, argp.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("posix_spawn ", argv[0], " failed: ", std::strerror(rc)));
  }
  if (pgid_ == 0) pgid_ = pid;
  pids_.push_back(pid);
  return pid;
}

void ProcessGroup::Kill(pid_t pid) { kill(pid, SIGKILL); }

std::vector<ProcessGroup::Exit> ProcessGroup::WaitAll(absl::Time deadline) {
  while (exits_.size() < pids_.size()) {
    bool reaped = false;
    for (pid_t pid : pids_) {
      if (exits_.count(pid) != 0) continue;
      int status = 0;
      const pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        Exit e;
        e.pid = pid;
        e.exited = WIFEXITED(status);
        e.exit_code = e.exited ? WEXITSTATUS(status) : -1;
        e.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        exits_[pid] = e;
        reaped = true;
      } else if (r < 0 && errno == ECHILD) {
        Exit e;
        e.pid = pid;
        exits_[pid] = e;
      }
    }
    if (exits_.size() == pids_.size()) break;
    if (absl::Now() >= deadline) {
      KillGroupAndReap();
      break;
    }
    // Reaping is not synchronisation: a short poll keeps this loop simple.
    if (!reaped) absl::SleepFor(absl::Milliseconds(2));
  }
  std::vector<Exit> out;
  for (pid_t pid : pids_) out.push_back(exits_[pid]);
  return out;
}

void ProcessGroup::KillGroupAndReap() {
  if (pgid_ > 0) kill(-pgid_, SIGKILL);
  for (pid_t pid : pids_) {
    if (exits_.count(pid) != 0) continue;
    kill(pid, SIGKILL);
    int status = 0;
    Exit e;
    e.pid = pid;
    if (waitpid(pid, &status, 0) == pid) {
      e.exited = WIFEXITED(status);
      e.exit_code = e.exited ? WEXITSTATUS(status) : -1;
      e.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    e.timed_out = true;
    exits_[pid] = e;
  }
}

std::string Summarize(const std::vector<ProcessGroup::Exit>& exits) {
  std::string out;
  for (size_t i = 0; i < exits.size(); ++i) {
    const ProcessGroup::Exit& e = exits[i];
    absl::StrAppend(&out, "  process ", i, " (pid ", e.pid, "): ");
    if (e.timed_out) {
      absl::StrAppend(&out, "timed out (killed)\n");
    } else if (e.exited) {
      absl::StrAppend(&out, "exit ", e.exit_code, "\n");
    } else {
      absl::StrAppend(&out, "signal ", e.signal, "\n");
    }
  }
  return out;
}

bool AllOk(const std::vector<ProcessGroup::Exit>& exits) {
  return std::all_of(exits.begin(), exits.end(), [](const ProcessGroup::Exit& e) { return e.ok(); });
}

std::string SelfExe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "/proc/self/exe";
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace braid::bench
