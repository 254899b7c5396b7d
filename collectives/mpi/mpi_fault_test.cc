// Faults on the mpi backend under real mpiexec: operation timeouts, Abort,
// the broken state afterwards, a late peer letting the job end cleanly, and
// argument errors; plus the session-level BroadcastString.
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/mpi/mpi_communicator.h"
#include "collectives/mpi/mpi_test_env.h"
#include "gtest/gtest.h"
#include "runtime/tensor.h"

namespace braid::collectives {
namespace {

using runtime::DType;
using runtime::Tensor;
using testing::ScaledTimeout;
using testing::TestSession;

std::unique_ptr<MpiCommunicator> World(absl::Duration op_timeout, std::string name = "world") {
  MpiCommunicator::Options options;
  options.op_timeout = op_timeout;
  options.name = std::move(name);
  auto comm = MpiCommunicator::CreateWorld(TestSession(), options);
  EXPECT_TRUE(comm.ok()) << comm.status();
  return comm.ok() ? std::move(*comm) : nullptr;
}

absl::Time Deadline(absl::Duration d) { return absl::Now() + ScaledTimeout(d); }

TEST(MpiFaultTest, SessionGrantsAThreadLevelTheEngineCanUse) {
  EXPECT_GE(TestSession().thread_level(), MpiThreadLevel::kSerialized);
  EXPECT_GE(TestSession().tag_ub(), 32767);
  EXPECT_GE(TestSession().world_size(), 1);
}

// Nobody sends: the receive must fail at op_timeout with kAborted naming the
// operation, and the communicator is broken afterwards.
TEST(MpiFaultTest, UnmatchedRecvTimesOutAndBreaksTheCommunicator) {
  auto comm = World(absl::Milliseconds(500));
  ASSERT_NE(comm, nullptr);
  auto t = Tensor::Zeros({4}, DType::kF32);
  ASSERT_TRUE(t.ok());
  const absl::Time start = absl::Now();
  absl::Status s =
      comm->Recv(*t, (comm->rank() + 1) % comm->size(), 999)->Wait(Deadline(absl::Seconds(20)));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "MPI_Irecv")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "op_timeout")) << s;
  EXPECT_GE(took, absl::Milliseconds(450));
  EXPECT_LT(took, ScaledTimeout(absl::Seconds(5)));
  absl::Status later = comm->Barrier()->Wait(Deadline(absl::Seconds(5)));
  EXPECT_EQ(later.code(), absl::StatusCode::kFailedPrecondition) << later;
}

// Rank 0 alone enters a barrier and times out; the request cannot be
// cancelled, so it is orphaned. When the others arrive late, it completes
// and nothing is left outstanding: the session can finalise normally.
TEST(MpiFaultTest, TimedOutCollectiveIsReapedWhenLatePeersArrive) {
  auto world = World(ScaledTimeout(absl::Seconds(30)));
  auto lonely = World(absl::Milliseconds(500), "lonely");
  ASSERT_NE(world, nullptr);
  ASSERT_NE(lonely, nullptr);
  if (world->size() < 2) GTEST_SKIP() << "needs 2 ranks";
  if (world->rank() == 0) {
    absl::Status s = lonely->Barrier()->Wait(Deadline(absl::Seconds(20)));
    EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "MPI_Ibarrier")) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "'lonely'")) << s;
  }
  // Rank 0 reports "timed out" to the others through the healthy communicator.
  ASSERT_TRUE(world->Barrier()->Wait(Deadline(absl::Seconds(30))).ok());
  if (world->rank() != 0) {
    EXPECT_TRUE(lonely->Barrier()->Wait(Deadline(absl::Seconds(20))).ok());
  }
  EXPECT_EQ(TestSession().engine().Drain(Deadline(absl::Seconds(20))), 0);
  ASSERT_TRUE(world->Barrier()->Wait(Deadline(absl::Seconds(30))).ok());
}

