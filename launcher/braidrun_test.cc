// End-to-end tests of the braidrun binary on one node: real braidrun, real
// worker processes (/bin/sh scripts, or this test binary in worker mode).
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "elastic/store/store_client.h"
#include "gtest/gtest.h"
#include "launcher/launcher_test_util.h"
#include "launcher/process.h"

namespace braid::launcher {
namespace {

using testing::BraidrunProcess;
using testing::CountOf;
using testing::ProcessAlive;
using testing::Scaled;

std::vector<std::string> Sh(const std::string& script) { return {"/bin/sh", "-c", script}; }

std::vector<std::string> Args(std::vector<std::string> flags, const std::vector<std::string>& cmd) {
  flags.insert(flags.end(), cmd.begin(), cmd.end());
  return flags;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Worker mode: braidrun starts this binary with this test selected and
// LAUNCHER_TEST_WORKER=1. The worker checks that it can reach the job store
// with the token it was given and finds its round's membership record.
TEST(WorkerMode, DISABLED_ConnectsToStore) {
  ASSERT_NE(std::getenv("LAUNCHER_TEST_WORKER"), nullptr) << "only run under braidrun";
  elastic::StoreClientOptions o;
  o.address = std::getenv("BRAID_STORE_ADDR");
  o.job_token = std::getenv("BRAID_JOB_TOKEN");
  o.connect_timeout = absl::Seconds(10);
  auto client = elastic::StoreClient::Create(o);
  ASSERT_TRUE(client.ok()) << client.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  absl::StatusOr<std::string> m = (*client)->Get(std::getenv("BRAID_MEMBERSHIP_KEY"), deadline);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(absl::StartsWith(*m, absl::StrCat("generation ", std::getenv("BRAID_GENERATION"),
                                                "\nworld_size ", std::getenv("WORLD_SIZE"))))
      << *m;
  absl::StatusOr<int64_t> n = (*client)->Add("test/started", 1, deadline);
  ASSERT_TRUE(n.ok()) << n.status();
  std::printf("store-ok rank=%s count=%lld\n", std::getenv("RANK"), static_cast<long long>(*n));
}

TEST(BraidrunTest, FourWorkersSeeTheirEnvironment) {
  auto p = BraidrunProcess::Start(
      Args({"--nproc-per-node", "4", "--standalone"},
           Sh("echo \"env $RANK $LOCAL_RANK $WORLD_SIZE $LOCAL_WORLD_SIZE $GROUP_RANK "
              "$BRAID_GENERATION $BRAID_RESTART_COUNT $TORCHELASTIC_RESTART_COUNT "
              "$TORCHELASTIC_MAX_RESTARTS $OMP_NUM_THREADS $OPENBLAS_NUM_THREADS "
              "${#BRAID_JOB_TOKEN} $MASTER_ADDR ${BRAID_STORE_ADDR:+store} "
              "${MASTER_PORT:+port} $TORCHELASTIC_RUN_ID\"")),
      {{"OMP_NUM_THREADS", "<unset>"}, {"OPENBLAS_NUM_THREADS", "<unset>"},
       {"BRAID_JOB_TOKEN", "<unset>"}});
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value()) << p->Output();
  EXPECT_TRUE(e->ok()) << e->ToString() << "\n" << p->Output();
  const std::string out = p->Stdout();
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(CountOf(out, absl::StrCat("[rank", r, "]:env ", r, " ", r,
                                        " 4 4 0 1 0 0 0 1 1 64 127.0.0.1 store port none\n")),
              1)
        << out;
  }
  EXPECT_NE(p->Stderr().find("OMP_NUM_THREADS=1"), std::string::npos) << p->Stderr();
}

TEST(BraidrunTest, UserThreadSettingsAndTokenAreKept) {
  auto p = BraidrunProcess::Start(
      Args({"--nproc-per-node", "2"}, Sh("echo \"t $OMP_NUM_THREADS $BRAID_JOB_TOKEN\"")),
      {{"OMP_NUM_THREADS", "3"}, {"BRAID_JOB_TOKEN", "given-token"}});
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value() && e->ok()) << p->Output();
  EXPECT_EQ(CountOf(p->Stdout(), "]:t 3 given-token\n"), 2) << p->Output();
}

