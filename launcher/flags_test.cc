#include "launcher/flags.h"

#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace braid::launcher {
namespace {

absl::StatusOr<ParsedFlags> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "braidrun");
  return ParseFlags(static_cast<int>(args.size()), args.data());
}

TEST(FlagsTest, Defaults) {
  auto p = Parse({"train", "--lr", "3"});
  ASSERT_TRUE(p.ok()) << p.status();
  const LaunchConfig& c = p->config;
  EXPECT_EQ(c.min_nodes, 1);
  EXPECT_EQ(c.max_nodes, 1);
  EXPECT_EQ(c.nproc_per_node, 1);
  EXPECT_EQ(c.rdzv_backend, RdzvBackend::kStatic);
  EXPECT_EQ(c.node_rank, 0);
  EXPECT_EQ(c.rdzv_id, "none");
  EXPECT_EQ(c.monitor_interval, absl::Milliseconds(100));
  EXPECT_EQ(c.command, (std::vector<std::string>{"train", "--lr", "3"}));
}

TEST(FlagsTest, TorchrunSpellings) {
  auto p = Parse({"--nnodes=1:4", "--nproc_per_node", "8", "--rdzv_backend=c10d",
                  "--rdzv-endpoint", "head:29400", "--rdzv_id", "job7", "--rdzv-timeout", "30",
                  "--rdzv-conf", "last_call_timeout=0.5,heartbeat=2", "--max_restarts", "3",
                  "--monitor-interval", "0.5", "--tee", "3", "--log_dir", "/tmp/x", "--no-python",
                  "prog", "-x", "--nnodes", "9"});
  ASSERT_TRUE(p.ok()) << p.status();
  const LaunchConfig& c = p->config;
  EXPECT_EQ(c.min_nodes, 1);
  EXPECT_EQ(c.max_nodes, 4);
  EXPECT_TRUE(c.elastic());
  EXPECT_EQ(c.nproc_per_node, 8);
  EXPECT_EQ(c.rdzv_backend, RdzvBackend::kBraid);
  EXPECT_EQ(c.rdzv_endpoint, "head:29400");
  EXPECT_EQ(c.rdzv_id, "job7");
  EXPECT_EQ(c.rdzv_timeout, absl::Seconds(30));
  EXPECT_EQ(c.rdzv_last_call, absl::Milliseconds(500));
  EXPECT_EQ(c.rdzv_heartbeat, absl::Seconds(2));
  EXPECT_EQ(c.max_restarts, 3);
  EXPECT_EQ(c.monitor_interval, absl::Milliseconds(500));
  EXPECT_TRUE(c.tee.stdout_selected && c.tee.stderr_selected);
  EXPECT_EQ(c.log_dir, "/tmp/x");
  // Flags after the program belong to the program.
  EXPECT_EQ(c.command, (std::vector<std::string>{"prog", "-x", "--nnodes", "9"}));
}

