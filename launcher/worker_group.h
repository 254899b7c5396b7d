// WorkerGroup: the worker processes of one braidrun agent (one node).
//
// Starts workers through a ProcessSpawner, routes their output through an
// OutputForwarder, notices exits, stops them (SIGTERM to each worker's
// process group, SIGKILL after a grace period) and gathers what the failure
// report needs (failure_report.h). It knows nothing of rendezvous: the agent
// gives it the environment of each worker, to which it adds the worker's
// error file (BRAID_ERROR_FILE and TORCHELASTIC_ERROR_FILE, both
// run_dir/attempt_N/LOCAL_RANK/error.json; a stale file there is removed
// before the worker starts).
//
// Thread-safety: thread-compatible; the agent's main thread owns it (Spawn
// must run on a thread that outlives the workers, see process.h).
#ifndef BRAID_LAUNCHER_WORKER_GROUP_H_
#define BRAID_LAUNCHER_WORKER_GROUP_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "launcher/failure_report.h"
#include "launcher/flags.h"
#include "launcher/output.h"
#include "launcher/process.h"

namespace braid::launcher {

struct WorkerGroupOptions {
  // Borrowed; must outlive the group. REQUIRED.
  ProcessSpawner* spawner = nullptr;
  OutputForwarder* output = nullptr;
  // Program and arguments of every worker. REQUIRED non-empty.
  std::vector<std::string> command;
  // Console descriptors (braidrun's stdout and stderr).
  int stdout_fd = 1;
  int stderr_fd = 2;
  // Logs under log_dir/run_id/attempt_N/LOCAL_RANK/{stdout,stderr}.log when
  // log_dir is set. `redirects` streams go only to the files.
  std::string log_dir;
  std::string run_id = "none";
  StreamSelection redirects;
  // Local ranks whose output reaches the console; empty: all. The others'
  // output still goes to the log files and into TailLines.
  std::set<int> local_ranks_filter;
  // Folder of the workers' error files (see the file comment). REQUIRED.
  std::string run_dir;
  // CPUs of each local rank (--cpu-bind cores); empty: inherit.
  std::vector<std::vector<int>> cpu_shares;
};

// One worker as last seen.
struct WorkerStatus {
  int local_rank = -1;
  int global_rank = -1;
  pid_t pid = -1;
  int attempt = 0;  // restart count it was started with
  uint64_t output_id = 0;
  bool running = false;
  std::optional<ExitInfo> exit;  // set once it ended
  absl::Time ended = absl::InfinitePast();  // when braidrun saw it end
  std::string error_file;                   // its BRAID_ERROR_FILE
};

class WorkerGroup {
 public:
  explicit WorkerGroup(const WorkerGroupOptions& options);
  // Kills (SIGKILL) and reaps any worker still running.
  ~WorkerGroup();
  WorkerGroup(const WorkerGroup&) = delete;
  WorkerGroup& operator=(const WorkerGroup&) = delete;

  // Starts (or restarts) the worker `local_rank` with environment `env`
  // ("NAME=value" entries). kFailedPrecondition when that worker still runs;
  // spawn errors as ProcessSpawner::Spawn.
  absl::Status Start(int local_rank, int global_rank, int attempt,
                     const std::vector<std::string>& env);

  // Reaps workers that ended since the last call and returns their local
  // ranks (ascending). Never blocks.
  absl::StatusOr<std::vector<int>> PollExits();

  // Stops every running worker: `sig` to each process group, SIGKILL to those
  // still running after `grace`, then reaps them (bounded: kInternal naming
  // the pids if a SIGKILLed worker is still not reaped after 10 s).
  absl::Status StopAll(int sig, absl::Duration grace);

  // Waits (up to `deadline`) until the output of the worker has been
  // forwarded completely, so its last lines are in TailLines.
  void DrainOutput(int local_rank, absl::Time deadline);

  // What the failure report needs of the workers `failed` (local ranks that
  // ended badly) and of every other worker that left an error record (a
  // worker braidrun stopped may have failed first). Ordered by local rank.
  std::vector<WorkerFailure> CollectFailures(const std::vector<int>& failed) const;

  // The record in the worker's error file; nullopt when it wrote none or the
  // file is malformed.
  std::optional<runtime::ErrorRecord> ReadError(int local_rank) const;

  const std::map<int, WorkerStatus>& workers() const { return workers_; }
  int running_count() const;
  bool all_succeeded() const;

 private:
  WorkerGroupOptions options_;
  std::map<int, WorkerStatus> workers_;  // by local rank
  uint64_t next_output_id_ = 1;
};

}  // namespace braid::launcher

#endif  // BRAID_LAUNCHER_WORKER_GROUP_H_
