#include "runtime/config.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace braid::runtime {
namespace {

using Vars = std::map<std::string, std::string>;

// Expects kInvalidArgument whose message names every string in `mentions`.
void ExpectInvalid(const Vars& vars, std::initializer_list<const char*> mentions) {
  absl::StatusOr<Config> c = Config::FromMap(vars);
  ASSERT_FALSE(c.ok()) << "accepted: " << c->world.DebugString();
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  for (const char* m : mentions) {
    EXPECT_TRUE(absl::StrContains(c.status().message(), m))
        << "message '" << c.status().message() << "' does not mention '" << m << "'";
  }
}

TEST(ConfigTest, NoVariablesIsASingleProcess) {
  absl::StatusOr<Config> c = Config::FromMap({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->world, World{});
  EXPECT_EQ(c->world.launcher, Launcher::kNone);
  EXPECT_EQ(c->world.global_rank, 0);
  EXPECT_EQ(c->world.world_size, 1);
  EXPECT_EQ(c->world.local_world_size, 1);
  EXPECT_EQ(c->log_level, LogLevel::kInfo);
  EXPECT_EQ(c->backend, "tcp");
  EXPECT_EQ(c->op_timeout, absl::Minutes(5));
  EXPECT_FALSE(c->deterministic);
  EXPECT_TRUE(c->trace_dir.empty());
  EXPECT_TRUE(c->unknown_variables.empty());
}

TEST(ConfigTest, FromEnvironmentReadsTheProcess) {
  // The test harness runs without launcher variables (ctest sets only
  // BRAID_TEST_TIMEOUT_SCALE, which is not reported as unknown).
  absl::StatusOr<Config> c = Config::FromEnvironment();
  ASSERT_TRUE(c.ok()) << c.status();
  for (const std::string& name : c->unknown_variables) {
    EXPECT_FALSE(absl::StartsWith(name, "BRAID_TEST_")) << name;
  }
}

TEST(ConfigTest, AllKnobs) {
  absl::StatusOr<Config> c = Config::FromMap({
      {"BRAID_LOG_LEVEL", "debug:2"},
      {"BRAID_TRACE", "/tmp/traces"},
      {"BRAID_STORE_ADDR", "10.0.0.1:29400"},
      {"BRAID_JOB_TOKEN", "s3cret"},
      {"BRAID_GENERATION", "7"},
      {"BRAID_RESTART_COUNT", "2"},
      {"BRAID_BACKEND", "cpu:tcp,cuda:NCCL"},
      {"BRAID_DETERMINISTIC", "yes"},
      {"BRAID_OP_TIMEOUT", "1m30s"},
      {"BRAID_SOCKET_IFNAME", "eth0, eth1"},
      {"BRAID_TYPO", "1"},
      {"BRAID_TEST_RANK", "1"},
  });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->log_level, LogLevel::kDebug);
  EXPECT_EQ(c->vlog_level, 2);
  EXPECT_EQ(c->trace_dir, "/tmp/traces");
  EXPECT_EQ(c->store_addr, "10.0.0.1:29400");
  EXPECT_EQ(c->job_token, "s3cret");
  EXPECT_EQ(c->generation, 7);
  EXPECT_EQ(c->restart_count, 2);
  EXPECT_EQ(c->backend, "cpu:tcp,cuda:nccl");
  EXPECT_TRUE(c->deterministic);
  EXPECT_EQ(c->op_timeout, absl::Seconds(90));
  EXPECT_EQ(c->socket_ifnames, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_EQ(c->unknown_variables, std::vector<std::string>{"BRAID_TYPO"});
}

TEST(ConfigTest, DebugMode) {
  EXPECT_FALSE(Config::FromMap({})->debug_detail);
  EXPECT_TRUE(Config::FromMap({{"BRAID_DEBUG", "detail"}})->debug_detail);
  EXPECT_FALSE(Config::FromMap({{"BRAID_DEBUG", "off"}})->debug_detail);
  absl::StatusOr<Config> bad = Config::FromMap({{"BRAID_DEBUG", "verbose"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("BRAID_DEBUG"), absl::string_view::npos) << bad.status();
}

TEST(ConfigTest, KnobValues) {
  EXPECT_EQ(Config::FromMap({{"BRAID_OP_TIMEOUT", "90"}})->op_timeout, absl::Seconds(90));
  EXPECT_EQ(Config::FromMap({{"BRAID_OP_TIMEOUT", "0.5"}})->op_timeout, absl::Milliseconds(500));
  EXPECT_FALSE(Config::FromMap({{"BRAID_DETERMINISTIC", "0"}})->deterministic);
  EXPECT_TRUE(Config::FromMap({{"BRAID_DETERMINISTIC", "ON"}})->deterministic);
  EXPECT_EQ(Config::FromMap({{"TORCHELASTIC_RESTART_COUNT", "4"}})->restart_count, 4);
  EXPECT_EQ(Config::FromMap({{"BRAID_RESTART_COUNT", "1"}, {"TORCHELASTIC_RESTART_COUNT", "4"}})
                ->restart_count,
            1);
  EXPECT_EQ(Config::FromMap({{"BRAID_STORE_ADDR", "[::1]:29400"}})->store_addr, "[::1]:29400");
  EXPECT_EQ(Config::FromMap({{"BRAID_LOG_LEVEL", "WARNING"}})->log_level, LogLevel::kWarning);
}

TEST(ConfigTest, BadKnobs) {
  ExpectInvalid({{"BRAID_LOG_LEVEL", "loud"}}, {"BRAID_LOG_LEVEL", "loud", "debug, info"});
  ExpectInvalid({{"BRAID_GENERATION", "-1"}}, {"BRAID_GENERATION", "-1", ">= 0"});
  ExpectInvalid({{"BRAID_GENERATION", "x"}}, {"BRAID_GENERATION", "not an integer"});
  ExpectInvalid({{"BRAID_RESTART_COUNT", "1.5"}}, {"BRAID_RESTART_COUNT", "1.5"});
  ExpectInvalid({{"BRAID_DETERMINISTIC", "maybe"}}, {"BRAID_DETERMINISTIC", "maybe", "true"});
  ExpectInvalid({{"BRAID_OP_TIMEOUT", "soon"}}, {"BRAID_OP_TIMEOUT", "soon", "duration"});
  ExpectInvalid({{"BRAID_OP_TIMEOUT", "-5s"}}, {"BRAID_OP_TIMEOUT", "positive"});
  ExpectInvalid({{"BRAID_OP_TIMEOUT", "0"}}, {"BRAID_OP_TIMEOUT"});
  ExpectInvalid({{"BRAID_STORE_ADDR", "localhost"}}, {"BRAID_STORE_ADDR", "host:port"});
  ExpectInvalid({{"BRAID_STORE_ADDR", "h:70000"}}, {"BRAID_STORE_ADDR", "65535"});
  ExpectInvalid({{"BRAID_BACKEND", "tcp; rm"}}, {"BRAID_BACKEND"});
  ExpectInvalid({{"BRAID_BACKEND", ""}}, {"BRAID_BACKEND"});
}

TEST(ConfigTest, Braidrun) {
  absl::StatusOr<Config> c = Config::FromMap({{"RANK", "5"},
                                              {"WORLD_SIZE", "8"},
                                              {"LOCAL_RANK", "1"},
                                              {"LOCAL_WORLD_SIZE", "4"},
                                              {"GROUP_RANK", "1"},
                                              {"MASTER_ADDR", "node0"},
                                              {"MASTER_PORT", "29500"}});
  ASSERT_TRUE(c.ok()) << c.status();
  const World& w = c->world;
  EXPECT_EQ(w.launcher, Launcher::kBraidrun);
  EXPECT_EQ(w.global_rank, 5);
  EXPECT_EQ(w.world_size, 8);
  EXPECT_EQ(w.local_rank, 1);
  EXPECT_EQ(w.local_world_size, 4);
  EXPECT_EQ(w.node_rank, 1);
  EXPECT_EQ(w.master_addr, "node0");
  EXPECT_EQ(w.master_port, 29500);
  EXPECT_EQ(w.DebugString(), "rank 5/8 (local 1/4, node 1) via braidrun, master node0:29500");
  EXPECT_EQ(ToString(Launcher::kSlurm), "slurm");
}

TEST(ConfigTest, BraidrunWithoutLocalVariablesIsOneNode) {
  absl::StatusOr<World> w = ParseWorld({{"RANK", "2"}, {"WORLD_SIZE", "3"}});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->local_rank, 2);
  EXPECT_EQ(w->local_world_size, 3);
  EXPECT_EQ(w->node_rank, 0);
}

TEST(ConfigTest, BadWorlds) {
  ExpectInvalid({{"RANK", "abc"}, {"WORLD_SIZE", "4"}}, {"RANK='abc'", "not an integer", "< WORLD_SIZE"});
  ExpectInvalid({{"RANK", "4"}, {"WORLD_SIZE", "4"}}, {"RANK='4'", "0 <= RANK < WORLD_SIZE (4)"});
  ExpectInvalid({{"RANK", "-1"}, {"WORLD_SIZE", "4"}}, {"RANK='-1'"});
  ExpectInvalid({{"RANK", "0"}, {"WORLD_SIZE", "0"}}, {"WORLD_SIZE='0'", ">= 1"});
  ExpectInvalid({{"RANK", "0"}}, {"RANK='0'", "WORLD_SIZE is not"});
  ExpectInvalid({{"WORLD_SIZE", "2"}}, {"WORLD_SIZE='2'", "RANK is not"});
  ExpectInvalid({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}},
                {"LOCAL_RANK", "LOCAL_WORLD_SIZE is not"});
  ExpectInvalid({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "2"}, {"LOCAL_WORLD_SIZE", "2"}},
                {"LOCAL_RANK='2'", "< LOCAL_WORLD_SIZE (2)"});
  ExpectInvalid({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}, {"LOCAL_WORLD_SIZE", "3"}},
                {"LOCAL_WORLD_SIZE='3'", "world size 2"});
  ExpectInvalid({{"LOCAL_RANK", "0"}}, {"LOCAL_RANK='0'", "RANK and WORLD_SIZE"});
  ExpectInvalid({{"MASTER_ADDR", "h"}}, {"MASTER_ADDR='h'", "MASTER_PORT is not"});
  ExpectInvalid({{"MASTER_PORT", "1"}}, {"MASTER_PORT='1'", "MASTER_ADDR is not"});
  ExpectInvalid({{"MASTER_ADDR", "h"}, {"MASTER_PORT", "65536"}}, {"MASTER_PORT='65536'", "1..65535"});
  ExpectInvalid({{"MASTER_ADDR", "h"}, {"MASTER_PORT", "0"}}, {"MASTER_PORT='0'"});
  ExpectInvalid({{"MASTER_ADDR", "h"}, {"MASTER_PORT", "http"}}, {"MASTER_PORT='http'"});
  ExpectInvalid({{"MASTER_ADDR", " "}, {"MASTER_PORT", "1"}}, {"MASTER_ADDR", "empty"});
  ExpectInvalid({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"GROUP_RANK", "x"}}, {"GROUP_RANK='x'"});
}

