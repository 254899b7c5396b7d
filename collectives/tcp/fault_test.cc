// Fault semantics with real processes: kill -9 and SIGSTOP of a peer, Abort
// from another thread, Shrink over the survivors, stale-epoch frames.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/status_payload.h"
#include "collectives/tcp/test_util.h"
#include "gtest/gtest.h"

namespace braid::collectives::tcp {
namespace {

using runtime::DType;
using runtime::Tensor;
using namespace braid::collectives::tcp::testing;

const absl::Duration kWait = absl::Seconds(60);

std::string Prefix() { return std::getenv("BRAID_TCP_TEST_PREFIX"); }

// Survivors: loop all-reduces until one fails; check it is kAborted naming
// the victim soon after the victim's recorded death; then Shrink and check an
// all-reduce over the survivors.
void SurviveAndShrink(runtime::Store& store, TcpCommunicator& comm, int victim, int rank, int n,
                      absl::Duration bound) {
  Tensor t = *Tensor::Full({1 << 18}, DType::kF32, 1.0);
  absl::Status failed;
  for (int i = 0; i < 100000 && failed.ok(); ++i) {
    failed = comm.AllReduce(t, t, ReduceOp::kMax)->Wait(absl::Now() + kWait);
  }
  const absl::Time seen = absl::Now();
  // kAborted for the operation in flight; kFailedPrecondition when the death
  // was already known as the next one was posted. Both name the victim.
  ASSERT_TRUE(absl::IsAborted(failed) || absl::IsFailedPrecondition(failed)) << failed;
  EXPECT_EQ(FailedRanks(failed), std::vector<int>{victim}) << failed;
  auto death = store.Get(Prefix() + "death", absl::Now() + kWait);
  ASSERT_TRUE(death.ok()) << death.status();
  int64_t death_ns = 0;
  ASSERT_TRUE(absl::SimpleAtoi(*death, &death_ns));
  const absl::Duration latency = seen - absl::FromUnixNanos(death_ns);
  std::printf("rank %d saw the death of rank %d after %s: %s\n", rank, victim,
              absl::FormatDuration(latency).c_str(), std::string(failed.message()).c_str());
  EXPECT_LT(latency, bound);
  // The communicator is broken now.
  absl::Status later = comm.Barrier()->Wait(absl::Now() + kWait);
  EXPECT_TRUE(absl::IsFailedPrecondition(later)) << later;
  EXPECT_EQ(FailedRanks(later), std::vector<int>{victim});

  const int victims[] = {victim};
  auto shrunk = comm.Shrink(victims, absl::Now() + kWait);
  ASSERT_TRUE(shrunk.ok()) << shrunk.status();
  Communicator& c = **shrunk;
  EXPECT_EQ(c.size(), n - 1);
  EXPECT_EQ(c.epoch(), comm.epoch() + 1);
  EXPECT_EQ(c.rank(), rank < victim ? rank : rank - 1);
  Tensor v = *Tensor::Full({100001}, DType::kI64, rank);
  ASSERT_TRUE(c.AllReduce(v, v, ReduceOp::kSum)->Wait(absl::Now() + kWait).ok());
  EXPECT_EQ(v.data<int64_t>()[100000], n * (n - 1) / 2 - victim);
}

class TcpKillTest : public ::testing::TestWithParam<int> {};

// kill -9 of each rank position in the middle of an all-reduce of 4 ranks.
TEST_P(TcpKillTest, SurvivorsAbortNamingTheDeadPeerThenShrink) {
  const int victim = GetParam();
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(4, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    // Odd victims on plain TCP, even ones with shared memory.
    CommSpec spec;
    if (victim % 2 == 1) DisableSharedMemory(spec);
    auto comm = MakeComm(client->get(), rank, n, spec);
    ASSERT_TRUE(comm.ok()) << comm.status();
    Tensor t = *Tensor::Full({1 << 18}, DType::kF32, 1.0);
    if (rank == victim) {
      for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE((*comm)->AllReduce(t, t, ReduceOp::kMax)->Wait(absl::Now() + kWait).ok());
      }
      // Post one more and die while it is in flight.
      auto w = (*comm)->AllReduce(t, t, ReduceOp::kMax);
      (void)(*client)->Set(Prefix() + "death", absl::StrCat(absl::ToUnixNanos(absl::Now())),
                           absl::Now() + kWait);
      kill(getpid(), SIGKILL);
    }
    SurviveAndShrink(**client, **comm, victim, rank, n, Bound(absl::Seconds(2)));
  }, store.run);
  for (const auto& e : r.ranks) {
    if (e.rank == victim) {
      EXPECT_EQ(e.signal, SIGKILL) << r.Summary();
    } else {
      EXPECT_TRUE(e.ok()) << r.Summary();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Positions, TcpKillTest, ::testing::Values(0, 1, 2, 3));

// A stopped peer (SIGSTOP) is found by the heartbeat.
TEST(TcpHangTest, StoppedPeerIsFoundByHeartbeat) {
  StoreFixture store = StartStore();
  const int victim = 1;
  auto r = braid::testing::RunRanks(3, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    CommSpec spec;
    spec.backend_options["heartbeat_interval_ms"] = "50";
    spec.backend_options["heartbeat_misses"] = "10";
    auto comm = MakeComm(client->get(), rank, n, spec);
    ASSERT_TRUE(comm.ok()) << comm.status();
    Tensor t = *Tensor::Full({1 << 18}, DType::kF32, 1.0);
    ASSERT_TRUE((*comm)->AllReduce(t, t, ReduceOp::kMax)->Wait(absl::Now() + kWait).ok());
    if (rank == victim) {
      ASSERT_TRUE((*client)->Set(Prefix() + "pid", absl::StrCat(getpid()), absl::Now() + kWait).ok());
      ASSERT_TRUE((*client)->Set(Prefix() + "death", absl::StrCat(absl::ToUnixNanos(absl::Now())),
                                 absl::Now() + kWait).ok());
      raise(SIGSTOP);  // a survivor kills us once it has seen the hang
      return;
    }
    ASSERT_TRUE((*client)->Wait({Prefix() + "pid"}, absl::Now() + kWait).ok());
    auto pid = (*client)->Get(Prefix() + "pid", absl::Now() + kWait);
    ASSERT_TRUE(pid.ok()) << pid.status();
    // 0.5 s of heartbeat silence, plus slack.
    SurviveAndShrink(**client, **comm, victim, rank, n, Bound(absl::Seconds(2)));
    int victim_pid = 0;
    if (rank == 0 && absl::SimpleAtoi(*pid, &victim_pid) && victim_pid > 0) kill(victim_pid, SIGKILL);
  }, store.run);
  for (const auto& e : r.ranks) {
    if (e.rank != victim) {
      EXPECT_TRUE(e.ok()) << r.Summary();
    }
  }
}

// With heartbeats effectively off, the operation timeout ends the wait.
TEST(TcpHangTest, StoppedPeerHitsTheOperationTimeout) {
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    CommSpec spec;
    spec.backend_options["heartbeat_misses"] = "1000000";
    spec.op_timeout = absl::Seconds(1);
    auto comm = MakeComm(client->get(), rank, n, spec);
    ASSERT_TRUE(comm.ok()) << comm.status();
    if (rank == 1) {
      ASSERT_TRUE((*client)->Set(Prefix() + "pid", absl::StrCat(getpid()), absl::Now() + kWait).ok());
      raise(SIGSTOP);
      return;
    }
    ASSERT_TRUE((*client)->Wait({Prefix() + "pid"}, absl::Now() + kWait).ok());
    auto pid = (*client)->Get(Prefix() + "pid", absl::Now() + kWait);
    ASSERT_TRUE(pid.ok()) << pid.status();
    Tensor t = *Tensor::Full({1000}, DType::kF32, 1.0);
    const absl::Time start = absl::Now();
    absl::Status s = (*comm)->AllReduce(t, t, ReduceOp::kSum)->Wait(absl::Now() + kWait);
    const absl::Duration took = absl::Now() - start;
    EXPECT_TRUE(absl::IsAborted(s)) << s;
    EXPECT_EQ(FailedRanks(s), std::vector<int>{1});
    EXPECT_GE(took, absl::Milliseconds(900));
    EXPECT_LT(took, Bound(absl::Seconds(3)));
    int victim_pid = 0;
    if (absl::SimpleAtoi(*pid, &victim_pid) && victim_pid > 0) kill(victim_pid, SIGKILL);
  }, store.run);
  EXPECT_TRUE(r.ranks[0].ok()) << r.Summary();
}

