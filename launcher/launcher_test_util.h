// Test helper: runs the real braidrun binary as a child process and collects
// its stdout/stderr, with every wait bounded.
#ifndef BRAID_LAUNCHER_LAUNCHER_TEST_UTIL_H_
#define BRAID_LAUNCHER_LAUNCHER_TEST_UTIL_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "launcher/process.h"

namespace braid::launcher::testing {

// Path of the braidrun binary under test (set by CMake).
std::string BraidrunPath();

// Bounds scaled by BRAID_TEST_TIMEOUT_SCALE.
absl::Duration Scaled(absl::Duration d);

class BraidrunProcess {
 public:
  // Starts `braidrun args...` with this process's environment plus `env`
  // (a value of "<unset>" removes the variable). Never null; a spawn failure
  // fails the current test and returns a process that has already ended.
  static std::unique_ptr<BraidrunProcess> Start(const std::vector<std::string>& args,
                                                const std::map<std::string, std::string>& env = {});
  // SIGKILLs braidrun if it still runs, reaps it, joins the reader.
  ~BraidrunProcess();

  pid_t pid() const { return pid_; }
  // Waits until stdout+stderr (as received so far) contain `needle` at least
  // `count` times. False at the timeout.
  bool WaitForOutput(const std::string& needle, absl::Duration timeout, int count = 1);
  std::string Stdout() const;
  std::string Stderr() const;
  std::string Output() const;  // stdout then stderr
  // Waits for braidrun to exit (and its output to end); nullopt at the timeout.
  std::optional<ExitInfo> Wait(absl::Duration timeout);
  void Signal(int sig);

 private:
  BraidrunProcess() = default;
  void ReadLoop(int out_fd, int err_fd);

  PosixProcessSpawner spawner_;
  pid_t pid_ = -1;
  std::optional<ExitInfo> exit_;
  mutable absl::Mutex mu_;
  std::string stdout_ ABSL_GUARDED_BY(mu_);
  std::string stderr_ ABSL_GUARDED_BY(mu_);
  bool eof_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;
};

// Counts non-overlapping occurrences of `needle` in `haystack`.
int CountOf(const std::string& haystack, const std::string& needle);

// True while process `pid` exists and is not a zombie.
bool ProcessAlive(pid_t pid);

}  // namespace braid::launcher::testing

#endif  // BRAID_LAUNCHER_LAUNCHER_TEST_UTIL_H_
