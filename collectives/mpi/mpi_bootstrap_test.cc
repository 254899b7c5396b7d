// The plain-mpirun bootstrap path: world rank 0 hosts the embedded store and
// sends its address to everyone with BroadcastString; every rank connects and
// creates an "mpi" communicator through the factory, as elastic::Bootstrap
// does for `--backend=mpi` (and the same store then serves `--backend=tcp`).
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/factory.h"
#include "collectives/mpi/mpi_communicator.h"
#include "collectives/mpi/mpi_test_env.h"
#include "gtest/gtest.h"
#include "runtime/tensor.h"
#include "tests/testing/test_store.h"
#if BRAID_TEST_WITH_TCP
#include "collectives/tcp/tcp_backend.h"
#include "collectives/testing/conformance.h"
#endif

namespace braid::collectives {
namespace {

using testing::ScaledTimeout;
using testing::TestSession;

absl::Time Deadline(absl::Duration d) { return absl::Now() + ScaledTimeout(d); }

TEST(MpiBootstrapTest, RankZeroHostsTheStoreAndTheFactoryBuildsMpi) {
  MpiSession& session = TestSession();
  std::unique_ptr<braid::testing::TestStoreServer> server;
  std::string address;
  if (session.world_rank() == 0) {
    auto created = braid::testing::TestStoreServer::Start();
    ASSERT_TRUE(created.ok()) << created.status();
    server = std::move(*created);
    address = server->address();
  }
  auto got = BroadcastString(session, address, 0, Deadline(absl::Seconds(30)));
  ASSERT_TRUE(got.ok()) << got.status();
  auto store = braid::testing::ConnectTestStore(*got);
  ASSERT_TRUE(store.ok()) << store.status();
  auto count = (*store)->Add("test/joined", 1, Deadline(absl::Seconds(10)));
  ASSERT_TRUE(count.ok()) << count.status();

  CommunicatorFactory factory;
  ASSERT_TRUE(RegisterMpiBackend(factory, session).ok());
  CommunicatorOptions options;
  options.rank = session.world_rank();
  options.size = session.world_size();
  options.store = store->get();
  options.op_timeout = ScaledTimeout(absl::Seconds(30));
  auto comm = factory.Create("mpi", options);
  ASSERT_TRUE(comm.ok()) << comm.status();
  auto t = runtime::Tensor::Full({3}, runtime::DType::kI64, 1.0);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE((*comm)->AllReduce(*t, *t, ReduceOp::kSum)->Wait(Deadline(absl::Seconds(30))).ok());
  auto values = runtime::ToDoubleVector(*t);
  ASSERT_TRUE(values.ok());
  EXPECT_EQ((*values)[2], session.world_size());
  // Every rank joined the store before the all-reduce finished.
  auto joined = (*store)->Get("test/joined", Deadline(absl::Seconds(10)));
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_EQ(*joined, absl::StrCat(session.world_size()));

  CommunicatorOptions wrong = options;
  wrong.size = options.size + 1;
  wrong.rank = 0;
  EXPECT_EQ(factory.Create("mpi", wrong).status().code(), absl::StatusCode::kInvalidArgument);
  // Rank 0's server must outlive the others' last store call.
  ASSERT_TRUE((*comm)->Barrier()->Wait(Deadline(absl::Seconds(30))).ok());
}

// `--backend=tcp` under plain mpirun: the tcp backend bootstraps through the
// store that world rank 0 hosts, found through MPI.
TEST(MpiBootstrapTest, TcpBackendBootstrapsUnderMpirun) {
#if !BRAID_TEST_WITH_TCP
  GTEST_SKIP() << "built without the tcp backend";
#else
  MpiSession& session = TestSession();
  std::unique_ptr<braid::testing::TestStoreServer> server;
  std::string address;
  if (session.world_rank() == 0) {
    auto created = braid::testing::TestStoreServer::Start();
    ASSERT_TRUE(created.ok()) << created.status();
    server = std::move(*created);
    address = server->address();
  }
  auto got = BroadcastString(session, address, 0, Deadline(absl::Seconds(30)));
  ASSERT_TRUE(got.ok()) << got.status();
  auto store = braid::testing::ConnectTestStore(*got);
  ASSERT_TRUE(store.ok()) << store.status();
  CommunicatorFactory factory;
  ASSERT_TRUE(tcp::RegisterTcpBackend(factory).ok());
  CommunicatorOptions options;
  options.rank = session.world_rank();
  options.size = session.world_size();
  options.store = store->get();
  options.store_prefix = "mpirun-tcp/";
  options.op_timeout = ScaledTimeout(absl::Seconds(30));
  options.backend_options["host"] = "127.0.0.1";
  auto comm = factory.Create("tcp", options);
  ASSERT_TRUE(comm.ok()) << comm.status();
  testing::ConformanceOptions conformance;
  conformance.dtypes = {runtime::DType::kF32, runtime::DType::kI64};
  conformance.counts = {0, 7, 1000};
  conformance.large_count = 0;
  conformance.op_timeout = ScaledTimeout(absl::Seconds(30));
  testing::RunConformanceSuite(**comm, conformance);
  // Keep rank 0's store up until everyone is done with it.
  auto world = MpiCommunicator::CreateWorld(session, {});
  ASSERT_TRUE(world.ok()) << world.status();
  ASSERT_TRUE((*world)->Barrier()->Wait(Deadline(absl::Seconds(30))).ok());
#endif
}

}  // namespace
}  // namespace braid::collectives