TEST(BraidrunTest, WorkersReachTheJobStore) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  auto p = BraidrunProcess::Start(
      {"--nproc-per-node", "2", self, "--gtest_also_run_disabled_tests",
       "--gtest_filter=WorkerMode.DISABLED_ConnectsToStore"},
      {{"LAUNCHER_TEST_WORKER", "1"}, {"BRAID_JOB_TOKEN", "<unset>"}});
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(60));
  ASSERT_TRUE(e.has_value()) << p->Output();
  EXPECT_TRUE(e->ok()) << p->Output();
  EXPECT_EQ(CountOf(p->Stdout(), "store-ok rank="), 2) << p->Output();
}

TEST(BraidrunTest, FailingWorkerGivesSummaryAndExitCode) {
  auto p = BraidrunProcess::Start(
      Args({"--nproc-per-node", "2", "--stop-timeout", "5"},
           Sh("if [ \"$RANK\" = 1 ]; then echo 'about to fail'; echo 'bad thing' >&2; exit 3; "
              "fi; exec sleep 60")));
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value()) << p->Output();
  EXPECT_TRUE(e->exited) << e->ToString();
  EXPECT_EQ(e->exit_code, 3) << p->Output();
  const std::string err = p->Stderr();
  EXPECT_NE(err.find("1 worker(s) on this node failed"), std::string::npos) << err;
  EXPECT_NE(err.find("exit code 3"), std::string::npos) << err;
  EXPECT_NE(err.find("| about to fail"), std::string::npos) << err;
  EXPECT_NE(err.find("| bad thing"), std::string::npos) << err;
  EXPECT_NE(err.find("[rank1]:bad thing"), std::string::npos) << err;
}

TEST(BraidrunTest, SignalledWorkerIsReported) {
  auto p = BraidrunProcess::Start(Args({}, Sh("kill -9 $$")));
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value()) << p->Output();
  EXPECT_EQ(e->ShellCode(), 128 + SIGKILL) << p->Output();
  EXPECT_NE(p->Stderr().find("signal 9"), std::string::npos) << p->Output();
}

TEST(BraidrunTest, SigtermReachesEveryWorker) {
  auto p = BraidrunProcess::Start(
      Args({"--nproc-per-node", "2"},
           Sh("trap 'echo got-term; exit 0' TERM; echo ready; while true; do sleep 0.05; done")));
  ASSERT_TRUE(p->WaitForOutput("]:ready", absl::Seconds(20), 2)) << p->Output();
  p->Signal(SIGTERM);
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value()) << p->Output();
  EXPECT_EQ(e->ShellCode(), 128 + SIGTERM) << p->Output();
  EXPECT_EQ(CountOf(p->Stdout(), "]:got-term"), 2) << p->Output();
}

TEST(BraidrunTest, WorkerIgnoringSigtermIsKilledAfterGrace) {
  auto p = BraidrunProcess::Start(
      Args({"--stop-timeout", "0.5"},
           Sh("trap '' TERM INT; echo ready; while true; do sleep 0.05; done")));
  ASSERT_TRUE(p->WaitForOutput("]:ready", absl::Seconds(20))) << p->Output();
  const absl::Time start = absl::Now();
  p->Signal(SIGINT);
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value()) << p->Output();
  EXPECT_EQ(e->ShellCode(), 128 + SIGINT) << p->Output();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(500));
  EXPECT_LT(absl::Now() - start, Scaled(absl::Seconds(10)));
  EXPECT_NE(p->Stderr().find("SIGKILL after 500ms"), std::string::npos) << p->Output();
}

TEST(BraidrunTest, SigkillOfBraidrunLeavesNoOrphans) {
  auto p = BraidrunProcess::Start(
      Args({"--nproc-per-node", "3"}, Sh("echo \"pid=$$\"; exec sleep 60")));
  ASSERT_TRUE(p->WaitForOutput("]:pid=", absl::Seconds(20), 3)) << p->Output();
  std::vector<pid_t> pids;
  for (absl::string_view line : absl::StrSplit(p->Stdout(), '\n')) {
    const size_t at = line.find("]:pid=");
    int pid;
    if (at != absl::string_view::npos && absl::SimpleAtoi(line.substr(at + 6), &pid)) {
      pids.push_back(pid);
    }
  }
  ASSERT_EQ(pids.size(), 3u) << p->Output();
  for (pid_t pid : pids) EXPECT_TRUE(ProcessAlive(pid)) << pid;
  p->Signal(SIGKILL);
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(10));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->signal, SIGKILL);
  const absl::Time deadline = absl::Now() + Scaled(absl::Seconds(2));
  for (pid_t pid : pids) {
    while (ProcessAlive(pid) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
    EXPECT_FALSE(ProcessAlive(pid)) << "worker " << pid << " outlived braidrun";
  }
}