TEST(ConfigTest, OpenMpi) {
  absl::StatusOr<World> w = ParseWorld({{"OMPI_COMM_WORLD_RANK", "3"},
                                        {"OMPI_COMM_WORLD_SIZE", "4"},
                                        {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                                        {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                                        {"PMIX_RANK", "3"}});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->launcher, Launcher::kMpirun);
  EXPECT_EQ(w->global_rank, 3);
  EXPECT_EQ(w->world_size, 4);
  EXPECT_EQ(w->local_rank, 1);
  EXPECT_EQ(w->local_world_size, 2);
  EXPECT_EQ(w->node_rank, -1);
  EXPECT_TRUE(w->master_addr.empty());

  // PMIX_RANK stands in for the rank.
  absl::StatusOr<World> pmix = ParseWorld({{"PMIX_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"}});
  ASSERT_TRUE(pmix.ok()) << pmix.status();
  EXPECT_EQ(pmix->global_rank, 1);
  EXPECT_EQ(pmix->launcher, Launcher::kMpirun);
  ExpectInvalid({{"PMIX_RANK", "1"}}, {"PMIX_RANK='1'", "OMPI_COMM_WORLD_SIZE"});
  ExpectInvalid({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "2"}},
                {"OMPI_COMM_WORLD_RANK='2'", "< OMPI_COMM_WORLD_SIZE (2)"});

  // braidrun's variables win when launchers nest (torchrun under mpirun).
  absl::StatusOr<World> nested = ParseWorld({{"RANK", "0"},
                                             {"WORLD_SIZE", "1"},
                                             {"OMPI_COMM_WORLD_RANK", "3"},
                                             {"OMPI_COMM_WORLD_SIZE", "4"}});
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->launcher, Launcher::kBraidrun);
}

