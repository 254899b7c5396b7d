#include "launcher/process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace braid::launcher {
namespace {

absl::Status ErrnoError(absl::string_view what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Child side of Spawn, between fork and exec: async-signal-safe calls only.
[[noreturn]] void RunChild(pid_t launcher_pid, const char* path, char* const* argv,
                           char* const* envp, int out_w, int err_w, int errpipe_w,
                           const cpu_set_t* cpus) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != launcher_pid) _exit(127);  // launcher died before prctl
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2}) {
    ::signal(sig, SIG_DFL);
  }
  if (out_w >= 0 && ::dup2(out_w, STDOUT_FILENO) < 0) _exit(127);
  if (err_w >= 0 && ::dup2(err_w, STDERR_FILENO) < 0) _exit(127);
  int err = 0;
  if (cpus != nullptr && ::sched_setaffinity(0, sizeof(cpu_set_t), cpus) != 0) {
    err = errno;
  } else {
    ::execve(path, argv, envp);
    err = errno;
  }
  ssize_t ignored = ::write(errpipe_w, &err, sizeof(err));
  (void)ignored;
  _exit(127);
}

}  // namespace

std::string ExitInfo::ToString() const {
  if (exited) return absl::StrCat("exit code ", exit_code);
  return absl::StrCat("signal ", signal, " (", strsignal(signal), ")");
}

absl::StatusOr<std::string> ResolveProgram(const std::string& program,
                                           const std::string& path_var) {
  if (program.empty()) return absl::InvalidArgumentError("empty program name");
  if (program.find('/') != std::string::npos) {
    if (!IsExecutableFile(program)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "worker program '", program, "' does not exist or is not executable"));
    }
    return program;
  }
  for (absl::string_view dir : absl::StrSplit(path_var, ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", program);
    if (IsExecutableFile(candidate)) return candidate;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "worker program '", program, "' was not found in PATH; give a path or fix PATH"));
}

absl::StatusOr<SpawnedProcess> PosixProcessSpawner::Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("Spawn: empty argv");
  std::string path_var;
  for (const std::string& kv : options.env) {
    if (kv.rfind("PATH=", 0) == 0) path_var = kv.substr(5);
  }
  if (path_var.empty() && std::getenv("PATH") != nullptr) path_var = std::getenv("PATH");
  auto path = ResolveProgram(options.argv[0], path_var);
  if (!path.ok()) return path.status();

  // Everything the child needs is built before fork: it may only make
  // async-signal-safe calls afterwards.
  std::vector<char*> argv;
  for (const std::string& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : options.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  cpu_set_t cpu_set;
  CPU_ZERO(&cpu_set);
  for (int cpu : options.cpus) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) {
      return absl::InvalidArgumentError(absl::StrCat("Spawn: CPU ", cpu, " is out of range"));
    }
    CPU_SET(cpu, &cpu_set);
  }

  int out[2] = {-1, -1}, err[2] = {-1, -1}, errpipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int* p : {out, err, errpipe}) {
      CloseFd(p[0]);
      CloseFd(p[1]);
    }
  };
  if (options.capture_output &&
      (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)) {
    const int e = errno;
    close_all();
    return ErrnoError("Spawn: pipe2", e);
  }
  if (::pipe2(errpipe, O_CLOEXEC) != 0) {
    const int e = errno;
    close_all();
    return ErrnoError("Spawn: pipe2", e);
  }
  const pid_t launcher_pid = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    close_all();
    return ErrnoError("Spawn: fork", e);
  }
  if (pid == 0) {
    RunChild(launcher_pid, path->c_str(), argv.data(), envp.data(), out[1], err[1], errpipe[1],
             options.cpus.empty() ? nullptr : &cpu_set);
  }
  // Also set the group from the parent, so a signal sent right after Spawn
  // returns already reaches the group (whichever of the two runs first wins).
  ::setpgid(pid, pid);
  CloseFd(out[1]);
  CloseFd(err[1]);
  CloseFd(errpipe[1]);
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(errpipe[0], &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  CloseFd(errpipe[0]);
  if (n == static_cast<ssize_t>(sizeof(exec_errno))) {
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    CloseFd(out[0]);
    CloseFd(err[0]);
    if (!options.cpus.empty() && exec_errno == EINVAL) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot pin worker program '", *path, "' to CPUs ", FormatCpuList(options.cpus), ": ",
          std::strerror(exec_errno), "; check the CPU set braidrun may use (taskset, cgroups)"));
    }
    return absl::InvalidArgumentError(absl::StrCat("cannot execute worker program '", *path,
                                                   "': ", std::strerror(exec_errno)));
  }
  SpawnedProcess p;
  p.pid = pid;
  p.stdout_fd = out[0];
  p.stderr_fd = err[0];
  return p;
}