TEST(BraidrunTest, StaticRestartsAreCounted) {
  auto p = BraidrunProcess::Start(Args(
      {"--nproc-per-node", "2", "--max-restarts", "2"},
      Sh("echo \"attempt $BRAID_RESTART_COUNT $TORCHELASTIC_RESTART_COUNT gen=$BRAID_GENERATION\"; "
         "[ \"$BRAID_RESTART_COUNT\" -ge 2 ] && exit 0; [ \"$LOCAL_RANK\" = 1 ] && exit 1; "
         "exec sleep 60")));
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(60));
  ASSERT_TRUE(e.has_value()) << p->Output();
  EXPECT_TRUE(e->ok()) << p->Output();
  const std::string out = p->Stdout();
  // The whole group restarts each time, in a new generation.
  EXPECT_EQ(CountOf(out, "]:attempt 0 0 gen=1\n"), 2) << out;
  EXPECT_EQ(CountOf(out, "]:attempt 1 1 gen=2\n"), 2) << out;
  EXPECT_EQ(CountOf(out, "]:attempt 2 2 gen=3\n"), 2) << out;
  EXPECT_EQ(CountOf(p->Stderr(), "restarting all workers"), 2) << p->Stderr();
}

TEST(BraidrunTest, RestartsRunOut) {
  auto p = BraidrunProcess::Start(
      Args({"--max-restarts", "1"}, Sh("echo \"attempt $BRAID_RESTART_COUNT\"; exit 7")));
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(60));
  ASSERT_TRUE(e.has_value()) << p->Output();
  EXPECT_EQ(e->ShellCode(), 7) << p->Output();
  EXPECT_EQ(CountOf(p->Stdout(), "]:attempt "), 2) << p->Output();
  EXPECT_NE(p->Stderr().find("1 of 1 restarts used"), std::string::npos) << p->Stderr();
}

TEST(BraidrunTest, RestartLineNamesTheRecordedError) {
  auto p = BraidrunProcess::Start(Args(
      {"--max-restarts", "1"},
      Sh("[ \"$BRAID_RESTART_COUNT\" = 1 ] && exit 0; printf '{\"code\":\"INTERNAL\",\"message\":"
         "\"boom\",\"timestamp_us\":1}' > \"$BRAID_ERROR_FILE\"; exit 7")));
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(60));
  ASSERT_TRUE(e.has_value() && e->ok()) << p->Output();
  EXPECT_NE(p->Stderr().find("ended with exit code 7 (INTERNAL: boom); restarting all workers"),
            std::string::npos)
      << p->Stderr();
}

TEST(BraidrunTest, LogDirAndRedirects) {
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/braidrun_logs_", ::getpid());
  std::filesystem::remove_all(dir);
  auto p = BraidrunProcess::Start(Args({"--nproc-per-node", "2", "--log-dir", dir, "--redirects",
                                        "1", "--rdzv-id", "logjob"},
                                       Sh("echo \"out $RANK\"; echo \"err $RANK\" >&2")));
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value() && e->ok()) << p->Output();
  EXPECT_EQ(CountOf(p->Stdout(), "out "), 0) << p->Output();
  EXPECT_EQ(CountOf(p->Stderr(), "]:err "), 2) << p->Output();
  EXPECT_EQ(ReadFile(dir + "/logjob/attempt_0/1/stdout.log"), "out 1\n");
  EXPECT_EQ(ReadFile(dir + "/logjob/attempt_0/0/stderr.log"), "err 0\n");
  std::filesystem::remove_all(dir);
}

