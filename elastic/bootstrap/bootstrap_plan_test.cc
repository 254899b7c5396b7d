// PlanBootstrap: how each launcher's variables are read (no processes, no
// sockets: the decision only).
#include <map>
#include <string>

#include "elastic/bootstrap/bootstrap.h"
#include "gtest/gtest.h"

namespace braid::elastic {
namespace {

runtime::Config ConfigOf(const std::map<std::string, std::string>& vars) {
  absl::StatusOr<runtime::Config> config = runtime::Config::FromMap(vars);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : runtime::Config();
}

TEST(BootstrapPlanTest, SingleProcessHostsItsOwnStoreOnLoopback) {
  absl::StatusOr<BootstrapPlan> plan = PlanBootstrap(ConfigOf({}), "", true);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->store_mode, StoreMode::kInProcess);
  EXPECT_TRUE(plan->host_store);
  EXPECT_EQ(plan->store_bind_host, "127.0.0.1");
  EXPECT_EQ(plan->backend, "tcp");
  EXPECT_FALSE(plan->start_mpi);
}

TEST(BootstrapPlanTest, BraidrunStoreIsUsedAsGiven) {
  absl::StatusOr<BootstrapPlan> plan =
      PlanBootstrap(ConfigOf({{"RANK", "2"},
                              {"WORLD_SIZE", "4"},
                              {"BRAID_STORE_ADDR", "10.1.2.3:4000"},
                              {"BRAID_JOB_TOKEN", "secret"},
                              {"MASTER_ADDR", "10.1.2.3"},
                              {"MASTER_PORT", "29500"},
                              {"BRAID_BACKEND", "tcp"}}),
                    "", true);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->store_mode, StoreMode::kLauncherStore);
  EXPECT_FALSE(plan->host_store);
  EXPECT_EQ(plan->store_address, "10.1.2.3:4000");
  EXPECT_EQ(plan->job_token, "secret");
  EXPECT_FALSE(plan->start_mpi);
}

TEST(BootstrapPlanTest, MasterAddrModeRankZeroHostsAndNeedsAToken) {
  std::map<std::string, std::string> vars = {{"RANK", "0"},
                                             {"WORLD_SIZE", "4"},
                                             {"MASTER_ADDR", "127.0.0.1"},
                                             {"MASTER_PORT", "29500"},
                                             {"BRAID_JOB_TOKEN", "t"}};
  absl::StatusOr<BootstrapPlan> plan = PlanBootstrap(ConfigOf(vars), "", true);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->store_mode, StoreMode::kMasterAddr);
  EXPECT_TRUE(plan->host_store);
  EXPECT_EQ(plan->store_port, 29500);
  EXPECT_EQ(plan->store_address, "127.0.0.1:29500");

  vars["RANK"] = "3";
  plan = PlanBootstrap(ConfigOf(vars), "", true);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->host_store);

  vars.erase("BRAID_JOB_TOKEN");
  plan = PlanBootstrap(ConfigOf(vars), "", true);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("BRAID_JOB_TOKEN"), absl::string_view::npos)
      << plan.status();
}

TEST(BootstrapPlanTest, PlainMpirunStartsMpiAndRankZeroHosts) {
  std::map<std::string, std::string> vars = {{"OMPI_COMM_WORLD_RANK", "0"},
                                             {"OMPI_COMM_WORLD_SIZE", "4"},
                                             {"OMPI_COMM_WORLD_LOCAL_RANK", "0"},
                                             {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}};
  absl::StatusOr<BootstrapPlan> plan = PlanBootstrap(ConfigOf(vars), "tcp", true);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->store_mode, StoreMode::kMpiBroadcast);
  EXPECT_TRUE(plan->start_mpi);
  EXPECT_TRUE(plan->host_store);
  EXPECT_FALSE(plan->multi_host);
  EXPECT_EQ(plan->store_bind_host, "127.0.0.1");
  EXPECT_TRUE(plan->job_token.empty());  // rank 0 makes one

  // Spanning hosts: rank 0 publishes this host's address, not loopback.
  vars["OMPI_COMM_WORLD_LOCAL_SIZE"] = "2";
  plan = PlanBootstrap(ConfigOf(vars), "mpi", true);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->multi_host);
  EXPECT_TRUE(plan->mpi_requested);
  EXPECT_EQ(plan->store_bind_host, "");

  // Without MPI built, rank 0 cannot broadcast: MASTER_ADDR is the way out.
  plan = PlanBootstrap(ConfigOf(vars), "tcp", false);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("MASTER_ADDR"), absl::string_view::npos);
  vars["MASTER_ADDR"] = "127.0.0.1";
  vars["MASTER_PORT"] = "29501";
  vars["BRAID_JOB_TOKEN"] = "t";
  plan = PlanBootstrap(ConfigOf(vars), "tcp", false);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->store_mode, StoreMode::kMasterAddr);
  EXPECT_FALSE(plan->start_mpi);
}

TEST(BootstrapPlanTest, MpiBackendNeedsMpirunAndAnMpiBuild) {
  const runtime::Config braidrun =
      ConfigOf({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"BRAID_STORE_ADDR", "127.0.0.1:1"}});
  absl::StatusOr<BootstrapPlan> plan = PlanBootstrap(braidrun, "mpi", true);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("mpirun"), absl::string_view::npos) << plan.status();

  plan = PlanBootstrap(ConfigOf({}), "cpu:mpi,cuda:nccl", false);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("without MPI"), absl::string_view::npos);

  // A single process may use mpi (MPI singleton).
  plan = PlanBootstrap(ConfigOf({}), "mpi", true);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->start_mpi);
  EXPECT_EQ(plan->store_mode, StoreMode::kInProcess);
}

TEST(BootstrapPlanTest, SeveralRanksWithoutAnyStoreIsAClearError) {
  absl::StatusOr<BootstrapPlan> plan =
      PlanBootstrap(ConfigOf({{"RANK", "1"}, {"WORLD_SIZE", "2"}}), "", true);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("braidrun"), absl::string_view::npos) << plan.status();
  EXPECT_EQ(PlanBootstrap(ConfigOf({}), " , ", true).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BootstrapPlanTest, StoreModeNames) {
  EXPECT_EQ(ToString(StoreMode::kLauncherStore), "launcher");
  EXPECT_EQ(ToString(StoreMode::kInProcess), "in-process");
  EXPECT_EQ(ToString(StoreMode::kMpiBroadcast), "mpi-broadcast");
  EXPECT_EQ(ToString(StoreMode::kMasterAddr), "master-addr");
}

}  // namespace
}  // namespace braid::elastic
