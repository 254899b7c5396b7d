// elastic::Bootstrap in one process: the single-process world, and the clear
// errors for a wrong token, an unreachable store and bad backends.
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/debug/debug_communicator.h"
#include "elastic/bootstrap/bootstrap.h"
#include "elastic/store/store_server.h"
#include "gtest/gtest.h"
#include "runtime/tensor.h"
#include "tests/testing/run_ranks.h"

namespace braid::elastic {
namespace {

runtime::Config ConfigOf(const std::map<std::string, std::string>& vars) {
  absl::StatusOr<runtime::Config> config = runtime::Config::FromMap(vars);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : runtime::Config();
}

BootstrapOptions OptionsFor(const std::map<std::string, std::string>& vars) {
  BootstrapOptions options;
  options.config = ConfigOf(vars);
  options.timeout = absl::Seconds(30) * braid::testing::TimeoutScale();
  return options;
}

TEST(BootstrapSingleTest, SingleProcessWorldWithItsOwnStore) {
  absl::StatusOr<std::unique_ptr<Context>> context = Bootstrap(OptionsFor({}));
  ASSERT_TRUE(context.ok()) << context.status();
  Context& ctx = **context;
  EXPECT_EQ(ctx.global_rank(), 0);
  EXPECT_EQ(ctx.world_size(), 1);
  EXPECT_EQ(ctx.store_mode(), StoreMode::kInProcess);
  EXPECT_TRUE(ctx.hosts_store());
  EXPECT_EQ(ctx.backend(), "tcp");
  EXPECT_FALSE(ctx.tracer().enabled());
  EXPECT_NE(ctx.DebugString().find("in-process"), std::string::npos) << ctx.DebugString();

  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  ASSERT_TRUE(ctx.store().Set("k", "v", deadline).ok());
  absl::StatusOr<std::string> value = ctx.store().Get("k", deadline);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "v");

  ASSERT_TRUE(ctx.has_communicator());
  EXPECT_EQ(ctx.communicator().size(), 1);
  EXPECT_EQ(ctx.communicator().backend(), "tcp");
  absl::StatusOr<runtime::Tensor> t = runtime::Tensor::Full({8}, runtime::DType::kF32, 3.0);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(ctx.communicator()
                  .AllReduce(*t, *t, collectives::ReduceOp::kSum)
                  ->Wait(absl::Now() + absl::Seconds(10))
                  .ok());
  EXPECT_EQ(t->data<float>()[7], 3.0f);
  // tcp is always there; the others as built.
  const std::vector<std::string> backends = ctx.factory().Backends();
  EXPECT_NE(std::find(backends.begin(), backends.end(), "tcp"), backends.end());
}

// BRAID_DEBUG=detail wraps the world communicator in the consistency check.
TEST(BootstrapSingleTest, DebugDetailWrapsTheCommunicator) {
  absl::StatusOr<std::unique_ptr<Context>> context =
      Bootstrap(OptionsFor({{"BRAID_DEBUG", "detail"}}));
  ASSERT_TRUE(context.ok()) << context.status();
  collectives::Communicator& comm = (*context)->communicator();
  EXPECT_NE(dynamic_cast<collectives::DebugCommunicator*>(&comm), nullptr);
  absl::StatusOr<runtime::Tensor> t = runtime::Tensor::Full({8}, runtime::DType::kF32, 3.0);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(comm.AllReduce(*t, *t, collectives::ReduceOp::kSum)
                  ->Wait(absl::Now() + absl::Seconds(10))
                  .ok());
  absl::StatusOr<std::unique_ptr<Context>> plain = Bootstrap(OptionsFor({}));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(dynamic_cast<collectives::DebugCommunicator*>(&(*plain)->communicator()), nullptr);
}

// BRAID_SOCKET_IFNAME reaches the tcp backend: "lo" works, a missing
// interface is refused naming it and listing this host's.
TEST(BootstrapSingleTest, SocketIfnameReachesTheTcpBackend) {
  absl::StatusOr<std::unique_ptr<Context>> context =
      Bootstrap(OptionsFor({{"BRAID_SOCKET_IFNAME", "lo"}}));
  ASSERT_TRUE(context.ok()) << context.status();
  context = Bootstrap(OptionsFor({{"BRAID_SOCKET_IFNAME", "braid-bogus0"}}));
  EXPECT_EQ(context.status().code(), absl::StatusCode::kInvalidArgument) << context.status();
  EXPECT_NE(context.status().message().find("braid-bogus0"), absl::string_view::npos)
      << context.status();
  EXPECT_NE(context.status().message().find("lo=127.0.0.1"), absl::string_view::npos)
      << context.status();
}

TEST(BootstrapSingleTest, TracerWritesIntoBraidTrace) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/bootstrap_trace_", getpid());
  {
    absl::StatusOr<std::unique_ptr<Context>> context =
        Bootstrap(OptionsFor({{"BRAID_TRACE", dir}}));
    ASSERT_TRUE(context.ok()) << context.status();
    EXPECT_TRUE((*context)->tracer().enabled());
    EXPECT_EQ((*context)->tracer().path(), absl::StrCat(dir, "/trace_rank0.json"));
  }
  EXPECT_EQ(access(absl::StrCat(dir, "/trace_rank0.json").c_str(), R_OK), 0);
}

