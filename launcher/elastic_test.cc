// Several braidrun agents on this machine acting as several nodes through one
// embedded store (the agent at --rdzv-endpoint hosts it).
#include <signal.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "elastic/store/store_client.h"
#include "gtest/gtest.h"
#include "launcher/launcher_test_util.h"
#include "tests/testing/run_ranks.h"

namespace braid::launcher {
namespace {

using testing::BraidrunProcess;
using testing::CountOf;

constexpr char kToken[] = "elastic-test-token";

std::vector<std::string> Cmd(std::vector<std::string> flags, const std::string& script) {
  flags.insert(flags.end(), {"/bin/sh", "-c", script});
  return flags;
}

std::map<std::string, std::string> TokenEnv() { return {{"BRAID_JOB_TOKEN", kToken}}; }

std::string Membership(const std::string& endpoint, const std::string& run_id) {
  elastic::StoreClientOptions o;
  o.address = endpoint;
  o.job_token = kToken;
  o.connect_timeout = absl::Seconds(10);
  auto client = elastic::StoreClient::Create(o);
  if (!client.ok()) return client.status().ToString();
  auto m = (*client)->Get(absl::StrCat("/braid/rdzv/", run_id, "/membership"),
                          absl::Now() + absl::Seconds(10));
  return m.ok() ? *m : m.status().ToString();
}

TEST(ElasticTest, TwoNodesFormOneJob) {
  const std::string endpoint = absl::StrCat("127.0.0.1:", braid::testing::PickUnusedPort());
  const std::vector<std::string> args =
      Cmd({"--nnodes", "2", "--nproc-per-node", "2", "--rdzv-backend", "braid", "--rdzv-endpoint",
           endpoint, "--rdzv-id", "two", "--rdzv-timeout", "30"},
          "echo \"w rank=$RANK ws=$WORLD_SIZE node=$GROUP_RANK master=$MASTER_ADDR:$MASTER_PORT "
          "store=$BRAID_STORE_ADDR\"");
  auto a = BraidrunProcess::Start(args, TokenEnv());
  ASSERT_TRUE(a->WaitForOutput("hosting the job store", absl::Seconds(20))) << a->Output();
  auto b = BraidrunProcess::Start(args, TokenEnv());
  std::optional<ExitInfo> ea = a->Wait(absl::Seconds(60));
  std::optional<ExitInfo> eb = b->Wait(absl::Seconds(60));
  ASSERT_TRUE(ea.has_value() && ea->ok()) << a->Output();
  ASSERT_TRUE(eb.has_value() && eb->ok()) << b->Output();
  const std::string all = a->Stdout() + b->Stdout();
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(CountOf(all, absl::StrCat("]:w rank=", r, " ws=4 node=", r / 2, " ")), 1) << all;
  }
  EXPECT_EQ(CountOf(all, absl::StrCat("store=", endpoint)), 4) << all;
  // Every worker got the same MASTER_ADDR:MASTER_PORT (node 0's).
  const size_t at = all.find("master=");
  ASSERT_NE(at, std::string::npos);
  const std::string master = all.substr(at, all.find(' ', at) - at);
  EXPECT_EQ(CountOf(all, master + " "), 4) << all;
}

TEST(ElasticTest, StaticBackendWithNodeRanks) {
  const int port = braid::testing::PickUnusedPort();
  auto args = [&](int node_rank) {
    return Cmd({"--nnodes", "2", "--node-rank", absl::StrCat(node_rank), "--master-addr",
                "127.0.0.1", "--master-port", absl::StrCat(port), "--rdzv-timeout", "30"},
               "echo \"w rank=$RANK ws=$WORLD_SIZE node=$GROUP_RANK\"");
  };
  // Node 1 starts first and waits for node 0's store.
  auto b = BraidrunProcess::Start(args(1), TokenEnv());
  auto a = BraidrunProcess::Start(args(0), TokenEnv());
  std::optional<ExitInfo> ea = a->Wait(absl::Seconds(60));
  std::optional<ExitInfo> eb = b->Wait(absl::Seconds(60));
  ASSERT_TRUE(ea.has_value() && ea->ok()) << a->Output();
  ASSERT_TRUE(eb.has_value() && eb->ok()) << b->Output();
  EXPECT_EQ(CountOf(a->Stdout(), "]:w rank=0 ws=2 node=0\n"), 1) << a->Output();
  EXPECT_EQ(CountOf(b->Stdout(), "]:w rank=1 ws=2 node=1\n"), 1) << b->Output();
}

// A static job whose worker fails on one node (no restarts left) ends on
// every node: the other agent does not wait for a round that cannot fill.
TEST(ElasticTest, StaticFailureStopsEveryNode) {
  const std::string endpoint = absl::StrCat("127.0.0.1:", braid::testing::PickUnusedPort());
  const std::vector<std::string> args =
      Cmd({"--nnodes", "2", "--rdzv-backend", "braid", "--rdzv-endpoint", endpoint, "--rdzv-id",
           "fail", "--monitor-interval", "0.05", "--stop-timeout", "2", "--rdzv-timeout", "30"},
          "echo up; [ \"$GROUP_RANK\" = 1 ] && exit 4; exec sleep 120");
  auto a = BraidrunProcess::Start(args, TokenEnv());
  ASSERT_TRUE(a->WaitForOutput("hosting the job store", absl::Seconds(20))) << a->Output();
  auto b = BraidrunProcess::Start(args, TokenEnv());
  std::optional<ExitInfo> eb = b->Wait(absl::Seconds(30));
  ASSERT_TRUE(eb.has_value()) << b->Output();
  EXPECT_EQ(eb->ShellCode(), 4) << b->Output();
  std::optional<ExitInfo> ea = a->Wait(absl::Seconds(30));
  ASSERT_TRUE(ea.has_value()) << a->Output();
  EXPECT_EQ(ea->ShellCode(), 1) << a->Output();
  EXPECT_NE(a->Stderr().find("failed on another node"), std::string::npos) << a->Output();
}

TEST(ElasticTest, RendezvousTimeoutSaysHowManyJoined) {
  const std::string endpoint = absl::StrCat("127.0.0.1:", braid::testing::PickUnusedPort());
  auto a = BraidrunProcess::Start({"--nnodes", "2:3", "--rdzv-backend", "braid",
                                   "--rdzv-endpoint", endpoint, "--rdzv-timeout", "1",
                                   "/bin/true"},
                                  TokenEnv());
  std::optional<ExitInfo> e = a->Wait(absl::Seconds(30));
  ASSERT_TRUE(e.has_value()) << a->Output();
  EXPECT_EQ(e->ShellCode(), 1) << a->Output();
  EXPECT_NE(a->Stderr().find("1 of min 2 nodes joined"), std::string::npos) << a->Output();
}

// --nnodes 1:3: two agents form a job, a third joins in the next round (the
// first two keep their workers), the third leaves and the survivors re-form.
TEST(ElasticTest, JoinAndLeave) {
  const std::string endpoint = absl::StrCat("127.0.0.1:", braid::testing::PickUnusedPort());
  const std::vector<std::string> args =
      Cmd({"--nnodes", "1:3", "--rdzv-backend", "braid", "--rdzv-endpoint", endpoint,
           "--rdzv-id", "el", "--rdzv-last-call", "0.3", "--rdzv-conf", "heartbeat=1",
           "--monitor-interval", "0.05", "--stop-timeout", "2", "--rdzv-timeout", "30"},
          "echo \"start gen=$BRAID_GENERATION rank=$RANK ws=$WORLD_SIZE\"; exec sleep 120");
  auto a = BraidrunProcess::Start(args, TokenEnv());
  ASSERT_TRUE(a->WaitForOutput("hosting the job store", absl::Seconds(20))) << a->Output();
  ASSERT_TRUE(a->WaitForOutput("]:start gen=", absl::Seconds(20))) << a->Output();

  auto b = BraidrunProcess::Start(args, TokenEnv());
  ASSERT_TRUE(a->WaitForOutput("of 2, world size 2", absl::Seconds(20))) << a->Output();
  ASSERT_TRUE(b->WaitForOutput("node 1 of 2, world size 2", absl::Seconds(20))) << b->Output();
  EXPECT_TRUE(absl::StrContains(Membership(endpoint, "el"), "world_size 2\n"));

  auto c = BraidrunProcess::Start(args, TokenEnv());
  ASSERT_TRUE(c->WaitForOutput("]:start gen=", absl::Seconds(20))) << c->Output();
  ASSERT_TRUE(a->WaitForOutput("node 0 of 3, world size 3", absl::Seconds(20))) << a->Output();
  ASSERT_TRUE(b->WaitForOutput("node 1 of 3, world size 3", absl::Seconds(20))) << b->Output();
  EXPECT_NE(c->Stdout().find("rank=2 ws=3"), std::string::npos) << c->Output();
  const std::string m3 = Membership(endpoint, "el");
  EXPECT_TRUE(absl::StrContains(m3, "world_size 3\n")) << m3;
  // The survivors' workers were not restarted.
  EXPECT_EQ(CountOf(a->Stdout(), "]:start"), 1) << a->Output();
  EXPECT_EQ(CountOf(b->Stdout(), "]:start"), 1) << b->Output();
  EXPECT_NE(a->Stderr().find("workers keep running"), std::string::npos) << a->Output();

  c->Signal(SIGTERM);
  std::optional<ExitInfo> ec = c->Wait(absl::Seconds(20));
  ASSERT_TRUE(ec.has_value()) << c->Output();
  EXPECT_EQ(ec->ShellCode(), 128 + SIGTERM);
  ASSERT_TRUE(a->WaitForOutput("node 0 of 2, world size 2", absl::Seconds(20), 2)) << a->Output();
  ASSERT_TRUE(b->WaitForOutput("node 1 of 2, world size 2", absl::Seconds(20), 2)) << b->Output();
  const std::string m4 = Membership(endpoint, "el");
  EXPECT_TRUE(absl::StrContains(m4, "world_size 2\n")) << m4;
  EXPECT_EQ(CountOf(a->Stdout(), "]:start"), 1) << a->Output();

  b->Signal(SIGTERM);
  a->Signal(SIGTERM);
  std::optional<ExitInfo> eb = b->Wait(absl::Seconds(20));
  std::optional<ExitInfo> ea = a->Wait(absl::Seconds(20));
  ASSERT_TRUE(ea.has_value() && eb.has_value());
  EXPECT_EQ(ea->ShellCode(), 128 + SIGTERM) << a->Output();
  EXPECT_EQ(eb->ShellCode(), 128 + SIGTERM) << b->Output();
}

// An agent SIGKILLed (no orderly leave) is noticed by lease expiry.
TEST(ElasticTest, KilledAgentIsNoticed) {
  const std::string endpoint = absl::StrCat("127.0.0.1:", braid::testing::PickUnusedPort());
  const std::vector<std::string> args =
      Cmd({"--nnodes", "1:2", "--rdzv-backend", "braid", "--rdzv-endpoint", endpoint,
           "--rdzv-id", "kill", "--rdzv-last-call", "0.3", "--rdzv-conf", "heartbeat=1",
           "--monitor-interval", "0.05", "--rdzv-timeout", "30"},
          "echo start; exec sleep 120");
  auto a = BraidrunProcess::Start(args, TokenEnv());
  ASSERT_TRUE(a->WaitForOutput("hosting the job store", absl::Seconds(20))) << a->Output();
  auto b = BraidrunProcess::Start(args, TokenEnv());
  ASSERT_TRUE(a->WaitForOutput("node 0 of 2", absl::Seconds(20))) << a->Output();
  ASSERT_TRUE(b->WaitForOutput("]:start", absl::Seconds(20))) << b->Output();
  const int alone_before = CountOf(a->Stderr(), "node 0 of 1, world size 1");
  b->Signal(SIGKILL);
  ASSERT_TRUE(b->Wait(absl::Seconds(10)).has_value());
  ASSERT_TRUE(a->WaitForOutput("node 0 of 1, world size 1", absl::Seconds(20), alone_before + 1))
      << a->Output();
  a->Signal(SIGTERM);
  ASSERT_TRUE(a->Wait(absl::Seconds(20)).has_value());
}

// Elastic jobs restart only the failed worker.
TEST(ElasticTest, OnlyTheFailedWorkerRestarts) {
  const std::string endpoint = absl::StrCat("127.0.0.1:", braid::testing::PickUnusedPort());
  auto p = BraidrunProcess::Start(
      Cmd({"--nnodes", "1:2", "--nproc-per-node", "2", "--max-restarts", "1", "--rdzv-backend",
           "braid", "--rdzv-endpoint", endpoint, "--rdzv-last-call", "0", "--monitor-interval",
           "0.05"},
          "echo \"up $LOCAL_RANK $BRAID_RESTART_COUNT\"; "
          "if [ \"$LOCAL_RANK\" = 1 ] && [ \"$BRAID_RESTART_COUNT\" = 0 ]; then exit 5; fi; "
          "sleep 1; exit 0"),
      TokenEnv());
  std::optional<ExitInfo> e = p->Wait(absl::Seconds(60));
  ASSERT_TRUE(e.has_value() && e->ok()) << p->Output();
  const std::string out = p->Stdout();
  EXPECT_EQ(CountOf(out, "]:up 0 0\n"), 1) << out;
  EXPECT_EQ(CountOf(out, "]:up 1 0\n"), 1) << out;
  EXPECT_EQ(CountOf(out, "]:up 1 1\n"), 1) << out;
  EXPECT_EQ(CountOf(out, "]:up 0 1\n"), 0) << out;
  EXPECT_NE(p->Stderr().find("restarting it (restart 1 of 1)"), std::string::npos) << p->Output();
}

}  // namespace
}  // namespace braid::launcher
