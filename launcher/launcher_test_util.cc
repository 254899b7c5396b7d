#include "launcher/launcher_test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/run_ranks.h"

extern char** environ;

namespace braid::launcher::testing {

std::string BraidrunPath() { return BRAIDRUN_PATH; }

absl::Duration Scaled(absl::Duration d) { return d * braid::testing::TimeoutScale(); }

int CountOf(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

bool ProcessAlive(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  if (!in) return false;
  std::string line;
  std::getline(in, line);
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return false;
  return line[paren + 2] != 'Z' && line[paren + 2] != 'X';
}

std::unique_ptr<BraidrunProcess> BraidrunProcess::Start(
    const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  std::unique_ptr<BraidrunProcess> p(new BraidrunProcess());
  SpawnOptions so;
  so.argv.push_back(BraidrunPath());
  so.argv.insert(so.argv.end(), args.begin(), args.end());
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    const std::string name = kv.substr(0, kv.find('='));
    if (env.count(name) == 0) so.env.push_back(kv);
  }
  for (const auto& [name, value] : env) {
    if (value != "<unset>") so.env.push_back(absl::StrCat(name, "=", value));
  }
  absl::StatusOr<SpawnedProcess> sp = p->spawner_.Spawn(so);
  if (!sp.ok()) {
    ADD_FAILURE() << "cannot start braidrun: " << sp.status();
    absl::MutexLock lock(&p->mu_);
    p->eof_ = true;
    p->exit_ = ExitInfo{true, 127, 0};
    return p;
  }
  p->pid_ = sp->pid;
  p->reader_ = std::thread([raw = p.get(), out = sp->stdout_fd, err = sp->stderr_fd] {
    raw->ReadLoop(out, err);
  });
  return p;
}

BraidrunProcess::~BraidrunProcess() {
  if (pid_ > 0 && !exit_.has_value()) {
    ::kill(pid_, SIGKILL);
    (void)spawner_.Wait(pid_, absl::Now() + absl::Seconds(10));
  }
  if (reader_.joinable()) reader_.join();
}

void BraidrunProcess::ReadLoop(int out_fd, int err_fd) {
  // Ends at EOF of both, which comes once braidrun and its workers are gone;
  // the destructor SIGKILLs braidrun first, and workers die with it.
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open = 2;
  while (open > 0) {
    if (::poll(fds, 2, 1000) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
        continue;
      }
      absl::MutexLock lock(&mu_);
      (i == 0 ? stdout_ : stderr_).append(buf, static_cast<size_t>(n));
    }
  }
  absl::MutexLock lock(&mu_);
  eof_ = true;
}

bool BraidrunProcess::WaitForOutput(const std::string& needle, absl::Duration timeout, int count) {
  absl::MutexLock lock(&mu_);
  auto found = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return eof_ || CountOf(stdout_, needle) + CountOf(stderr_, needle) >= count;
  };
  mu_.AwaitWithTimeout(absl::Condition(&found), Scaled(timeout));
  return CountOf(stdout_, needle) + CountOf(stderr_, needle) >= count;
}

std::string BraidrunProcess::Stdout() const {
  absl::MutexLock lock(&mu_);
  return stdout_;
}

std::string BraidrunProcess::Stderr() const {
  absl::MutexLock lock(&mu_);
  return stderr_;
}

std::string BraidrunProcess::Output() const {
  absl::MutexLock lock(&mu_);
  return absl::StrCat(stdout_, "\n----- stderr -----\n", stderr_);
}

std::optional<ExitInfo> BraidrunProcess::Wait(absl::Duration timeout) {
  if (exit_.has_value()) return exit_;
  const absl::Time deadline = absl::Now() + Scaled(timeout);
  absl::StatusOr<std::optional<ExitInfo>> e = spawner_.Wait(pid_, deadline);
  if (!e.ok() || !e->has_value()) return std::nullopt;
  exit_ = **e;
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return eof_; };
  mu_.AwaitWithDeadline(absl::Condition(&done), std::max(deadline, absl::Now() + absl::Seconds(2)));
  return exit_;
}

void BraidrunProcess::Signal(int sig) {
  if (pid_ > 0 && !exit_.has_value()) ::kill(pid_, sig);
}

}  // namespace braid::launcher::testing
