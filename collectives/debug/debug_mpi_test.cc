// DebugCommunicator over the mpi backend, under real mpiexec: the whole
// conformance suite through the decorator (it must be transparent for every
// operation), a mismatch, MonitoredBarrier, and the check's cost.
#include <cstdio>
#include <memory>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "collectives/debug/debug_communicator.h"
#include "collectives/debug/monitored_barrier.h"
#include "collectives/mpi/mpi_communicator.h"
#include "collectives/mpi/mpi_test_env.h"
#include "collectives/testing/conformance.h"
#include "gtest/gtest.h"
#include "runtime/tensor.h"

namespace braid::collectives {
namespace {

using runtime::DType;
using runtime::Tensor;
using testing::ScaledTimeout;
using testing::TestSession;

std::unique_ptr<Communicator> World() {
  MpiCommunicator::Options options;
  options.op_timeout = ScaledTimeout(absl::Seconds(30));
  auto comm = MpiCommunicator::CreateWorld(TestSession(), options);
  if (!comm.ok()) {
    ADD_FAILURE() << comm.status();
    return nullptr;
  }
  return std::move(*comm);
}

TEST(DebugMpiTest, ConformanceThroughTheDecorator) {
  std::unique_ptr<Communicator> world = World();
  ASSERT_NE(world, nullptr);
  auto comm = DebugCommunicator::Wrap(std::move(world), DebugCommunicator::Options{});
  testing::ConformanceOptions options;
  options.op_timeout = ScaledTimeout(absl::Seconds(30));
  options.large_count = 0;
  options.counts = {0, 7};
  testing::RunConformanceSuite(*comm, options);
}

TEST(DebugMpiTest, MismatchNamesBothCalls) {
  std::unique_ptr<Communicator> world = World();
  ASSERT_NE(world, nullptr);
  auto comm = DebugCommunicator::Wrap(std::move(world), DebugCommunicator::Options{});
  const absl::Time deadline = absl::Now() + ScaledTimeout(absl::Seconds(30));
  Tensor x = *Tensor::Full({16}, DType::kBF16, 1.0);
  absl::Status s = comm->rank() == comm->size() - 1
                       ? comm->Broadcast(x, 0)->Wait(deadline)
                       : comm->AllReduce(x, x, ReduceOp::kAvg)->Wait(deadline);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "rank 0 posted AllReduce(bf16, count=16, avg) #0"))
      << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "posted Broadcast(bf16, count=16, root=0) #0")) << s;
  EXPECT_TRUE(MonitoredBarrier(*comm, deadline).ok());
}

TEST(DebugMpiTest, CostOnSmallAllReduce) {
  std::unique_ptr<Communicator> world = World();
  ASSERT_NE(world, nullptr);
  constexpr int kIters = 300;
  Tensor x = *Tensor::Full({8}, DType::kF32, 1.0);
  auto time_loop = [&](Communicator& comm) {
    const absl::Time deadline = absl::Now() + ScaledTimeout(absl::Seconds(30));
    for (int i = 0; i < 20; ++i) (void)comm.AllReduce(x, x, ReduceOp::kMax)->Wait(deadline);
    const absl::Time start = absl::Now();
    for (int i = 0; i < kIters; ++i) {
      EXPECT_TRUE(comm.AllReduce(x, x, ReduceOp::kMax)->Wait(deadline).ok());
    }
    return (absl::Now() - start) / kIters;
  };
  const absl::Duration plain = time_loop(*world);
  const int size = world->size();
  auto debug = DebugCommunicator::Wrap(std::move(world), DebugCommunicator::Options{});
  const absl::Duration checked = time_loop(*debug);
  if (debug->rank() == 0) {
    std::printf("[debug cost] mpi %d ranks, 8-float all-reduce: plain %.1f us, debug %.1f us "
                "(x%.2f)\n",
                size, absl::ToDoubleMicroseconds(plain), absl::ToDoubleMicroseconds(checked),
                absl::FDivDuration(checked, plain));
  }
}

}  // namespace
}  // namespace braid::collectives