TEST(FlagsTest, LastCallFlagWinsOverConf) {
  auto p = Parse({"--rdzv-conf", "last_call_timeout=3", "--rdzv-last-call", "0.25", "prog"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.rdzv_last_call, absl::Milliseconds(250));
}

TEST(FlagsTest, Standalone) {
  auto p = Parse({"--standalone", "--nproc-per-node", "2", "prog"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.rdzv_backend, RdzvBackend::kBraid);
  EXPECT_EQ(p->config.rdzv_endpoint, "127.0.0.1:0");
}

TEST(FlagsTest, StaticMultiNode) {
  auto p = Parse({"--nnodes", "2", "--node-rank", "1", "--master-addr", "10.0.0.1",
                  "--master-port", "1234", "prog"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.node_rank, 1);
  EXPECT_EQ(p->config.master_addr, "10.0.0.1");
  EXPECT_EQ(p->config.master_port, 1234);
  EXPECT_TRUE(p->config.master_port_given);
}

TEST(FlagsTest, Help) {
  auto p = Parse({"--help"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->exit_now);
  EXPECT_NE(p->exit_message.find("--nproc-per-node"), std::string::npos);
}

TEST(FlagsTest, Errors) {
  const std::vector<std::vector<const char*>> bad = {
      {},
      {"--nnodes", "0", "p"},
      {"--nnodes", "2:1", "p"},
      {"--nnodes", "a:b", "p"},
      {"--nproc-per-node", "-1", "p"},
      {"--rdzv-backend", "x", "p"},
      {"--nnodes", "1:2", "p"},  // static cannot be elastic
      {"--nnodes", "2", "--node-rank", "2", "p"},
      {"--nnodes", "2", "--rdzv-backend", "braid", "p"},  // needs an endpoint
      {"--standalone", "--nnodes", "2", "p"},
      {"--rdzv-conf", "nonsense", "p"},
      {"--rdzv-conf", "heartbeat=0", "p"},
      {"--rdzv-timeout", "-1", "p"},
      {"--monitor-interval", "0", "p"},
      {"--redirects", "4", "--log-dir", "/tmp", "p"},
      {"--tee", "1", "p"},
      {"--max-restarts", "-2", "p"},
      {"--unknown-flag", "p"},
  };
  for (const auto& args : bad) {
    auto p = Parse(args);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument)
        << (args.empty() ? "(none)" : args[0]) << " " << p.status();
  }
}

TEST(FlagsTest, NodeRange) {
  int lo = 0, hi = 0;
  ASSERT_TRUE(ParseNodeRange("3", &lo, &hi).ok());
  EXPECT_EQ(lo, 3);
  EXPECT_EQ(hi, 3);
  ASSERT_TRUE(ParseNodeRange("2:5", &lo, &hi).ok());
  EXPECT_EQ(lo, 2);
  EXPECT_EQ(hi, 5);
  EXPECT_FALSE(ParseNodeRange("2:", &lo, &hi).ok());
  EXPECT_FALSE(ParseNodeRange("1:2:3", &lo, &hi).ok());
}

TEST(FlagsTest, RdzvConfKeys) {
  auto p = Parse({"--rdzv_conf",
                  "join_timeout=60,last_call_timeout=0.5,read_timeout=7,close_timeout=3,"
                  "heartbeat=2",
                  "prog"});
  ASSERT_TRUE(p.ok()) << p.status();
  const LaunchConfig& c = p->config;
  EXPECT_EQ(c.rdzv_timeout, absl::Seconds(60));
  EXPECT_EQ(c.rdzv_last_call, absl::Milliseconds(500));
  EXPECT_EQ(c.rdzv_read_timeout, absl::Seconds(7));
  EXPECT_EQ(c.rdzv_close_timeout, absl::Seconds(3));
  EXPECT_EQ(c.rdzv_heartbeat, absl::Seconds(2));
  auto defaults = Parse({"prog"});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->config.rdzv_read_timeout, absl::Seconds(5));
  EXPECT_EQ(defaults->config.rdzv_close_timeout, absl::Seconds(2));

  auto unknown = Parse({"--rdzv-conf", "read_timeout=1,timeuot=3", "prog"});
  ASSERT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("unknown key 'timeuot'"), absl::string_view::npos)
      << unknown.status();
  EXPECT_NE(unknown.status().message().find("close_timeout"), absl::string_view::npos);
  for (const char* bad : {"read_timeout=0", "close_timeout=-1", "join_timeout=x"}) {
    EXPECT_EQ(Parse({"--rdzv-conf", bad, "prog"}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(FlagsTest, LocalRanksFilterAndCpuBind) {
  auto p = Parse({"--nproc-per-node", "4", "--local_ranks_filter", "0, 2", "--cpu_bind", "cores",
                  "prog"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.local_ranks_filter, (std::set<int>{0, 2}));
  EXPECT_EQ(p->config.cpu_bind, CpuBind::kCores);
  auto defaults = Parse({"prog"});
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->config.local_ranks_filter.empty());
  EXPECT_EQ(defaults->config.cpu_bind, CpuBind::kNone);
  EXPECT_EQ(ToString(CpuBind::kCores), "cores");
  for (const std::vector<const char*>& bad :
       std::vector<std::vector<const char*>>{{"--nproc-per-node", "2", "--local-ranks-filter", "2", "p"},
                                             {"--local-ranks-filter", "a", "p"},
                                             {"--local-ranks-filter", "-1", "p"},
                                             {"--local-ranks-filter", ",", "p"},
                                             {"--cpu-bind", "sockets", "p"}}) {
    EXPECT_EQ(Parse(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad[1];
  }
}

}  // namespace
}  // namespace braid::launcher
