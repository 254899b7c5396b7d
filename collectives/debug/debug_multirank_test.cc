// DebugCommunicator and MonitoredBarrier with real rank processes over the
// tcp backend (RunRanks + the test store).
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/debug/debug_communicator.h"
#include "collectives/debug/monitored_barrier.h"
#include "collectives/tcp/tcp_communicator.h"
#include "collectives/testing/conformance.h"
#include "gtest/gtest.h"
#include "runtime/tensor.h"
#include "tests/testing/run_ranks.h"
#include "tests/testing/test_store.h"

namespace braid::collectives {
namespace {

using runtime::DType;
using runtime::Tensor;

absl::Duration Scaled(absl::Duration d) { return d * braid::testing::TimeoutScale(); }

// Parent: starts the store and returns RunRanks options pointing at it.
struct Fixture {
  std::unique_ptr<braid::testing::TestStoreServer> server;
  braid::testing::RunRanksOptions run;
};
Fixture Start() {
  Fixture f;
  f.run.timeout = Scaled(absl::Seconds(60));
  if (braid::testing::IsRankProcess()) return f;
  auto server = braid::testing::TestStoreServer::Start();
  if (!server.ok()) {
    ADD_FAILURE() << server.status();
    return f;
  }
  f.server = std::move(*server);
  f.run.env["BRAID_DEBUG_TEST_STORE"] = f.server->address();
  return f;
}

struct RankComm {
  std::unique_ptr<runtime::Store> store;
  std::unique_ptr<Communicator> comm;
};
RankComm Connect(int rank, int size) {
  RankComm rc;
  auto store = braid::testing::ConnectTestStore(std::getenv("BRAID_DEBUG_TEST_STORE"));
  if (!store.ok()) {
    ADD_FAILURE() << store.status();
    return rc;
  }
  rc.store = std::move(*store);
  CommunicatorOptions o;
  o.rank = rank;
  o.size = size;
  o.store = rc.store.get();
  o.store_prefix = "debug-test/";
  o.connect_timeout = Scaled(absl::Seconds(20));
  o.op_timeout = Scaled(absl::Seconds(20));
  o.backend_options["host"] = "127.0.0.1";
  auto comm = tcp::TcpCommunicator::Create(o);
  if (!comm.ok()) {
    ADD_FAILURE() << comm.status();
    return rc;
  }
  rc.comm = std::move(*comm);
  return rc;
}

absl::Time Deadline() { return absl::Now() + Scaled(absl::Seconds(20)); }

TEST(DebugCommunicatorTest, MismatchFailsOnEveryRankNamingBothCalls) {
  Fixture f = Start();
  auto r = braid::testing::RunRanks(3, [](int rank, int size) {
    RankComm rc = Connect(rank, size);
    ASSERT_NE(rc.comm, nullptr);
    std::unique_ptr<Communicator> comm =
        DebugCommunicator::Wrap(std::move(rc.comm), DebugCommunicator::Options{});
    Tensor x = *Tensor::Full({1024}, DType::kF32, 1.0);
    ASSERT_TRUE(comm->AllReduce(x, x, ReduceOp::kSum)->Wait(Deadline()).ok());
    EXPECT_EQ(x.data<float>()[5], 3.0f);

    // Call #1: rank 1 posts an all-gather while the others all-reduce.
    absl::Status s;
    Tensor big = *Tensor::Zeros({1024 * size}, DType::kF32);
    if (rank == 1) {
      s = comm->AllGather(x, big)->Wait(Deadline());
    } else {
      s = comm->AllReduce(x, x, ReduceOp::kSum)->Wait(Deadline());
    }
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "rank 0 posted AllReduce(f32, count=1024, sum) #1"))
        << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "rank 1 posted AllGather(f32, count=1024) #1"))
        << s;
    EXPECT_EQ(x.data<float>()[5], 3.0f) << "the mismatched call must not run";

    // Call #2: same operation, different counts on rank 2.
    Tensor y = *Tensor::Full({rank == 2 ? 7 : 8}, DType::kI32, 1.0);
    s = comm->AllReduce(y, y, ReduceOp::kMax)->Wait(Deadline());
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "rank 2 posted AllReduce(i32, count=7, max) #2"))
        << s;

    // The communicator is still usable, with checks still on.
    Tensor z = *Tensor::Full({4}, DType::kI64, rank);
    ASSERT_TRUE(comm->AllReduce(z, z, ReduceOp::kSum)->Wait(Deadline()).ok());
    EXPECT_EQ(z.data<int64_t>()[0], 3);
    ASSERT_TRUE(comm->Barrier()->Wait(Deadline()).ok());
  }, f.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// The decorator is transparent: the whole conformance suite through it.
