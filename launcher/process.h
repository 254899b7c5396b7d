// Process spawning for braidrun: start a worker program, signal it, wait for
// it with a deadline.
//
// The launcher reaches the OS only through `ProcessSpawner`, so its failure
// paths (exec failure, a child that ignores SIGTERM, a wait that times out)
// are testable. `PosixProcessSpawner` is the real one: fork + execve, with the
// child set up so that it never outlives the launcher:
//
//   1. setpgid(0, 0): each worker leads its own process group, so a signal
//      to the group also reaches the worker's own children.
//   2. prctl(PR_SET_PDEATHSIG, SIGKILL), then getppid() is compared with the
//      launcher's pid: if the launcher already died between fork and prctl the
//      child exits at once. PR_SET_PDEATHSIG fires when the *thread* that
//      forked dies, so Spawn must be called from a thread that lives as long
//      as the workers (braidrun calls it from its main thread).
//   3. signal mask and dispositions reset, stdout/stderr to the pipes, the
//      CPU affinity set (SpawnOptions::cpus, sched_setaffinity), execve.
//
// Limitation: SIGKILL of the launcher kills the workers (step 2), but not
// grandchildren that a worker started and that do not die with it. An orderly
// stop (SIGINT/SIGTERM to braidrun) signals whole process groups and reaches
// them.
//
// Thread-safety: PosixProcessSpawner is thread-compatible for Spawn (see the
// PDEATHSIG note) and thread-safe for Signal and Wait on distinct pids.
#ifndef BRAID_LAUNCHER_PROCESS_H_
#define BRAID_LAUNCHER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace braid::launcher {

// How a process ended.
struct ExitInfo {
  bool exited = false;  // exited normally with `exit_code`
  int exit_code = 0;
  int signal = 0;       // killed by this signal (when !exited)
  bool ok() const { return exited && exit_code == 0; }
  // "exit code 3" / "signal 9 (Killed)".
  std::string ToString() const;
  // Shell convention: exit_code, or 128 + signal.
  int ShellCode() const { return exited ? exit_code : 128 + signal; }
};

struct SpawnOptions {
  // argv[0] is the program: a path, or a name looked up in PATH (of the
  // environment below, else the launcher's). REQUIRED non-empty.
  std::vector<std::string> argv;
  // The complete environment, "NAME=value" entries.
  std::vector<std::string> env;
  // When true, the child's stdout and stderr go to pipes returned in
  // SpawnedProcess; else they are inherited.
  bool capture_output = true;
  // CPUs the child may run on (set before exec); empty: inherit the
  // launcher's. Spawn fails with kInvalidArgument when the kernel refuses
  // the set (e.g. CPUs outside the launcher's cpuset).
  std::vector<int> cpus;
};

struct SpawnedProcess {
  pid_t pid = -1;
  // Read ends (owned by the caller; close them) when capture_output, else -1.
  int stdout_fd = -1;
  int stderr_fd = -1;
};

class ProcessSpawner {
 public:
  virtual ~ProcessSpawner() = default;

  // Starts a process. kInvalidArgument when argv is empty or the program
  // cannot be executed (not found, not executable: the message names it);
  // kInternal when fork/pipe fail.
  virtual absl::StatusOr<SpawnedProcess> Spawn(const SpawnOptions& options) = 0;

  // Sends `sig` to the process group of `pid` (every worker leads its own).
  // OK when the group is already gone.
  virtual absl::Status SignalGroup(pid_t pid, int sig) = 0;

  // Waits until `pid` (a child of this process) ends, and reaps it. Returns
  // nullopt when it still runs at `deadline` (a past deadline polls once).
  virtual absl::StatusOr<std::optional<ExitInfo>> Wait(pid_t pid, absl::Time deadline) = 0;
};

// The real spawner (fork + execve, see the file comment).
class PosixProcessSpawner : public ProcessSpawner {
 public:
  absl::StatusOr<SpawnedProcess> Spawn(const SpawnOptions& options) override;
  absl::Status SignalGroup(pid_t pid, int sig) override;
  absl::StatusOr<std::optional<ExitInfo>> Wait(pid_t pid, absl::Time deadline) override;
};

// The CPUs this process may run on (sched_getaffinity), ascending.
// kInternal when the call fails.
absl::StatusOr<std::vector<int>> AllowedCpus();

// Splits `cpus` into `parts` shares for --cpu-bind cores: with at least as
// many CPUs as parts, share i is the i-th contiguous block (sizes differ by
// at most one); with fewer, share i is the single CPU cpus[i % size].
// REQUIRES: cpus non-empty, parts >= 1.
std::vector<std::vector<int>> SplitCpus(const std::vector<int>& cpus, int parts);

// "0-3,8,10-11" (the kernel's Cpus_allowed_list form) of ascending `cpus`.
std::string FormatCpuList(const std::vector<int>& cpus);

// Resolves `program` the way execvp does, using `path_var` (a PATH value).
// Returns the program itself when it contains a '/'. kInvalidArgument when not
// found or not executable.
absl::StatusOr<std::string> ResolveProgram(const std::string& program,
                                           const std::string& path_var);

}  // namespace braid::launcher

#endif  // BRAID_LAUNCHER_PROCESS_H_