// Abort() from another thread fails pending work at once, tells the peer,
// and later operations are refused.
TEST(TcpAbortTest, AbortFromAnotherThread) {
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm_or = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm_or.ok()) << comm_or.status();
    TcpCommunicator& comm = **comm_or;
    Tensor t = *Tensor::Full({1000}, DType::kF32, 1.0);
    if (rank == 0) {
      // The peer never posts these: they can only end by the abort.
      auto all = comm.AllReduce(t, t, ReduceOp::kSum);
      auto recv = comm.Recv(t, 1, 9);
      // Abort only once rank 1's Recv is posted: a Recv posted after the
      // abort would be refused as kFailedPrecondition instead.
      const std::string prefix = std::getenv("BRAID_TCP_TEST_PREFIX");
      ASSERT_TRUE((*client)->Wait({prefix + "posted"}, absl::Now() + kWait).ok());
      absl::Time aborted_at;
      std::thread aborter([&] {
        aborted_at = absl::Now();
        comm.Abort(absl::CancelledError("test abort"));
      });
      absl::Status s1 = all->Wait(absl::Now() + kWait);
      absl::Status s2 = recv->Wait(absl::Now() + kWait);
      const absl::Time done = absl::Now();
      aborter.join();
      std::printf("Abort -> pending ops completed in %s\n",
                  absl::FormatDuration(done - aborted_at).c_str());
      EXPECT_TRUE(absl::IsAborted(s1)) << s1;
      EXPECT_TRUE(absl::IsAborted(s2)) << s2;
      EXPECT_LT(done - aborted_at, Bound(absl::Seconds(1)));
      EXPECT_TRUE(absl::IsFailedPrecondition(comm.Barrier()->Wait(absl::Now() + kWait)));
      comm.Abort(absl::CancelledError("again"));  // idempotent
    } else {
      // Told by rank 0's abort frame long before the 30 s op timeout.
      auto recv = comm.Recv(t, 0, 5);
      const std::string prefix = std::getenv("BRAID_TCP_TEST_PREFIX");
      ASSERT_TRUE((*client)->Set(prefix + "posted", "1", absl::Now() + kWait).ok());
      const absl::Time start = absl::Now();
      absl::Status s = recv->Wait(absl::Now() + kWait);
      EXPECT_TRUE(absl::IsAborted(s)) << s;
      EXPECT_NE(s.message().find("test abort"), absl::string_view::npos) << s;
      EXPECT_LT(absl::Now() - start, Bound(absl::Seconds(5)));
      EXPECT_TRUE(absl::IsFailedPrecondition(comm.AllReduce(t, t, ReduceOp::kSum)->Wait(absl::Now() + kWait)));
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// After Shrink (epoch + 1), a frame of the old epoch is dropped, not mistaken
// for data of the new communicator.
TEST(TcpEpochTest, StaleEpochFramesAreRejected) {
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(3, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    // Frames are what this test forges: keep the small all-reduce below on
    // the frame path (off the direct channel), where it queues behind the
    // forged frame in the same stream.
    CommSpec spec;
    spec.backend_options["fast_path_bytes"] = "0";
    auto comm = MakeComm(client->get(), rank, n, spec);
    ASSERT_TRUE(comm.ok()) << comm.status();
    auto next_or = (*comm)->Shrink({}, absl::Now() + kWait);
    ASSERT_TRUE(next_or.ok()) << next_or.status();
    auto* next = static_cast<TcpCommunicator*>(next_or->get());
    EXPECT_EQ(next->epoch(), 1);
    // The old communicator refuses work.
    Tensor t = *Tensor::Full({8}, DType::kI32, rank + 1);
    EXPECT_TRUE(absl::IsFailedPrecondition((*comm)->Barrier()->Wait(absl::Now() + kWait)));
    // Every rank has the new communicator registered once this barrier is done.
    ASSERT_TRUE(next->Barrier()->Wait(absl::Now() + kWait).ok());
    if (rank == 0) {
      // Forge what the first step of the next all-reduce would carry, with epoch 0.
      FrameHeader h;
      h.kind = FrameKind::kData;
      h.comm_id = next->comm_id();
      h.epoch = 0;
      h.op_seq = 1;  // the all-reduce below; op 0 was the barrier
      h.tag = 0;
      int32_t junk[8] = {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
      for (int peer : {1, 2}) {
        ASSERT_TRUE(next->transport()
                        .Send(peer, h, reinterpret_cast<uint8_t*>(junk), sizeof(junk), 0,
                              absl::Now() + kWait, next->inbox())
                        .ok());
      }
    }
    absl::Status s = next->AllReduce(t, t, ReduceOp::kSum)->Wait(absl::Now() + kWait);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(t.data<int32_t>()[7], 6);
    if (rank != 0) {
      // (Counted when it arrived, possibly before this rank's barrier returned.)
      EXPECT_GE(next->transport().stale_frames(), 1);
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

}  // namespace
}  // namespace braid::collectives::tcp