TEST(BraidrunTest, LongAndUnterminatedLinesStayWhole) {
  // 3000 bytes written in pieces without a newline, then a last line
  // without '\n': each must arrive as one prefixed line.
  auto p = BraidrunProcess::Start(
      Args({"--nproc-per-node", "2"},
           Sh("i=0; while [ $i -lt 30 ]; do printf '%100s' | tr ' ' $RANK; i=$((i+1)); done; "
              "echo; "
              "printf 'tail'")));
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value() && e->ok()) << p->Output();
  const std::string out = p->Stdout();
  for (int r = 0; r < 2; ++r) {
    const std::string prefix = absl::StrCat("[rank", r, "]:");
    EXPECT_EQ(CountOf(out, prefix + std::string(3000, '0' + r) + "\n"), 1) << out;
    EXPECT_EQ(CountOf(out, prefix + "tail\n"), 1) << out;
  }
}

TEST(BraidrunTest, BadFlagsAreClearErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--nnodes", "3:1", "/bin/true"}, "--nnodes"},
      {{"--bogus", "/bin/true"}, "--bogus"},
      {{"--nproc-per-node", "zero", "/bin/true"}, "--nproc-per-node"},
      {{"--rdzv-backend", "zookeeper", "/bin/true"}, "zookeeper"},
      {{"--nnodes", "2", "/bin/true"}, "--node-rank"},
      {{"--redirects", "1", "/bin/true"}, "--log-dir"},
      {{"--nproc-per-node", "2"}, "no worker program"},
      {{"--rdzv-conf", "join_timeout=5,bogus=1", "/bin/true"}, "unknown key 'bogus'"},
      {{"--nproc-per-node", "2", "--local-ranks-filter", "0,5", "/bin/true"}, "'5'"},
      {{"--cpu-bind", "numa", "/bin/true"}, "--cpu-bind"},
  };
  for (const Case& c : cases) {
    auto p = BraidrunProcess::Start(c.args);
    std::optional<ExitInfo> e = p->Wait(absl::Seconds(20));
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->ShellCode(), 2) << p->Output();
    EXPECT_NE(p->Stderr().find(c.message), std::string::npos) << p->Stderr();
    EXPECT_NE(p->Stderr().find("--help"), std::string::npos) << p->Stderr();
  }
}

TEST(BraidrunTest, HelpExplainsFlags) {
  auto p = BraidrunProcess::Start({"--help"});
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(20));
  ASSERT_TRUE(e.has_value() && e->ok()) << p->Output();
  for (const char* flag : {"--nnodes", "--nproc-per-node", "--node-rank", "--standalone",
                           "--rdzv-backend", "--rdzv-endpoint", "--rdzv-id", "--rdzv-timeout",
                           "--max-restarts", "--monitor-interval", "--master-addr",
                           "--master-port", "--log-dir", "--redirects", "--tee",
                           "--rdzv-conf", "read_timeout", "close_timeout",
                           "--local-ranks-filter", "--cpu-bind"}) {
    EXPECT_NE(p->Stdout().find(flag), std::string::npos) << flag;
  }
}

TEST(BraidrunTest, MissingProgramIsReported) {
  auto p = BraidrunProcess::Start({"/nonexistent/worker"});
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(20));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->ShellCode(), 1) << p->Output();
  EXPECT_NE(p->Stderr().find("/nonexistent/worker"), std::string::npos) << p->Stderr();
}

TEST(BraidrunTest, MultiNodeNeedsAToken) {
  auto p = BraidrunProcess::Start({"--nnodes", "2", "--rdzv-backend", "braid", "--rdzv-endpoint",
                                   "127.0.0.1:1", "/bin/true"},
                                  {{"BRAID_JOB_TOKEN", "<unset>"}});
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(20));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->ShellCode(), 1) << p->Output();
  EXPECT_NE(p->Stderr().find("BRAID_JOB_TOKEN"), std::string::npos) << p->Stderr();
}

