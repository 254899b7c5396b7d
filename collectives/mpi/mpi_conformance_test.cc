// The Communicator conformance suite on the mpi backend, under real mpiexec
// (-np 2 and 4; also with MPI_THREAD_SERIALIZED). Every rank runs each TEST.
#include <memory>

#include "collectives/mpi/mpi_communicator.h"
#include "collectives/mpi/mpi_test_env.h"
#include "collectives/testing/conformance.h"
#include "gtest/gtest.h"

namespace braid::collectives {
namespace {

using testing::ConformanceOptions;
using testing::RunConformanceSuite;
using testing::ScaledTimeout;
using testing::TestSession;

MpiCommunicator::Options TestOptions() {
  MpiCommunicator::Options options;
  options.op_timeout = ScaledTimeout(absl::Seconds(30));
  return options;
}

TEST(MpiConformanceTest, World) {
  auto comm = MpiCommunicator::CreateWorld(TestSession(), TestOptions());
  ASSERT_TRUE(comm.ok()) << comm.status();
  EXPECT_EQ((*comm)->rank(), TestSession().world_rank());
  EXPECT_EQ((*comm)->size(), TestSession().world_size());
  EXPECT_EQ((*comm)->backend(), "mpi");
  ConformanceOptions options;
  options.op_timeout = ScaledTimeout(absl::Seconds(30));
  RunConformanceSuite(**comm, options);
}

// The suite again on a sub-communicator from Split (reversed rank order).
TEST(MpiConformanceTest, SplitHalves) {
  auto comm = MpiCommunicator::CreateWorld(TestSession(), TestOptions());
  ASSERT_TRUE(comm.ok()) << comm.status();
  const int rank = (*comm)->rank();
  const int size = (*comm)->size();
  auto half = (*comm)->Split(rank < size / 2 ? 0 : 1, size - rank,
                             absl::Now() + ScaledTimeout(absl::Seconds(30)));
  ASSERT_TRUE(half.ok()) << half.status();
  ASSERT_NE(*half, nullptr);
  EXPECT_EQ((*half)->size(), size / 2);
  ConformanceOptions options;
  options.op_timeout = ScaledTimeout(absl::Seconds(30));
  options.large_count = 0;
  options.counts = {0, 3, 129};
  RunConformanceSuite(**half, options);
}

}  // namespace
}  // namespace braid::collectives