TEST(ConfigTest, Slurm) {
  absl::StatusOr<World> w = ParseWorld({{"SLURM_PROCID", "5"},
                                        {"SLURM_NTASKS", "7"},
                                        {"SLURM_STEP_ID", "0"},
                                        {"SLURM_LOCALID", "1"},
                                        {"SLURM_NODEID", "2"},
                                        {"SLURM_TASKS_PER_NODE", "2(x3),1"},
                                        {"SLURM_STEP_NODELIST", "gpu[07-09,12],login1"}});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->launcher, Launcher::kSlurm);
  EXPECT_EQ(w->global_rank, 5);
  EXPECT_EQ(w->world_size, 7);
  EXPECT_EQ(w->local_rank, 1);
  EXPECT_EQ(w->local_world_size, 2);
  EXPECT_EQ(w->node_rank, 2);
  EXPECT_EQ(w->master_addr, "gpu07");
  EXPECT_EQ(w->master_port, 0);

  // The last node of "2(x3),1" runs one task; MASTER_* override the host.
  absl::StatusOr<World> last = ParseWorld({{"SLURM_PROCID", "6"},
                                           {"SLURM_STEP_NUM_TASKS", "7"},
                                           {"SLURM_NTASKS", "99"},
                                           {"SLURM_STEP_ID", "3"},
                                           {"SLURM_LOCALID", "0"},
                                           {"SLURM_NODEID", "3"},
                                           {"SLURM_STEP_TASKS_PER_NODE", "2(x3),1"},
                                           {"SLURM_STEP_NODELIST", "a1,a2"},
                                           {"MASTER_ADDR", "10.1.1.1"},
                                           {"MASTER_PORT", "1234"}});
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->world_size, 7);
  EXPECT_EQ(last->local_world_size, 1);
  EXPECT_EQ(last->master_addr, "10.1.1.1");
  EXPECT_EQ(last->master_port, 1234);

  // A batch script's own shell (no job step) is a single process.
  absl::StatusOr<World> batch = ParseWorld({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "8"}});
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->launcher, Launcher::kNone);
  EXPECT_EQ(batch->world_size, 1);

  ExpectInvalid({{"SLURM_PROCID", "8"}, {"SLURM_NTASKS", "8"}, {"SLURM_STEP_ID", "0"}},
                {"SLURM_PROCID='8'", "< SLURM_NTASKS (8)"});
  ExpectInvalid({{"SLURM_PROCID", "0"}, {"SLURM_STEP_ID", "0"}}, {"SLURM_NTASKS"});
  ExpectInvalid({{"SLURM_PROCID", "0"},
                 {"SLURM_NTASKS", "2"},
                 {"SLURM_STEP_ID", "0"},
                 {"SLURM_LOCALID", "0"},
                 {"SLURM_NODEID", "1"},
                 {"SLURM_TASKS_PER_NODE", "2"}},
                {"SLURM_TASKS_PER_NODE='2'", "node 1"});
  ExpectInvalid({{"SLURM_PROCID", "0"},
                 {"SLURM_NTASKS", "2"},
                 {"SLURM_STEP_ID", "0"},
                 {"SLURM_LOCALID", "0"},
                 {"SLURM_TASKS_PER_NODE", "2(x"}},
                {"SLURM_TASKS_PER_NODE"});
}

