// The direct channel's fast path (small operations run by the waiting thread
// over polled shared memory) and cross-memory attach (CMA) all-reduces, with
// real rank processes: results, fallbacks when disabled, and faults.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/status_payload.h"
#include "collectives/tcp/test_util.h"
#include "collectives/tcp/test_values.h"
#include "gtest/gtest.h"

namespace braid::collectives::tcp {
namespace {

using runtime::DType;
using runtime::Tensor;
using namespace braid::collectives::tcp::testing;

const absl::Duration kWait = absl::Seconds(60);

std::string Prefix() { return std::getenv("BRAID_TCP_TEST_PREFIX"); }

double Value(int rank, int64_t i) { return static_cast<double>((rank * 7 + i * 3) % 13); }

// Sum over ranks of Value, exact in every dtype used here.
std::vector<double> SumOf(int n, int64_t count) {
  std::vector<double> want(static_cast<size_t>(count), 0.0);
  for (int r = 0; r < n; ++r) {
    for (int64_t i = 0; i < count; ++i) want[i] += Value(r, i);
  }
  return want;
}

// Checks AllReduce(sum) of `count` elements of `dtype` on every rank.
void CheckAllReduce(Communicator& comm, int64_t count, DType dtype, bool in_place,
                    absl::string_view what) {
  std::vector<double> in(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) in[i] = Value(comm.rank(), i);
  Tensor input = MakeTensor(in, dtype);
  Tensor output = in_place ? input : *Tensor::Zeros({count}, dtype);
  std::shared_ptr<Work> w = comm.AllReduce(input, output, ReduceOp::kSum);
  absl::Status s = w->Wait(absl::Now() + kWait);
  ASSERT_TRUE(s.ok()) << s << " " << what;
  EXPECT_TRUE(w->IsCompleted());
  EXPECT_EQ(Compare(output, SumOf(comm.size(), count)), "")
      << what << " count " << count << " " << runtime::ToString(dtype) << " rank " << comm.rank();
}

class TcpFastPathTest : public ::testing::TestWithParam<int> {};

// Small operations over the direct channel give the right results, both
// when the waiting thread runs them and when they queue behind others, and
// the same as with the fast path switched off.
TEST_P(TcpFastPathTest, ResultsMatchWithAndWithoutFastPath) {
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(GetParam(), [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    // Direct channel run inline by the waiting thread; direct channel run
    // by the executor; frame path.
    const std::pair<const char*, const char*> settings[] = {
        {"65536", "1"}, {"65536", "0"}, {"0", "1"}};
    for (const auto& [fast, caller] : settings) {
      CommSpec spec;
      spec.backend_options["fast_path_bytes"] = fast;
      spec.backend_options["caller_thread"] = caller;
      spec.backend_options["generation"] = absl::StrCat(fast, "-", caller);  // a fresh world
      auto comm = MakeComm(client->get(), rank, n, spec);
      ASSERT_TRUE(comm.ok()) << comm.status();
      ASSERT_EQ((*comm)->transport().direct() != nullptr, n > 1);
      const std::string what = absl::StrCat("fast_path_bytes=", fast, " caller_thread=", caller);
      for (DType dtype : {DType::kF32, DType::kI64, DType::kBF16, DType::kU8}) {
        for (int64_t count : {0, 1, 7, 1000, 4001}) {
          CheckAllReduce(**comm, count, dtype, count % 2 == 1, what);
        }
      }
      // Several in flight: they queue and complete in posting order.
      std::vector<Tensor> ts;
      std::vector<std::shared_ptr<Work>> works;
      for (int k = 0; k < 8; ++k) {
        ts.push_back(*Tensor::Full({33}, DType::kI32, rank + k));
        works.push_back((*comm)->AllReduce(ts.back(), ts.back(), ReduceOp::kSum));
      }
      for (int k = 7; k >= 0; --k) {
        ASSERT_TRUE(works[k]->Wait(absl::Now() + kWait).ok());
        for (int k2 = 0; k2 < k; ++k2) EXPECT_TRUE(works[k2]->IsCompleted());
        EXPECT_EQ(ts[k].data<int32_t>()[32], n * (n - 1) / 2 + n * k);
      }
      // Other small operations.
      Tensor b = *Tensor::Full({100}, DType::kF32, rank == n - 1 ? 5.0 : -1.0);
      ASSERT_TRUE((*comm)->Broadcast(b, n - 1)->Wait(absl::Now() + kWait).ok());
      EXPECT_EQ(b.data<float>()[99], 5.0f);
      Tensor in = *Tensor::Full({8}, DType::kI32, rank + 1);
      Tensor gathered = *Tensor::Zeros({8 * n}, DType::kI32);
      ASSERT_TRUE((*comm)->AllGather(in, gathered)->Wait(absl::Now() + kWait).ok());
      for (int g = 0; g < n; ++g) EXPECT_EQ(gathered.data<int32_t>()[8 * g], g + 1);
      Tensor rs_in = *Tensor::Full({4 * n}, DType::kF32, 1.0);
      Tensor rs_out = *Tensor::Zeros({4}, DType::kF32);
      ASSERT_TRUE((*comm)->ReduceScatter(rs_in, rs_out, ReduceOp::kSum)->Wait(absl::Now() + kWait).ok());
      EXPECT_EQ(rs_out.data<float>()[3], static_cast<float>(n));
      Tensor red = *Tensor::Full({16}, DType::kI64, rank);
      Tensor red_out = *Tensor::Zeros({16}, DType::kI64);
      ASSERT_TRUE((*comm)->Reduce(red, red_out, ReduceOp::kMax, 0)->Wait(absl::Now() + kWait).ok());
      if (rank == 0) {
        EXPECT_EQ(red_out.data<int64_t>()[15], n - 1);
      }
      Tensor a2a = *Tensor::Full({2 * n}, DType::kI32, rank);
      Tensor a2a_out = *Tensor::Zeros({2 * n}, DType::kI32);
      ASSERT_TRUE((*comm)->AllToAll(a2a, a2a_out)->Wait(absl::Now() + kWait).ok());
      for (int g = 0; g < n; ++g) EXPECT_EQ(a2a_out.data<int32_t>()[2 * g], g);
      ASSERT_TRUE((*comm)->Barrier()->Wait(absl::Now() + kWait).ok());
      // A Wait with a short deadline does not run the operation inline; the
      // executor starts it on its own.
      Tensor t = *Tensor::Full({4}, DType::kI32, 1);
      std::shared_ptr<Work> w = (*comm)->AllReduce(t, t, ReduceOp::kSum);
      absl::Status polled = w->Wait(absl::Now());
      EXPECT_TRUE(polled.ok() || absl::IsDeadlineExceeded(polled)) << polled;
      ASSERT_TRUE(w->Wait(absl::Now() + kWait).ok());
      EXPECT_EQ(t.data<int32_t>()[3], n);
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

INSTANTIATE_TEST_SUITE_P(Worlds, TcpFastPathTest, ::testing::Values(1, 2, 3, 4));

// kill -9 of a rank while the others loop 8-byte all-reduces on the fast
// path: they fail with kAborted naming it within the bound; Shrink works.
TEST(TcpFastPathFaultTest, PeerDeathInterruptsFastPathOps) {
  StoreFixture store = StartStore();
  const int victim = 2;
  auto r = braid::testing::RunRanks(4, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    ASSERT_NE((*comm)->transport().direct(), nullptr);
    Tensor t = *Tensor::Full({2}, DType::kF32, 1.0);
    if (rank == victim) {
      for (int i = 0; i < 100; ++i) {
        ASSERT_TRUE((*comm)->AllReduce(t, t, ReduceOp::kMax)->Wait(absl::Now() + kWait).ok());
      }
      (void)(*client)->Set(Prefix() + "death", absl::StrCat(absl::ToUnixNanos(absl::Now())),
                           absl::Now() + kWait);
      kill(getpid(), SIGKILL);
    }
    absl::Status failed;
    for (int i = 0; i < 10000000 && failed.ok(); ++i) {
      failed = (*comm)->AllReduce(t, t, ReduceOp::kMax)->Wait(absl::Now() + kWait);
    }
    const absl::Time seen = absl::Now();
    ASSERT_TRUE(absl::IsAborted(failed) || absl::IsFailedPrecondition(failed)) << failed;
    EXPECT_EQ(FailedRanks(failed), std::vector<int>{victim}) << failed;
    auto death = (*client)->Get(Prefix() + "death", absl::Now() + kWait);
    ASSERT_TRUE(death.ok()) << death.status();
    int64_t death_ns = 0;
    ASSERT_TRUE(absl::SimpleAtoi(*death, &death_ns));
    const absl::Duration latency = seen - absl::FromUnixNanos(death_ns);
    std::printf("rank %d: fast-path op failed %s after the kill: %s\n", rank,
                absl::FormatDuration(latency).c_str(), std::string(failed.message()).c_str());
    EXPECT_LT(latency, Bound(absl::Seconds(2)));
    const int victims[] = {victim};
    auto shrunk = (*comm)->Shrink(victims, absl::Now() + kWait);
    ASSERT_TRUE(shrunk.ok()) << shrunk.status();
    // The successor keeps the direct channel; leftovers of the old epoch in
    // the rings are skipped.
    for (int64_t count : {1, 100, 50000, 600000}) {
      CheckAllReduce(**shrunk, count, DType::kF32, true, "after Shrink");
    }
  }, store.run);
  for (const auto& e : r.ranks) {
    if (e.rank == victim) {
      EXPECT_EQ(e.signal, SIGKILL) << r.Summary();
    } else {
      EXPECT_TRUE(e.ok()) << r.Summary();
    }
  }
}

// Abort() from another thread interrupts a Wait that runs its operation
// inline (the peer never posts it).
TEST(TcpFastPathFaultTest, AbortInterruptsAnInlineOperation) {
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm_or = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm_or.ok()) << comm_or.status();
    TcpCommunicator& comm = **comm_or;
    ASSERT_NE(comm.transport().direct(), nullptr);
    Tensor t = *Tensor::Full({16}, DType::kF32, 1.0);
    ASSERT_TRUE(comm.AllReduce(t, t, ReduceOp::kSum)->Wait(absl::Now() + kWait).ok());
    if (rank == 0) {
      absl::Time aborted_at;
      std::thread aborter([&] {
        // Not synchronisation: the test holds whether the abort comes before
        // or during the Wait; the pause makes "during" the likely case.
        absl::SleepFor(absl::Milliseconds(100));
        aborted_at = absl::Now();
        comm.Abort(absl::CancelledError("test abort"));
      });
      absl::Status s = comm.AllReduce(t, t, ReduceOp::kSum)->Wait(absl::Now() + kWait);
      const absl::Time done = absl::Now();
      aborter.join();
      std::printf("Abort -> inline op returned after %s\n",
                  absl::FormatDuration(done - aborted_at).c_str());
      EXPECT_TRUE(absl::IsAborted(s)) << s;
      EXPECT_LT(done - aborted_at, Bound(absl::Milliseconds(500)));
    } else {
      // Told by rank 0's abort frame, never having posted the operation.
      Tensor u = *Tensor::Zeros({16}, DType::kF32);
      absl::Status s = comm.Recv(u, 0, 3)->Wait(absl::Now() + kWait);
      EXPECT_TRUE(absl::IsAborted(s)) << s;
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

class TcpCmaTest : public ::testing::TestWithParam<int> {};

// A communicator with cross-memory attach on ("1") or off ("0") from 64 KB.
std::unique_ptr<TcpCommunicator> MakeCmaComm(runtime::Store* store, int rank, int n,
                                             const char* cma) {
  CommSpec spec;
  spec.backend_options["cma"] = cma;
  spec.backend_options["cma_min_bytes"] = "65536";
  spec.backend_options["generation"] = cma;
  auto comm = MakeComm(store, rank, n, spec);
  EXPECT_TRUE(comm.ok()) << comm.status();
  return comm.ok() ? std::move(*comm) : nullptr;
}

// Large all-reduces by cross-memory attach match the reference, in place
// and not, for several dtypes; with cma=0 the ring gives the same.
TEST_P(TcpCmaTest, LargeAllReduceWithAndWithoutCma) {
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(GetParam(), [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    for (const char* cma : {"1", "0"}) {
      std::unique_ptr<TcpCommunicator> comm = MakeCmaComm(client->get(), rank, n, cma);
      ASSERT_NE(comm, nullptr);
      ASSERT_NE(comm->transport().direct(), nullptr);
      // This machine allows process_vm_readv among a user's processes; where
      // it does not, the bootstrap turns CMA off and says why (VLOG).
      if (std::string(cma) == "0") {
        EXPECT_FALSE(comm->transport().direct()->cma());
      } else {
        EXPECT_TRUE(comm->transport().direct()->cma());
      }
      const std::string what = absl::StrCat("cma=", cma);
      for (DType dtype : {DType::kF32, DType::kI64, DType::kF16}) {
        for (int64_t count : {int64_t{70001}, int64_t{1} << 20}) {
          CheckAllReduce(*comm, count, dtype, count % 2 == 1, what);
        }
      }
      // avg divides after the reduction.
      Tensor t = *Tensor::Full({300000}, DType::kF32, rank + 1);
      ASSERT_TRUE(comm->AllReduce(t, t, ReduceOp::kAvg)->Wait(absl::Now() + kWait).ok());
      EXPECT_FLOAT_EQ(t.data<float>()[299999], (n + 1) / 2.0f);
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// Large all-gathers and all-to-alls (in place and not) and broadcasts from
// every root copy by cross-memory attach with cma=1 and over the rings with
// cma=0; both give every rank the same, exact bytes.
TEST_P(TcpCmaTest, LargeAllGatherAllToAllAndBroadcastWithAndWithoutCma) {
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(GetParam(), [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    for (const char* cma : {"1", "0"}) {
      std::unique_ptr<TcpCommunicator> comm = MakeCmaComm(client->get(), rank, n, cma);
      ASSERT_NE(comm, nullptr);
      const std::string what = absl::StrCat("cma=", cma);
      // An odd element count per rank, above cma_min_bytes in total.
      const int64_t chunk = 40001;
      auto value = [](int r, int64_t i) { return static_cast<float>(r * 100003 + i); };
      Tensor in = *Tensor::Empty({chunk}, DType::kF32);
      for (int64_t i = 0; i < chunk; ++i) in.data<float>()[i] = value(rank, i);
      Tensor out = *Tensor::Full({chunk * n}, DType::kF32, -1.0);
      ASSERT_TRUE(comm->AllGather(in, out)->Wait(absl::Now() + kWait).ok()) << what;
      // In place: this rank's input is its chunk of the output.
      Tensor inplace = *Tensor::Full({chunk * n}, DType::kF32, -1.0);
      Tensor mine = *inplace.Slice(0, rank * chunk, (rank + 1) * chunk);
      ASSERT_TRUE(mine.CopyFrom(in).ok());
      ASSERT_TRUE(comm->AllGather(mine, inplace)->Wait(absl::Now() + kWait).ok()) << what;
      for (int p = 0; p < n; ++p) {
        for (int64_t i = 0; i < chunk; i += 997) {
          ASSERT_EQ(out.data<float>()[p * chunk + i], value(p, i)) << what << " rank " << p;
          ASSERT_EQ(inplace.data<float>()[p * chunk + i], value(p, i)) << what << " in place";
        }
      }
      // All-to-all, out of place and in place: block p of rank r's output is
      // block r of rank p's input.
      Tensor a2a_in = *Tensor::Empty({chunk * n}, DType::kF32);
      for (int64_t i = 0; i < chunk * n; ++i) a2a_in.data<float>()[i] = value(rank, i);
      Tensor a2a_out = *Tensor::Full({chunk * n}, DType::kF32, -1.0);
      ASSERT_TRUE(comm->AllToAll(a2a_in, a2a_out)->Wait(absl::Now() + kWait).ok()) << what;
      ASSERT_TRUE(comm->AllToAll(a2a_in, a2a_in)->Wait(absl::Now() + kWait).ok()) << what;
      for (int p = 0; p < n; ++p) {
        for (int64_t i = 0; i < chunk; i += 997) {
          ASSERT_EQ(a2a_out.data<float>()[p * chunk + i], value(p, rank * chunk + i)) << what;
          ASSERT_EQ(a2a_in.data<float>()[p * chunk + i], value(p, rank * chunk + i)) << what;
        }
      }
      for (int root = 0; root < n; ++root) {
        Tensor b = *Tensor::Full({300001}, DType::kF32, rank == root ? root + 0.5 : -1.0);
        ASSERT_TRUE(comm->Broadcast(b, root)->Wait(absl::Now() + kWait).ok()) << what;
        EXPECT_EQ(b.data<float>()[0], root + 0.5f) << what;
        EXPECT_EQ(b.data<float>()[300000], root + 0.5f) << what;
      }
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

INSTANTIATE_TEST_SUITE_P(Worlds, TcpCmaTest, ::testing::Values(2, 3, 4));

// A peer killed during CMA all-reduces: survivors fail with kAborted naming
// it (the peer's memory is gone: process_vm_readv fails, or the control
// messages never come).
TEST(TcpCmaTest, PeerDeathDuringCmaAllReduce) {
  StoreFixture store = StartStore();
  const int victim = 1;
  auto r = braid::testing::RunRanks(3, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    Tensor t = *Tensor::Full({1 << 20}, DType::kF32, 1.0);
    if (rank == victim) {
      for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE((*comm)->AllReduce(t, t, ReduceOp::kMax)->Wait(absl::Now() + kWait).ok());
      }
      auto w = (*comm)->AllReduce(t, t, ReduceOp::kMax);
      kill(getpid(), SIGKILL);
    }
    absl::Status failed;
    for (int i = 0; i < 100000 && failed.ok(); ++i) {
      failed = (*comm)->AllReduce(t, t, ReduceOp::kMax)->Wait(absl::Now() + kWait);
    }
    ASSERT_TRUE(absl::IsAborted(failed) || absl::IsFailedPrecondition(failed)) << failed;
    EXPECT_EQ(FailedRanks(failed), std::vector<int>{victim}) << failed;
  }, store.run);
  for (const auto& e : r.ranks) {
    if (e.rank == victim) {
      EXPECT_EQ(e.signal, SIGKILL) << r.Summary();
    } else {
      EXPECT_TRUE(e.ok()) << r.Summary();
    }
  }
}

}  // namespace
}  // namespace braid::collectives::tcp
