// A collective that never completes (rank 0 alone in a barrier) must not
// hang the job at exit: the MpiSession destructor waits finalize_timeout for
// the orphaned request, then ends the job with MPI_Abort. ctest passes this
// test when mpiexec's output shows that message (the exit code is non-zero
// by design); a hang would hit the ctest timeout and fail.
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "collectives/mpi/mpi_communicator.h"
#include "collectives/mpi/mpi_test_env.h"
#include "gtest/gtest.h"

namespace braid::collectives {
namespace {

TEST(MpiAbortTest, StuckCollectiveEndsTheJobAtFinalize) {
  MpiCommunicator::Options options;
  options.op_timeout = absl::Milliseconds(300);
  options.name = "stuck";
  auto comm = MpiCommunicator::CreateWorld(testing::TestSession(), options);
  ASSERT_TRUE(comm.ok()) << comm.status();
  if ((*comm)->rank() != 0) return;  // the others never join the barrier
  absl::Status s = (*comm)->Barrier()->Wait(absl::Now() + absl::Seconds(20));
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "MPI_Ibarrier")) << s;
}

}  // namespace
}  // namespace braid::collectives