TEST(ConfigTest, SlurmHostLists) {
  auto first = [](const char* list) {
    absl::StatusOr<World> w = ParseWorld(
        {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}, {"SLURM_STEP_ID", "0"},
         {"SLURM_STEP_NODELIST", list}});
    return w.ok() ? w->master_addr : std::string("error");
  };
  EXPECT_EQ(first("node1"), "node1");
  EXPECT_EQ(first("node1,node2"), "node1");
  EXPECT_EQ(first("n[3-5]"), "n3");
  EXPECT_EQ(first("n[003,007]"), "n003");
  EXPECT_EQ(first("rack[1-2]-gpu,x"), "rack1-gpu");
  EXPECT_EQ(first("a1,b[1-3]"), "a1");
}

TEST(ConfigTest, ErrorFile) {
  absl::StatusOr<Config> none = Config::FromMap({});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->error_file, "");
  absl::StatusOr<Config> torch = Config::FromMap({{"TORCHELASTIC_ERROR_FILE", "/r/t.json"}});
  ASSERT_TRUE(torch.ok()) << torch.status();
  EXPECT_EQ(torch->error_file, "/r/t.json");
  // braid's name wins when both are set; it is a known knob.
  absl::StatusOr<Config> both = Config::FromMap(
      {{"TORCHELASTIC_ERROR_FILE", "/r/t.json"}, {"BRAID_ERROR_FILE", "/r/b.json"}});
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->error_file, "/r/b.json");
  EXPECT_TRUE(both->unknown_variables.empty());
}

