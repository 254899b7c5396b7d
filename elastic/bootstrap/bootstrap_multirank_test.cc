// elastic::Bootstrap with 4 real rank processes: braidrun-style (a store the
// parent hosts, BRAID_STORE_ADDR/BRAID_JOB_TOKEN/RANK/...) and torchrun-style
// MASTER_ADDR mode (rank 0 hosts). Each rank reads its environment exactly
// as a launched worker would.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "elastic/bootstrap/bootstrap.h"
#include "elastic/store/store_server.h"
#include "gtest/gtest.h"
#include "runtime/tensor.h"
#include "tests/testing/run_ranks.h"

namespace braid::elastic {
namespace {

using braid::testing::IsRankProcess;
using braid::testing::RankResults;
using braid::testing::RunRanks;
using braid::testing::RunRanksOptions;
using braid::testing::TimeoutScale;

constexpr int kRanks = 4;

absl::Time Deadline() { return absl::Now() + absl::Seconds(30) * TimeoutScale(); }

// The environment a launcher gives rank r of kRanks on one node.
RunRanksOptions LaunchEnv(int ranks, std::map<std::string, std::string> common) {
  RunRanksOptions options;
  options.timeout = absl::Seconds(60);
  options.env = std::move(common);
  options.env["WORLD_SIZE"] = absl::StrCat(ranks);
  options.env["LOCAL_WORLD_SIZE"] = absl::StrCat(ranks);
  options.env["GROUP_RANK"] = "0";
  for (int rank = 0; rank < ranks; ++rank) {
    options.rank_env.push_back({{"RANK", absl::StrCat(rank)}, {"LOCAL_RANK", absl::StrCat(rank)}});
  }
  return options;
}

// What every rank checks once bootstrapped: the world, the store, and an
// all-reduce of (rank + 1) over the world communicator.
void CheckWorld(Context& ctx, int rank, int world_size) {
  EXPECT_EQ(ctx.global_rank(), rank);
  EXPECT_EQ(ctx.world_size(), world_size);
  EXPECT_EQ(ctx.world().launcher, runtime::Launcher::kBraidrun);
  ASSERT_TRUE(ctx.has_communicator());
  EXPECT_EQ(ctx.communicator().rank(), rank);
  EXPECT_EQ(ctx.communicator().size(), world_size);

  absl::StatusOr<int64_t> joined = ctx.store().Add("test/joined", 1, Deadline());
  ASSERT_TRUE(joined.ok()) << joined.status();

  absl::StatusOr<runtime::Tensor> t =
      runtime::Tensor::Full({1000}, runtime::DType::kF32, rank + 1.0);
  ASSERT_TRUE(t.ok());
  absl::Status status =
      ctx.communicator().AllReduce(*t, *t, collectives::ReduceOp::kSum)->Wait(Deadline());
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(t->data<float>()[999], world_size * (world_size + 1) / 2.0f);
  status = ctx.communicator().Barrier()->Wait(Deadline());
  ASSERT_TRUE(status.ok()) << status;
  absl::StatusOr<std::string> count = ctx.store().Get("test/joined", Deadline());
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, absl::StrCat(world_size));
}

TEST(BootstrapMultirankTest, BraidrunStyleStoreFromTheEnvironment) {
  std::unique_ptr<StoreServer> server;
  RunRanksOptions options;
  if (!IsRankProcess()) {
    StoreServerOptions server_options;
    server_options.job_token = "job-token-for-test";
    absl::StatusOr<std::unique_ptr<StoreServer>> created = StoreServer::Create(server_options);
    ASSERT_TRUE(created.ok()) << created.status();
    server = std::move(*created);
    options = LaunchEnv(kRanks, {{"BRAID_STORE_ADDR", server->address()},
                                 {"BRAID_JOB_TOKEN", "job-token-for-test"},
                                 {"BRAID_GENERATION", "3"}});
  }
  RankResults results = RunRanks(
      kRanks,
      [](int rank, int world_size) {
        BootstrapOptions bootstrap_options;
        bootstrap_options.timeout = absl::Seconds(30) * TimeoutScale();
        absl::StatusOr<std::unique_ptr<Context>> context = Bootstrap(bootstrap_options);
        ASSERT_TRUE(context.ok()) << context.status();
        EXPECT_EQ((*context)->store_mode(), StoreMode::kLauncherStore);
        EXPECT_FALSE((*context)->hosts_store());
        EXPECT_EQ((*context)->config().generation, 3);
        CheckWorld(**context, rank, world_size);
      },
      options);
  EXPECT_TRUE(results.AllSucceeded()) << results.Summary();
}

TEST(BootstrapMultirankTest, MasterAddrModeRankZeroHostsTheStore) {
  RunRanksOptions options;
  if (!IsRankProcess()) {
    options = LaunchEnv(kRanks, {{"MASTER_ADDR", "127.0.0.1"},
                                 {"MASTER_PORT", absl::StrCat(braid::testing::PickUnusedPort())},
                                 {"BRAID_JOB_TOKEN", "shared-secret"}});
  }
  RankResults results = RunRanks(
      kRanks,
      [](int rank, int world_size) {
        BootstrapOptions bootstrap_options;
        bootstrap_options.timeout = absl::Seconds(30) * TimeoutScale();
        absl::StatusOr<std::unique_ptr<Context>> context = Bootstrap(bootstrap_options);
        ASSERT_TRUE(context.ok()) << context.status();
        EXPECT_EQ((*context)->store_mode(), StoreMode::kMasterAddr);
        EXPECT_EQ((*context)->hosts_store(), rank == 0);
        CheckWorld(**context, rank, world_size);
        // Rank 0 keeps the store up until every rank has left (~Context),
        // so the last ranks' store calls here still succeed.
        absl::StatusOr<int64_t> left = (*context)->store().Add("test/left", 1, Deadline());
        EXPECT_TRUE(left.ok()) << left.status();
      },
      options);
  EXPECT_TRUE(results.AllSucceeded()) << results.Summary();
}

TEST(BootstrapMultirankTest, OneRankWithTheWrongTokenFailsClearly) {
  std::unique_ptr<StoreServer> server;
  RunRanksOptions options;
  if (!IsRankProcess()) {
    StoreServerOptions server_options;
    server_options.job_token = "right";
    absl::StatusOr<std::unique_ptr<StoreServer>> created = StoreServer::Create(server_options);
    ASSERT_TRUE(created.ok()) << created.status();
    server = std::move(*created);
    options = LaunchEnv(2, {{"BRAID_STORE_ADDR", server->address()}});
    // Per rank (a variable in both env and rank_env would be set twice).
    options.rank_env[0]["BRAID_JOB_TOKEN"] = "right";
    options.rank_env[1]["BRAID_JOB_TOKEN"] = "wrong";
  }
  RankResults results = RunRanks(
      2,
      [](int rank, int) {
        BootstrapOptions bootstrap_options;
        bootstrap_options.timeout = absl::Seconds(5) * TimeoutScale();
        bootstrap_options.create_communicator = false;
        absl::StatusOr<std::unique_ptr<Context>> context = Bootstrap(bootstrap_options);
        if (rank == 1) {
          ASSERT_EQ(context.status().code(), absl::StatusCode::kUnauthenticated)
              << context.status();
          EXPECT_NE(context.status().message().find("BRAID_JOB_TOKEN"), absl::string_view::npos);
        } else {
          ASSERT_TRUE(context.ok()) << context.status();
        }
      },
      options);
  EXPECT_TRUE(results.AllSucceeded()) << results.Summary();
}

}  // namespace
}  // namespace braid::elastic