TEST(BraidrunTest, TorchelasticVariablesAndErrorFiles) {
  // One worker: no thread-count variables and no notice; the torchrun names
  // carry the flags' values; each worker has its own error file in the run
  // folder, which braidrun removes at exit when it made it.
  auto p = BraidrunProcess::Start(
      Args({"--max-restarts", "2", "--rdzv-id", "job9"},
           Sh("echo \"vars $TORCHELASTIC_RESTART_COUNT $TORCHELASTIC_MAX_RESTARTS "
              "$TORCHELASTIC_RUN_ID ${OMP_NUM_THREADS:-unset} ${OPENBLAS_NUM_THREADS:-unset}\"; "
              "echo \"file $BRAID_ERROR_FILE\"; echo \"torch $TORCHELASTIC_ERROR_FILE\"")),
      {{"OMP_NUM_THREADS", "<unset>"}, {"OPENBLAS_NUM_THREADS", "<unset>"}});
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value() && e->ok()) << p->Output();
  const std::string out = p->Stdout();
  EXPECT_EQ(CountOf(out, "[rank0]:vars 0 2 job9 unset unset\n"), 1) << out;
  EXPECT_EQ(CountOf(p->Stderr(), "OMP_NUM_THREADS"), 0) << p->Stderr();
  const size_t at = out.find("[rank0]:file ");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string file = out.substr(at + 13, out.find('\n', at) - at - 13);
  EXPECT_TRUE(absl::EndsWith(file, "/attempt_0/0/error.json")) << file;
  EXPECT_TRUE(absl::StrContains(file, "braidrun-job9-")) << file;
  EXPECT_EQ(CountOf(out, absl::StrCat("[rank0]:torch ", file, "\n")), 1) << out;
  const std::filesystem::path run_dir = std::filesystem::path(file).parent_path().parent_path().parent_path();
  EXPECT_FALSE(std::filesystem::exists(run_dir)) << run_dir;
}

TEST(BraidrunTest, ErrorFilesUnderLogDirAreKept) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/braidrun_errlogs_", ::getpid());
  std::filesystem::remove_all(dir);
  auto p = BraidrunProcess::Start(
      Args({"--nproc-per-node", "2", "--log-dir", dir, "--rdzv-id", "kept"},
           Sh("echo \"file $BRAID_ERROR_FILE\"")));
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value() && e->ok()) << p->Output();
  for (int r = 0; r < 2; ++r) {
    const std::string file = absl::StrCat(dir, "/kept/attempt_0/", r, "/error.json");
    EXPECT_EQ(CountOf(p->Stdout(), absl::StrCat("]:file ", file, "\n")), 1) << p->Output();
    EXPECT_TRUE(std::filesystem::is_directory(std::filesystem::path(file).parent_path()));
  }
  std::filesystem::remove_all(dir);
}

TEST(BraidrunTest, RootCauseIsTheEarliestError) {
  // Rank 1 records an error first and keeps running; rank 0 then records a
  // later one and exits. braidrun stops rank 1 and names it the root cause
  // from its error file, though rank 0 ended first.
  const std::string record =
      "printf '{\"rank\":%s,\"code\":\"%s\",\"message\":\"%s\",\"timestamp_us\":%s,"
      "\"stack\":[\"0x1 frame_of_%s\"]}' \"$RANK\" ";
  auto p = BraidrunProcess::Start(Args(
      {"--nproc-per-node", "2", "--stop-timeout", "5"},
      Sh("if [ \"$LOCAL_RANK\" = 1 ]; then " + record +
         "ABORTED 'rank one went first' 1000000 one > \"$BRAID_ERROR_FILE\"; echo 'one says bye'; "
         "exec sleep 60; fi; "
         "f1=\"${BRAID_ERROR_FILE%/0/error.json}/1/error.json\"; i=0; "
         "while [ ! -s \"$f1\" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; " +
         record + "INTERNAL 'rank zero came later' 2000000 zero > \"$BRAID_ERROR_FILE\"; exit 4")));
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(60));
  ASSERT_TRUE(e.has_value()) << p->Output();
  EXPECT_EQ(e->ShellCode(), 4) << p->Output();
  const std::string err = p->Stderr();
  EXPECT_NE(err.find("2 worker(s) on this node failed"), std::string::npos) << err;
  EXPECT_NE(err.find("root cause (first failure): rank 1 (local 1"), std::string::npos) << err;
  EXPECT_NE(err.find("at 1970-01-01 00:00:01.000000 UTC"), std::string::npos) << err;
  EXPECT_NE(err.find("error: ABORTED: rank one went first"), std::string::npos) << err;
  EXPECT_NE(err.find("#0 0x1 frame_of_one"), std::string::npos) << err;
  EXPECT_NE(err.find("last output of rank 1:\n      | one says bye"), std::string::npos) << err;
  EXPECT_NE(err.find("INTERNAL: rank zero came later"), std::string::npos) << err;
}