TEST(ConfigTest, SlurmCompressedNodeListAndMasterAddr) {
  // What srun sets for task 5 of 8 on the second node of node[01-04,07].
  const Vars slurm = {{"SLURM_PROCID", "5"},         {"SLURM_NTASKS", "8"},
                      {"SLURM_LOCALID", "1"},        {"SLURM_NODEID", "1"},
                      {"SLURM_STEP_ID", "0"},        {"SLURM_TASKS_PER_NODE", "4(x2)"},
                      {"SLURM_STEP_NODELIST", "node[01-04,07]"}};
  absl::StatusOr<Config> c = Config::FromMap(slurm);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->world.launcher, Launcher::kSlurm);
  EXPECT_EQ(c->world.global_rank, 5);
  EXPECT_EQ(c->world.world_size, 8);
  EXPECT_EQ(c->world.local_rank, 1);
  EXPECT_EQ(c->world.local_world_size, 4);
  EXPECT_EQ(c->world.node_rank, 1);
  EXPECT_EQ(c->world.master_addr, "node01");
  // MASTER_ADDR/MASTER_PORT, when the user sets them, override the host.
  Vars with_master = slurm;
  with_master["MASTER_ADDR"] = "head";
  with_master["MASTER_PORT"] = "29500";
  absl::StatusOr<Config> m = Config::FromMap(with_master);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->world.master_addr, "head");
  EXPECT_EQ(m->world.master_port, 29500);
  // MASTER_PORT alone: the host is the node list's first.
  Vars port_only = slurm;
  port_only["MASTER_PORT"] = "29501";
  absl::StatusOr<Config> p = Config::FromMap(port_only);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->world.master_addr, "node01");
  EXPECT_EQ(p->world.master_port, 29501);
  port_only["MASTER_PORT"] = "0";
  ExpectInvalid(port_only, {"MASTER_PORT='0'"});
  // Outside Slurm MASTER_PORT still needs MASTER_ADDR.
  ExpectInvalid({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "1"}}, {"MASTER_ADDR"});
}

}  // namespace
}  // namespace braid::runtime
