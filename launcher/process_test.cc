#include "launcher/process.h"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace braid::launcher {
namespace {

std::string ReadAll(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

absl::Time Deadline() { return absl::Now() + absl::Seconds(20); }

TEST(ProcessTest, RunsWithEnvironmentAndCapturesOutput) {
  PosixProcessSpawner spawner;
  SpawnOptions o;
  o.argv = {"sh", "-c", "echo \"$GREETING\"; echo oops >&2; exit 4"};
  o.env = {"GREETING=hello", "PATH=/usr/bin:/bin"};
  auto p = spawner.Spawn(o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(ReadAll(p->stdout_fd), "hello\n");
  EXPECT_EQ(ReadAll(p->stderr_fd), "oops\n");
  auto e = spawner.Wait(p->pid, Deadline());
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_TRUE(e->has_value());
  EXPECT_TRUE((*e)->exited);
  EXPECT_EQ((*e)->exit_code, 4);
  EXPECT_EQ((*e)->ToString(), "exit code 4");
}

TEST(ProcessTest, ExecFailureIsAnError) {
  PosixProcessSpawner spawner;
  SpawnOptions o;
  o.argv = {"/nonexistent/program"};
  EXPECT_EQ(spawner.Spawn(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.argv = {"no-such-program-anywhere"};
  o.env = {"PATH=/usr/bin:/bin"};
  EXPECT_EQ(spawner.Spawn(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.argv = {};
  EXPECT_EQ(spawner.Spawn(o).status().code(), absl::StatusCode::kInvalidArgument);
  // A file that exists but cannot be executed: execve fails in the child.
  o.argv = {"/etc/passwd"};
  EXPECT_EQ(spawner.Spawn(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProcessTest, WaitTimesOutThenSignalGroupEndsIt) {
  PosixProcessSpawner spawner;
  SpawnOptions o;
  // The shell's child `sleep` is in the same process group: the group signal
  // reaches both.
  o.argv = {"/bin/sh", "-c", "sleep 30; echo never"};
  o.capture_output = false;
  auto p = spawner.Spawn(o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(::getpgid(p->pid), p->pid);
  auto e = spawner.Wait(p->pid, absl::Now() + absl::Milliseconds(50));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_FALSE(e->has_value());
  ASSERT_TRUE(spawner.SignalGroup(p->pid, SIGTERM).ok());
  e = spawner.Wait(p->pid, Deadline());
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_FALSE((*e)->exited);
  EXPECT_EQ((*e)->signal, SIGTERM);
  EXPECT_EQ((*e)->ShellCode(), 128 + SIGTERM);
  // The group is gone; signalling it again is fine.
  EXPECT_TRUE(spawner.SignalGroup(p->pid, SIGTERM).ok());
}

// (PR_SET_PDEATHSIG is tested end to end by launcher_braidrun_test's
// SigkillOfBraidrunLeavesNoOrphans.)
TEST(ProcessTest, ChildHasCleanSignalState) {
  PosixProcessSpawner spawner;
  SpawnOptions o;
  // grep reads its own status: the mask and ignored set it inherited.
  o.argv = {"grep", "-E", "^(SigBlk|SigIgn)", "/proc/self/status"};
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  struct sigaction ignore = {}, old_hup = {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGHUP, &ignore, &old_hup);
  auto p = spawner.Spawn(o);
  sigaction(SIGHUP, &old_hup, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::string out = ReadAll(p->stdout_fd);
  ::close(p->stderr_fd);
  EXPECT_NE(out.find("SigBlk:\t0000000000000000"), std::string::npos) << out;
  EXPECT_NE(out.find("SigIgn:\t0000000000000000"), std::string::npos) << out;
  auto e = spawner.Wait(p->pid, Deadline());
  ASSERT_TRUE(e.ok() && e->has_value() && (*e)->ok());
}

TEST(ProcessTest, ResolveProgram) {
  auto sh = ResolveProgram("sh", "/nonexistent:/bin:/usr/bin");
  ASSERT_TRUE(sh.ok()) << sh.status();
  EXPECT_EQ(*sh, "/bin/sh");
  EXPECT_FALSE(ResolveProgram("sh", "/nonexistent").ok());
  EXPECT_FALSE(ResolveProgram("", "/bin").ok());
}

TEST(CpuSetsTest, SplitAndFormat) {
  EXPECT_EQ(SplitCpus({0, 1, 2, 3}, 2), (std::vector<std::vector<int>>{{0, 1}, {2, 3}}));
  EXPECT_EQ(SplitCpus({0, 1, 2, 3, 4}, 2), (std::vector<std::vector<int>>{{0, 1}, {2, 3, 4}}));
  EXPECT_EQ(SplitCpus({4, 6, 8}, 3), (std::vector<std::vector<int>>{{4}, {6}, {8}}));
  // More workers than CPUs: they share, round robin.
  EXPECT_EQ(SplitCpus({0, 1}, 5), (std::vector<std::vector<int>>{{0}, {1}, {0}, {1}, {0}}));
  EXPECT_EQ(FormatCpuList({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(FormatCpuList({5}), "5");
  EXPECT_EQ(FormatCpuList({}), "");
  absl::StatusOr<std::vector<int>> cpus = AllowedCpus();
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  EXPECT_FALSE(cpus->empty());
}

TEST(CpuSetsTest, SpawnPinsTheChild) {
  absl::StatusOr<std::vector<int>> cpus = AllowedCpus();
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  PosixProcessSpawner spawner;
  SpawnOptions so;
  so.argv = {"/bin/sh", "-c", "grep Cpus_allowed_list /proc/self/status"};
  so.cpus = {cpus->back()};
  absl::StatusOr<SpawnedProcess> p = spawner.Spawn(so);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::string out = ReadAll(p->stdout_fd);
  ::close(p->stderr_fd);
  absl::StatusOr<std::optional<ExitInfo>> e = spawner.Wait(p->pid, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_TRUE((*e)->ok());
  EXPECT_EQ(out, absl::StrCat("Cpus_allowed_list:\t", cpus->back(), "\n"));
  // A CPU the kernel cannot give is a clear spawn error.
  so.cpus = {CPU_SETSIZE - 1};
  absl::StatusOr<SpawnedProcess> bad = spawner.Spawn(so);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
  EXPECT_NE(bad.status().message().find("cannot pin"), absl::string_view::npos) << bad.status();
}

}  // namespace
}  // namespace braid::launcher