TEST(BootstrapSingleTest, StoreOnlyWithoutCommunicator) {
  BootstrapOptions options = OptionsFor({});
  options.create_communicator = false;
  absl::StatusOr<std::unique_ptr<Context>> context = Bootstrap(options);
  ASSERT_TRUE(context.ok()) << context.status();
  EXPECT_FALSE((*context)->has_communicator());
  EXPECT_EQ((*context)->communicator_options().size, 1);
}

TEST(BootstrapSingleTest, UnknownBackendNamesTheBuiltOnes) {
  BootstrapOptions options = OptionsFor({});
  options.backend = "carrier-pigeon";
  absl::StatusOr<std::unique_ptr<Context>> context = Bootstrap(options);
  ASSERT_FALSE(context.ok());
  EXPECT_NE(context.status().message().find("backends built: "), absl::string_view::npos)
      << context.status();
  EXPECT_NE(context.status().message().find("tcp"), absl::string_view::npos) << context.status();
}

TEST(BootstrapSingleTest, WrongTokenIsRefusedWithAHint) {
  StoreServerOptions server_options;
  server_options.job_token = "the-right-token";
  absl::StatusOr<std::unique_ptr<StoreServer>> server = StoreServer::Create(server_options);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::unique_ptr<Context>> context =
      Bootstrap(OptionsFor({{"RANK", "1"},
                            {"WORLD_SIZE", "2"},
                            {"BRAID_STORE_ADDR", (*server)->address()},
                            {"BRAID_JOB_TOKEN", "a-wrong-token"}}));
  ASSERT_FALSE(context.ok());
  EXPECT_EQ(context.status().code(), absl::StatusCode::kUnauthenticated) << context.status();
  EXPECT_NE(context.status().message().find("BRAID_JOB_TOKEN"), absl::string_view::npos)
      << context.status();
}

TEST(BootstrapSingleTest, UnreachableStoreAsksWhetherBraidrunRuns) {
  const std::string address = absl::StrCat("127.0.0.1:", braid::testing::PickUnusedPort());
  BootstrapOptions options = OptionsFor({{"RANK", "1"},
                                         {"WORLD_SIZE", "2"},
                                         {"BRAID_STORE_ADDR", address},
                                         {"BRAID_JOB_TOKEN", "t"}});
  options.timeout = absl::Seconds(1);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<Context>> context = Bootstrap(options);
  ASSERT_FALSE(context.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(10) * braid::testing::TimeoutScale());
  EXPECT_TRUE(context.status().code() == absl::StatusCode::kUnavailable ||
              context.status().code() == absl::StatusCode::kDeadlineExceeded)
      << context.status();
  EXPECT_NE(context.status().message().find(absl::StrCat("BRAID_STORE_ADDR=", address)),
            absl::string_view::npos)
      << context.status();
  EXPECT_NE(context.status().message().find("is braidrun"), absl::string_view::npos)
      << context.status();
}

TEST(BootstrapSingleTest, MasterAddrWithoutTokenIsRefusedBeforeAnyConnect) {
  absl::StatusOr<std::unique_ptr<Context>> context = Bootstrap(OptionsFor(
      {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "1"}}));
  ASSERT_FALSE(context.ok());
  EXPECT_EQ(context.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(context.status().message().find("BRAID_JOB_TOKEN"), absl::string_view::npos);
}

}  // namespace
}  // namespace braid::elastic