TEST(DebugCommunicatorTest, ConformanceThroughTheDecorator) {
  Fixture f = Start();
  auto r = braid::testing::RunRanks(3, [](int rank, int size) {
    RankComm rc = Connect(rank, size);
    ASSERT_NE(rc.comm, nullptr);
    auto comm = DebugCommunicator::Wrap(std::move(rc.comm), DebugCommunicator::Options{});
    testing::ConformanceOptions options;
    options.op_timeout = Scaled(absl::Seconds(20));
    options.large_count = 0;
    options.counts = {0, 7};
    testing::RunConformanceSuite(*comm, options);
  }, f.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// The cost of the check on small all-reduces, printed for the record
// (docs/collectives.md); the only assertion is that both modes work.
TEST(DebugCommunicatorTest, CostOnSmallAllReduce) {
  Fixture f = Start();
  auto r = braid::testing::RunRanks(2, [](int rank, int size) {
    RankComm rc = Connect(rank, size);
    ASSERT_NE(rc.comm, nullptr);
    constexpr int kIters = 300;
    Tensor x = *Tensor::Full({8}, DType::kF32, 1.0);
    auto time_loop = [&](Communicator& comm) {
      for (int i = 0; i < 20; ++i) (void)comm.AllReduce(x, x, ReduceOp::kMax)->Wait(Deadline());
      const absl::Time start = absl::Now();
      for (int i = 0; i < kIters; ++i) {
        EXPECT_TRUE(comm.AllReduce(x, x, ReduceOp::kMax)->Wait(Deadline()).ok());
      }
      return (absl::Now() - start) / kIters;
    };
    const absl::Duration plain = time_loop(*rc.comm);
    std::unique_ptr<Communicator> debug =
        DebugCommunicator::Wrap(std::move(rc.comm), DebugCommunicator::Options{});
    const absl::Duration checked = time_loop(*debug);
    if (rank == 0) {
      std::printf("[debug cost] tcp 2 ranks, 8-float all-reduce: plain %.1f us, debug %.1f us "
                  "(x%.2f)\n",
                  absl::ToDoubleMicroseconds(plain), absl::ToDoubleMicroseconds(checked),
                  absl::FDivDuration(checked, plain));
    }
  }, f.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

TEST(MonitoredBarrierTest, AllArrive) {
  Fixture f = Start();
  auto r = braid::testing::RunRanks(3, [](int rank, int size) {
    RankComm rc = Connect(rank, size);
    ASSERT_NE(rc.comm, nullptr);
    for (int i = 0; i < 3; ++i) {
      absl::Status s = MonitoredBarrier(*rc.comm, Deadline());
      EXPECT_TRUE(s.ok()) << s;
    }
  }, f.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

TEST(MonitoredBarrierTest, LateRankIsNamed) {
  Fixture f = Start();
  auto r = braid::testing::RunRanks(3, [](int rank, int size) {
    RankComm rc = Connect(rank, size);
    ASSERT_NE(rc.comm, nullptr);
    ASSERT_TRUE(rc.comm->Barrier()->Wait(Deadline()).ok());
    const absl::Duration wait = Scaled(absl::Milliseconds(500));
    if (rank == 2) {
      // The slow rank: arrives after everyone else's deadline has passed.
      absl::SleepFor(3 * wait);
      absl::Status s = MonitoredBarrier(*rc.comm, absl::Now() + wait);
      EXPECT_FALSE(s.ok());
      return;
    }
    const absl::Time start = absl::Now();
    absl::Status s = MonitoredBarrier(*rc.comm, start + wait);
    EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "rank 2 did not arrive")) << s;
    EXPECT_FALSE(absl::StrContains(s.message(), "rank 1 did")) << s;
    EXPECT_LT(absl::Now() - start, wait + Scaled(absl::Seconds(2.5)));
    // Stay until the slow rank is done with its attempt, so it is not the
    // death of its peers that it reports.
    absl::SleepFor(3 * wait);
  }, f.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

}  // namespace
}  // namespace braid::collectives