TEST(MpiFaultTest, AbortFailsPendingOperationsPromptly) {
  auto comm = World(ScaledTimeout(absl::Seconds(30)));
  ASSERT_NE(comm, nullptr);
  auto t = Tensor::Zeros({16}, DType::kI32);
  ASSERT_TRUE(t.ok());
  std::shared_ptr<Work> pending = comm->Recv(*t, (comm->rank() + 1) % comm->size(), 7);
  EXPECT_FALSE(pending->IsCompleted());
  const absl::Time start = absl::Now();
  comm->Abort(absl::CancelledError("test abort"));
  absl::Status s = pending->Wait(Deadline(absl::Seconds(10)));
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "test abort")) << s;
  EXPECT_LT(absl::Now() - start, ScaledTimeout(absl::Seconds(2)));
  absl::Status later = comm->AllReduce(*t, *t, ReduceOp::kSum)->Wait(Deadline(absl::Seconds(5)));
  EXPECT_EQ(later.code(), absl::StatusCode::kFailedPrecondition) << later;
  comm->Abort(absl::CancelledError("again"));  // idempotent
  auto split = comm->Split(0, 0, Deadline(absl::Seconds(5)));
  EXPECT_FALSE(split.ok());
}

TEST(MpiFaultTest, ShrinkIsUnimplementedWithoutUlfm) {
  auto comm = World(ScaledTimeout(absl::Seconds(30)));
  ASSERT_NE(comm, nullptr);
  if (comm->capabilities().shrink) GTEST_SKIP() << "this MPI has ULFM";
  EXPECT_FALSE(comm->capabilities().fault_tolerant);
  auto shrunk = comm->Shrink({}, Deadline(absl::Seconds(5)));
  EXPECT_EQ(shrunk.status().code(), absl::StatusCode::kUnimplemented) << shrunk.status();
  EXPECT_TRUE(absl::StrContains(shrunk.status().message(), "ULFM")) << shrunk.status();
}

TEST(MpiFaultTest, CudaAndNonContiguousTensorsAreRejected) {
  auto comm = World(ScaledTimeout(absl::Seconds(30)));
  ASSERT_NE(comm, nullptr);
  float fake_device_memory[8] = {};
  auto cuda = Tensor::FromBlob(fake_device_memory, {8}, DType::kF32, runtime::Device::Cuda(0));
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  absl::Status s = comm->AllReduce(*cuda, *cuda, ReduceOp::kSum)->Wait(Deadline(absl::Seconds(5)));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "nccl")) << s;
  auto m = Tensor::Zeros({4, 3}, DType::kF32);
  ASSERT_TRUE(m.ok());
  auto mt = m->Transpose(0, 1);
  ASSERT_TRUE(mt.ok());
  s = comm->Broadcast(*mt, 0)->Wait(Deadline(absl::Seconds(5)));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  s = comm->Send(*m, 0, -1)->Wait(Deadline(absl::Seconds(5)));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  // The communicator still works after argument errors.
  EXPECT_TRUE(comm->Barrier()->Wait(Deadline(absl::Seconds(30))).ok());
}

TEST(MpiBroadcastStringTest, FromEveryRoot) {
  MpiSession& session = TestSession();
  for (int root = 0; root < session.world_size(); ++root) {
    const std::string sent = absl::StrCat("127.0.0.1:", 40000 + root, "/from-", root);
    auto got = BroadcastString(session, session.world_rank() == root ? sent : "ignored", root,
                               Deadline(absl::Seconds(30)));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, sent);
  }
  auto empty = BroadcastString(session, "", 0, Deadline(absl::Seconds(30)));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(*empty, "");
  std::string big(200000, 'x');
  big[12345] = 'y';
  auto large = BroadcastString(session, session.world_rank() == 0 ? big : "", 0,
                               Deadline(absl::Seconds(30)));
  ASSERT_TRUE(large.ok()) << large.status();
  EXPECT_EQ(*large, big);
}

TEST(MpiBroadcastStringTest, BadRoot) {
  auto got =
      BroadcastString(TestSession(), "x", TestSession().world_size(), Deadline(absl::Seconds(5)));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
}

}  // namespace
}  // namespace braid::collectives
