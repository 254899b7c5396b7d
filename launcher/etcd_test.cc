// braidrun agents rendezvousing through a real etcd (started on loopback by
// EtcdTestServer; skipped when no etcd binary is installed).
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "elastic/etcd/etcd_test_server.h"
#include "gtest/gtest.h"
#include "launcher/launcher_test_util.h"

namespace braid::launcher {
namespace {

using testing::BraidrunProcess;
using testing::CountOf;

class EtcdLaunchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto etcd = elastic::EtcdTestServer::Start();
    if (absl::IsNotFound(etcd.status())) GTEST_SKIP() << etcd.status().message();
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    etcd_ = std::move(*etcd);
  }

  std::vector<std::string> Args(const std::string& nnodes, const std::string& run_id,
                                const std::string& script) {
    return {"--nnodes", nnodes, "--rdzv-backend", "etcd", "--rdzv-endpoint", etcd_->endpoint(),
            "--rdzv-id", run_id, "--rdzv-last-call", "0.3", "--rdzv-conf", "heartbeat=2",
            "--monitor-interval", "0.05", "--stop-timeout", "2", "--rdzv-timeout", "30",
            "/bin/sh", "-c", script};
  }

  std::unique_ptr<elastic::EtcdTestServer> etcd_;
};

const std::map<std::string, std::string> kEnv = {{"BRAID_JOB_TOKEN", "etcd-test-token"}};

TEST_F(EtcdLaunchTest, TwoNodesFormOneJob) {
  const auto args = Args("2", "etcd2", "echo \"w rank=$RANK ws=$WORLD_SIZE store=$BRAID_STORE_ADDR\"");
  auto a = BraidrunProcess::Start(args, kEnv);
  auto b = BraidrunProcess::Start(args, kEnv);
  std::optional<ExitInfo> ea = a->Wait(absl::Seconds(60));
  std::optional<ExitInfo> eb = b->Wait(absl::Seconds(60));
  ASSERT_TRUE(ea.has_value() && ea->ok()) << a->Output();
  ASSERT_TRUE(eb.has_value() && eb->ok()) << b->Output();
  const std::string all = a->Stdout() + b->Stdout();
  EXPECT_EQ(CountOf(all, "]:w rank=0 ws=2 store=etcd://127.0.0.1:"), 1) << all;
  EXPECT_EQ(CountOf(all, "]:w rank=1 ws=2 store=etcd://127.0.0.1:"), 1) << all;
}

TEST_F(EtcdLaunchTest, JoinAndLeave) {
  const auto args = Args("1:3", "etcdel", "echo \"start rank=$RANK ws=$WORLD_SIZE\"; exec sleep 120");
  auto a = BraidrunProcess::Start(args, kEnv);
  ASSERT_TRUE(a->WaitForOutput("]:start", absl::Seconds(30))) << a->Output();
  auto b = BraidrunProcess::Start(args, kEnv);
  ASSERT_TRUE(a->WaitForOutput("of 2, world size 2", absl::Seconds(30))) << a->Output();
  ASSERT_TRUE(b->WaitForOutput("of 2, world size 2", absl::Seconds(30))) << b->Output();
  auto c = BraidrunProcess::Start(args, kEnv);
  ASSERT_TRUE(a->WaitForOutput("of 3, world size 3", absl::Seconds(30))) << a->Output();
  ASSERT_TRUE(b->WaitForOutput("of 3, world size 3", absl::Seconds(30))) << b->Output();
  ASSERT_TRUE(c->WaitForOutput("]:start rank=2 ws=3", absl::Seconds(30))) << c->Output();
  EXPECT_EQ(CountOf(a->Stdout(), "]:start"), 1) << a->Output();

  c->Signal(SIGTERM);
  ASSERT_TRUE(c->Wait(absl::Seconds(20)).has_value()) << c->Output();
  ASSERT_TRUE(a->WaitForOutput("of 2, world size 2", absl::Seconds(30), 2)) << a->Output();
  ASSERT_TRUE(b->WaitForOutput("of 2, world size 2", absl::Seconds(30), 2)) << b->Output();
  a->Signal(SIGTERM);
  b->Signal(SIGTERM);
  std::optional<ExitInfo> ea = a->Wait(absl::Seconds(20));
  std::optional<ExitInfo> eb = b->Wait(absl::Seconds(20));
  ASSERT_TRUE(ea.has_value() && eb.has_value());
  EXPECT_EQ(ea->ShellCode(), 128 + SIGTERM) << a->Output();
  EXPECT_EQ(eb->ShellCode(), 128 + SIGTERM) << b->Output();
}

}  // namespace
}  // namespace braid::launcher
