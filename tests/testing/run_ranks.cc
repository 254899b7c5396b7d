#include "tests/testing/run_ranks.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace braid::testing {
namespace {

constexpr char kRankVar[] = "BRAID_TEST_RANK";
constexpr char kWorldVar[] = "BRAID_TEST_WORLD_SIZE";

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  int out;
  if (v == nullptr || !absl::SimpleAtoi(v, &out)) return fallback;
  return out;
}

}  // namespace

bool IsRankProcess() { return std::getenv(kRankVar) != nullptr; }

int TimeoutScale() { return std::max(1, EnvInt("BRAID_TEST_TIMEOUT_SCALE", 1)); }

bool RankResults::AllSucceeded() const {
  for (const RankExit& r : ranks) {
    if (!r.ok()) return false;
  }
  return !ranks.empty();
}

std::string RankResults::Summary() const {
  std::string out;
  for (const RankExit& r : ranks) {
    absl::StrAppend(&out, "rank ", r.rank, " (pid ", r.pid, "): ");
    if (r.timed_out) {
      absl::StrAppend(&out, "timed out, killed");
    } else if (r.exited) {
      absl::StrAppend(&out, "exit ", r.exit_code);
    } else {
      absl::StrAppend(&out, "killed by signal ", r.signal, " (", strsignal(r.signal), ")");
    }
    absl::StrAppend(&out, " after ", absl::FormatDuration(r.elapsed), "\n");
  }
  return out;
}

RankResults RunRanks(int world_size, const RankBody& body, const RunRanksOptions& options) {
  if (IsRankProcess()) {
    const int rank = EnvInt(kRankVar, -1);
    body(rank, world_size);
    const bool failed = ::testing::Test::HasFailure();
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(failed ? 1 : 0);
  }

  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string filter =
      absl::StrCat("--gtest_filter=", info->test_suite_name(), ".", info->name());

  RankResults results;
  results.ranks.resize(world_size);
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options.timeout * TimeoutScale();
  std::vector<int> pids;
  for (int rank = 0; rank < world_size; ++rank) {
    // Everything exec needs is built before fork: the child only calls
    // async-signal-safe functions.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
    env_strings.push_back(absl::StrCat(kRankVar, "=", rank));
    env_strings.push_back(absl::StrCat(kWorldVar, "=", world_size));
    for (const auto& [k, v] : options.env) env_strings.push_back(absl::StrCat(k, "=", v));
    if (rank < static_cast<int>(options.rank_env.size())) {
      for (const auto& [k, v] : options.rank_env[rank]) env_strings.push_back(absl::StrCat(k, "=", v));
    }
    std::vector<char*> envp;
    for (std::string& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string exe = "/proc/self/exe";
    std::string arg0 = "rank" + std::to_string(rank);
    std::string filter_arg = filter;
    char* argv[] = {arg0.data(), filter_arg.data(), nullptr};
    const pid_t parent = getpid();

    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      execve(exe.c_str(), argv, envp.data());
      _exit(127);
    }
    results.ranks[rank].rank = rank;
    results.ranks[rank].pid = pid;
    pids.push_back(pid);
  }
  if (options.on_spawned) options.on_spawned(pids);

  int remaining = world_size;
  while (remaining > 0) {
    bool reaped_any = false;
    for (RankExit& r : results.ranks) {
      if (r.pid <= 0 || r.exited || r.signal != 0 || r.timed_out) continue;
      int status = 0;
      const pid_t got = waitpid(r.pid, &status, WNOHANG);
      if (got != r.pid) continue;
      r.elapsed = absl::Now() - start;
      if (WIFEXITED(status)) {
        r.exited = true;
        r.exit_code = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        r.signal = WTERMSIG(status);
      }
      --remaining;
      reaped_any = true;
    }
    if (remaining == 0) break;
    if (absl::Now() >= deadline) {
      for (RankExit& r : results.ranks) {
        if (r.exited || r.signal != 0) continue;
        kill(r.pid, SIGKILL);
        int status = 0;
        waitpid(r.pid, &status, 0);
        r.timed_out = true;
        r.signal = SIGKILL;
        r.elapsed = absl::Now() - start;
      }
      break;
    }
    if (!reaped_any) usleep(1000);
  }
  return results;
}

int PickUnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace braid::testing