absl::StatusOr<std::vector<int>> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return ErrnoError("sched_getaffinity", errno);
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

std::vector<std::vector<int>> SplitCpus(const std::vector<int>& cpus, int parts) {
  std::vector<std::vector<int>> shares(static_cast<size_t>(parts));
  const size_t n = cpus.size();
  for (size_t i = 0; i < shares.size(); ++i) {
    if (n >= shares.size()) {
      const size_t begin = i * n / shares.size(), end = (i + 1) * n / shares.size();
      shares[i].assign(cpus.begin() + static_cast<long>(begin), cpus.begin() + static_cast<long>(end));
    } else {
      shares[i] = {cpus[i % n]};
    }
  }
  return shares;
}

std::string FormatCpuList(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out.push_back(',');
    absl::StrAppend(&out, cpus[i]);
    if (j > i) absl::StrAppend(&out, "-", cpus[j]);
    i = j + 1;
  }
  return out;
}

absl::Status PosixProcessSpawner::SignalGroup(pid_t pid, int sig) {
  if (pid <= 0) return absl::InvalidArgumentError(absl::StrCat("SignalGroup: bad pid ", pid));
  if (::killpg(pid, sig) != 0 && errno != ESRCH) {
    // EPERM after the leader was reaped and the pgid reused is the only
    // other case; fall back to the process itself.
    if (::kill(pid, sig) != 0 && errno != ESRCH) {
      return ErrnoError(absl::StrCat("kill(", pid, ", ", sig, ")"), errno);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ExitInfo>> PosixProcessSpawner::Wait(pid_t pid,
                                                                   absl::Time deadline) {
  // Opened only when the process is still running and there is time left.
  int pidfd = -1;
  bool pidfd_tried = false;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int e = errno;
      if (pidfd >= 0) ::close(pidfd);
      return ErrnoError(absl::StrCat("waitpid(", pid, ")"), e);
    }
    if (r == pid) {
      if (pidfd >= 0) ::close(pidfd);
      ExitInfo info;
      if (WIFEXITED(status)) {
        info.exited = true;
        info.exit_code = WEXITSTATUS(status);
      } else {
        info.signal = WTERMSIG(status);
      }
      return std::optional<ExitInfo>(info);
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      if (pidfd >= 0) ::close(pidfd);
      return std::optional<ExitInfo>();
    }
    if (!pidfd_tried) {
      pidfd_tried = true;
      pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
      continue;  // it may have ended before the pidfd existed
    }
    // Without a pidfd (old kernels) poll in short steps.
    const int ms = static_cast<int>(
        absl::ToInt64Milliseconds(std::min(left, pidfd >= 0 ? absl::Seconds(1) : absl::Milliseconds(5))) + 1);
    if (pidfd >= 0) {
      struct pollfd pfd = {pidfd, POLLIN, 0};
      ::poll(&pfd, 1, ms);
    } else {
      ::poll(nullptr, 0, ms);
    }
  }
}

}  // namespace braid::launcher