TEST(BraidrunTest, LocalRanksFilterShowsOnlyThoseRanks) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/braidrun_filter_", ::getpid());
  std::filesystem::remove_all(dir);
  auto p = BraidrunProcess::Start(
      Args({"--nproc-per-node", "3", "--local-ranks-filter", "0,2", "--log-dir", dir,
            "--rdzv-id", "flt"},
           Sh("echo \"out $RANK\"; echo \"err $RANK\" >&2")));
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value() && e->ok()) << p->Output();
  EXPECT_EQ(CountOf(p->Stdout(), "[rank0]:out 0\n"), 1) << p->Output();
  EXPECT_EQ(CountOf(p->Stdout(), "[rank2]:out 2\n"), 1) << p->Output();
  EXPECT_EQ(CountOf(p->Stderr(), "[rank2]:err 2\n"), 1) << p->Output();
  EXPECT_EQ(CountOf(p->Output(), "[rank1]"), 0) << p->Output();
  // Rank 1 still ran; its output went to its log files only.
  EXPECT_EQ(ReadFile(dir + "/flt/attempt_0/1/stdout.log"), "out 1\n");
  EXPECT_EQ(ReadFile(dir + "/flt/attempt_0/1/stderr.log"), "err 1\n");
  std::filesystem::remove_all(dir);
}

TEST(BraidrunTest, CpuBindCoresPinsEachLocalRank) {
  absl::StatusOr<std::vector<int>> cpus = AllowedCpus();
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  const std::vector<std::vector<int>> shares = SplitCpus(*cpus, 2);
  const std::string script = "echo \"cpus $(grep Cpus_allowed_list /proc/self/status | cut -f2)\"";
  auto p = BraidrunProcess::Start(
      Args({"--nproc-per-node", "2", "--cpu-bind", "cores"}, Sh(script)));
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value() && e->ok()) << p->Output();
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(CountOf(p->Stdout(), absl::StrCat("[rank", r, "]:cpus ", FormatCpuList(shares[r]),
                                                "\n")),
              1)
        << p->Output();
  }
  EXPECT_NE(p->Stderr().find("--cpu-bind cores: local rank:CPUs 0:"), std::string::npos)
      << p->Stderr();
  // Default (none): every worker keeps braidrun's whole set.
  auto q = BraidrunProcess::Start(Args({"--nproc-per-node", "2"}, Sh(script)));
  std::optional<ExitInfo> f = q->Wait(absl::Seconds(30));
  ASSERT_TRUE(f.has_value() && f->ok()) << q->Output();
  EXPECT_EQ(CountOf(q->Stdout(), absl::StrCat("]:cpus ", FormatCpuList(*cpus), "\n")), 2)
      << q->Output();
}

TEST(BraidrunTest, TracesAreMergedAtExit) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/braidrun_trace_", ::getpid());
  std::filesystem::remove_all(dir);
  auto p = BraidrunProcess::Start(
      Args({"--nproc-per-node", "2"},
           Sh("mkdir -p \"$BRAID_TRACE\"; printf '{\"traceEvents\":[{\"name\":\"step\",\"ph\":\"X\","
              "\"ts\":1,\"dur\":1,\"pid\":%s,\"tid\":1}],\"displayTimeUnit\":\"ms\","
              "\"otherData\":{\"rank\":%s,\"dropped_events\":1}}' $RANK $RANK "
              "> \"$BRAID_TRACE/trace_rank$RANK.json\"")),
      {{"BRAID_TRACE", dir}});
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value() && e->ok()) << p->Output();
  EXPECT_NE(p->Stderr().find(absl::StrCat("merged the traces of 2 rank(s) into ", dir,
                                          "/trace.json")),
            std::string::npos)
      << p->Stderr();
  const std::string merged = ReadFile(dir + "/trace.json");
  EXPECT_EQ(CountOf(merged, "\"pid\":0,"), 1) << merged;
  EXPECT_EQ(CountOf(merged, "\"pid\":1,"), 1) << merged;
  EXPECT_NE(merged.find("\"otherData\":{\"ranks\":[0,1],\"dropped_events\":2}"),
            std::string::npos)
      << merged;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace braid::launcher
