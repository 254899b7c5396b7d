// BRAID_SOCKET_IFNAME end to end: tcp communicators of real rank processes
// publish the address of the named interface ("lo") and work; a name that
// does not exist fails Create on every rank with kInvalidArgument, at once.
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "collectives/tcp/tcp_backend.h"
#include "collectives/tcp/test_util.h"
#include "gtest/gtest.h"
#include "runtime/tensor.h"
#include "tests/testing/run_ranks.h"

namespace braid::collectives::tcp {
namespace {

using runtime::DType;
using runtime::Tensor;
using testing::ConnectStore;
using testing::StartStore;
using testing::StoreFixture;

CommunicatorOptions Options(runtime::Store* store, int rank, int size, const std::string& ifname) {
  CommunicatorOptions o;
  o.rank = rank;
  o.size = size;
  o.store = store;
  o.store_prefix = std::getenv("BRAID_TCP_TEST_PREFIX");
  o.connect_timeout = absl::Seconds(20) * braid::testing::TimeoutScale();
  o.op_timeout = absl::Seconds(20) * braid::testing::TimeoutScale();
  o.backend_options["ifname"] = ifname;
  return o;
}

TEST(TcpIfnameTest, LoopbackInterfaceWorks) {
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    CommunicatorFactory factory;
    ASSERT_TRUE(RegisterTcpBackend(factory).ok());
    auto comm = factory.Create("tcp", Options(client->get(), rank, n, "braid-bogus0,lo"));
    ASSERT_TRUE(comm.ok()) << comm.status();
    Tensor t = *Tensor::Full({100}, DType::kI32, rank + 1);
    ASSERT_TRUE(
        (*comm)->AllReduce(t, t, ReduceOp::kSum)->Wait(absl::Now() + absl::Seconds(20)).ok());
    EXPECT_EQ(t.data<int32_t>()[99], 3);
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

TEST(TcpIfnameTest, MissingInterfaceFailsCreateClearly) {
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    CommunicatorFactory factory;
    ASSERT_TRUE(RegisterTcpBackend(factory).ok());
    const absl::Time start = absl::Now();
    auto comm = factory.Create("tcp", Options(client->get(), rank, n, "braid-bogus0"));
    EXPECT_EQ(comm.status().code(), absl::StatusCode::kInvalidArgument) << comm.status();
    EXPECT_TRUE(absl::StrContains(comm.status().message(), "'braid-bogus0'")) << comm.status();
    EXPECT_TRUE(absl::StrContains(comm.status().message(), "lo=127.0.0.1")) << comm.status();
    EXPECT_LT(absl::Now() - start, absl::Seconds(2) * braid::testing::TimeoutScale());
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

}  // namespace
}  // namespace braid::collectives::tcp
