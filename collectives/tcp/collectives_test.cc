// Every tcp operation against a reference result, with real rank processes
// (RunRanks) bootstrapped through a real StoreServer.
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/status_payload.h"
#include "collectives/tcp/tcp_backend.h"
#include "collectives/tcp/test_util.h"
#include "collectives/tcp/test_values.h"
#include "collectives/testing/conformance.h"
#include "gtest/gtest.h"

namespace braid::collectives::tcp {
namespace {

using runtime::DType;
using runtime::Tensor;
using namespace braid::collectives::tcp::testing;

const absl::Duration kWait = absl::Seconds(60);

double Value(ReduceOp op, int rank, int64_t i) {
  if (op == ReduceOp::kProd) return 1 + (rank + i) % 2;
  return static_cast<double>((rank * 5 + i * 3) % 11);
}

double Reference(ReduceOp op, int size, int64_t i, DType dtype) {
  double acc = Value(op, 0, i);
  for (int r = 1; r < size; ++r) {
    const double v = Value(op, r, i);
    switch (op) {
      case ReduceOp::kSum:
      case ReduceOp::kAvg: acc += v; break;
      case ReduceOp::kProd: acc *= v; break;
      case ReduceOp::kMin: acc = std::min(acc, v); break;
      case ReduceOp::kMax: acc = std::max(acc, v); break;
    }
  }
  if (op == ReduceOp::kAvg) {
    acc = runtime::IsFloatingPoint(dtype) ? acc / size : std::trunc(acc / size);
  }
  return acc;
}

class TcpAllReduceTest : public ::testing::TestWithParam<std::tuple<int, std::string>> {};

TEST_P(TcpAllReduceTest, EveryDTypeOpAndSize) {
  const int world = std::get<0>(GetParam());
  const std::string algorithm = std::get<1>(GetParam());
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(world, [&](int rank, int size) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    CommSpec spec;
    spec.backend_options["allreduce_algorithm"] = algorithm;
    // The forced ring runs over plain TCP, the others over shared memory.
    if (algorithm == "ring") DisableSharedMemory(spec);
    spec.backend_options["segment_bytes"] = "8192";  // several segments per chunk
    auto comm = MakeComm(client->get(), rank, size, spec);
    ASSERT_TRUE(comm.ok()) << comm.status();
    for (DType dtype : runtime::kAllDTypes) {
      for (ReduceOp op : kAllReduceOps) {
        for (int64_t count : {0, 1, 7, 1000, 20001}) {
          std::vector<double> in(count), want(count);
          for (int64_t i = 0; i < count; ++i) {
            in[i] = Value(op, rank, i);
            want[i] = Reference(op, size, i, dtype);
          }
          Tensor input = MakeTensor(in, dtype);
          const bool in_place = count % 2 == 1;
          Tensor output = in_place ? input : *Tensor::Zeros({count}, dtype);
          absl::Status s = (*comm)->AllReduce(input, output, op)->Wait(absl::Now() + kWait);
          ASSERT_TRUE(s.ok()) << s;
          EXPECT_EQ(Compare(output, want), "")
              << "AllReduce " << ToString(op) << " " << runtime::ToString(dtype) << " count "
              << count << " rank " << rank << "/" << size << " " << algorithm;
        }
      }
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

INSTANTIATE_TEST_SUITE_P(Worlds, TcpAllReduceTest,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4),
                                            ::testing::Values("auto", "ring",
                                                              "recursive_doubling")),
                         [](const auto& info) {
                           return absl::StrCat(std::get<0>(info.param), "ranks_",
                                               std::get<1>(info.param));
                         });

class TcpOpsTest : public ::testing::TestWithParam<int> {};

// ReduceScatter, AllGather, Broadcast, Reduce, AllToAll(V), Send/Recv and
// Barrier against references, for sizes 0, 1, odd and ~1 MB.
TEST_P(TcpOpsTest, EveryOperation) {
  const int world = GetParam();
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(world, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    CommSpec spec;
    spec.backend_options["segment_bytes"] = "65536";
    // Odd worlds over plain TCP, even ones over shared memory.
    if (n % 2 == 1) DisableSharedMemory(spec);
    auto comm_or = MakeComm(client->get(), rank, n, spec);
    ASSERT_TRUE(comm_or.ok()) << comm_or.status();
    TcpCommunicator& comm = **comm_or;
    auto wait = [](const std::shared_ptr<Work>& w) { return w->Wait(absl::Now() + kWait); };
    for (int64_t count : {0, 1, 7, 250001}) {
      for (DType dtype : {DType::kF32, DType::kBF16, DType::kI64, DType::kU8}) {
        const std::string what =
            absl::StrCat(runtime::ToString(dtype), " count ", count, " rank ", rank, "/", n);
        // ReduceScatter (sum).
        {
          std::vector<double> in(count * n), want(count);
          for (int64_t i = 0; i < count * n; ++i) in[i] = Value(ReduceOp::kSum, rank, i);
          for (int64_t i = 0; i < count; ++i) {
            want[i] = Reference(ReduceOp::kSum, n, rank * count + i, dtype);
          }
          Tensor out = *Tensor::Zeros({count}, dtype);
          ASSERT_TRUE(wait(comm.ReduceScatter(MakeTensor(in, dtype), out, ReduceOp::kSum)).ok());
          EXPECT_EQ(Compare(out, want), "") << "ReduceScatter " << what;
        }
        // AllGather.
        {
          std::vector<double> in(count), want(count * n);
          for (int64_t i = 0; i < count; ++i) in[i] = (rank * 7 + i) % 100;
          for (int p = 0; p < n; ++p) {
            for (int64_t i = 0; i < count; ++i) want[p * count + i] = (p * 7 + i) % 100;
          }
          Tensor out = *Tensor::Zeros({count * n}, dtype);
          ASSERT_TRUE(wait(comm.AllGather(MakeTensor(in, dtype), out)).ok());
          EXPECT_EQ(Compare(out, want), "") << "AllGather " << what;
        }
        // Broadcast from the last rank.
        {
          const int root = n - 1;
          std::vector<double> in(count), want(count);
          for (int64_t i = 0; i < count; ++i) {
            in[i] = rank == root ? (i * 13) % 97 : 0;
            want[i] = (i * 13) % 97;
          }
          Tensor t = MakeTensor(in, dtype);
          ASSERT_TRUE(wait(comm.Broadcast(t, root)).ok());
          EXPECT_EQ(Compare(t, want), "") << "Broadcast " << what;
        }
        // Reduce (max) to rank 0 and (avg) to the last rank.
        for (auto [op, root] : {std::pair{ReduceOp::kMax, 0}, std::pair{ReduceOp::kAvg, n - 1}}) {
          std::vector<double> in(count), want(count);
          for (int64_t i = 0; i < count; ++i) {
            in[i] = Value(op, rank, i);
            want[i] = Reference(op, n, i, dtype);
          }
          Tensor out = *Tensor::Zeros({count}, dtype);
          ASSERT_TRUE(wait(comm.Reduce(MakeTensor(in, dtype), out, op, root)).ok());
          if (rank == root) {
            EXPECT_EQ(Compare(out, want), "") << "Reduce " << what;
          }
        }
        // AllToAll: chunk j of rank i -> chunk i of rank j.
        {
          std::vector<double> in(count * n), want(count * n);
          for (int j = 0; j < n; ++j) {
            for (int64_t e = 0; e < count; ++e) {
              in[j * count + e] = (rank * 31 + j * 7 + e) % 101;
              want[j * count + e] = (j * 31 + rank * 7 + e) % 101;
            }
          }
          Tensor out = *Tensor::Zeros({count * n}, dtype);
          ASSERT_TRUE(wait(comm.AllToAll(MakeTensor(in, dtype), out)).ok());
          EXPECT_EQ(Compare(out, want), "") << "AllToAll " << what;
        }
      }
    }
    // AllToAllV: rank i sends (i + j) % 3 * 5 + count elements to rank j.
    {
      auto amount = [](int i, int j) { return static_cast<int64_t>((i + j) % 3 * 5 + 1); };
      std::vector<int64_t> sc(n), rc(n);
      std::vector<double> in, want;
      for (int j = 0; j < n; ++j) {
        sc[j] = amount(rank, j);
        rc[j] = amount(j, rank);
        for (int64_t e = 0; e < sc[j]; ++e) in.push_back(rank * 100 + j * 10 + e);
        for (int64_t e = 0; e < rc[j]; ++e) want.push_back(j * 100 + rank * 10 + e);
      }
      Tensor out = *Tensor::Zeros({static_cast<int64_t>(want.size())}, DType::kI32);
      ASSERT_TRUE(wait(comm.AllToAllV(MakeTensor(in, DType::kI32), sc, out, rc)).ok());
      EXPECT_EQ(Compare(out, want), "") << "AllToAllV rank " << rank;
    }
    // Send/Recv around the ring, Recv posted first everywhere (must not deadlock),
    // two tags in flight, plus an empty message.
    if (n > 1) {
      const int right = (rank + 1) % n;
      const int left = (rank - 1 + n) % n;
      Tensor a = *Tensor::Zeros({100003}, DType::kF32);
      Tensor b = *Tensor::Zeros({5}, DType::kI64);
      Tensor e = *Tensor::Zeros({0}, DType::kF32);
      auto ra = comm.Recv(a, left, 1);
      auto rb = comm.Recv(b, left, 2);
      auto re = comm.Recv(e, left, 3);
      std::vector<double> va(100003), vb(5);
      for (size_t i = 0; i < va.size(); ++i) va[i] = rank * 1000 + i % 1000;
      for (size_t i = 0; i < vb.size(); ++i) vb[i] = rank * 10 + i;
      auto sb = comm.Send(MakeTensor(vb, DType::kI64), right, 2);
      auto sa = comm.Send(MakeTensor(va, DType::kF32), right, 1);
      auto se = comm.Send(*Tensor::Zeros({0}, DType::kF32), right, 3);
      for (auto* w : {&sa, &sb, &se, &ra, &rb, &re}) ASSERT_TRUE(wait(*w).ok()) << wait(*w);
      for (size_t i = 0; i < va.size(); ++i) va[i] = left * 1000 + i % 1000;
      for (size_t i = 0; i < vb.size(); ++i) vb[i] = left * 10 + i;
      EXPECT_EQ(Compare(a, va), "");
      EXPECT_EQ(Compare(b, vb), "");
    }
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(wait(comm.Barrier()).ok());
    // Argument errors are reported through the Work and leave the communicator usable.
    Tensor small = *Tensor::Zeros({3}, DType::kF32);
    Tensor big = *Tensor::Zeros({4}, DType::kF32);
    EXPECT_TRUE(absl::IsInvalidArgument(wait(comm.AllReduce(small, big, ReduceOp::kSum))));
    EXPECT_TRUE(absl::IsInvalidArgument(wait(comm.Broadcast(small, n))));
    EXPECT_TRUE(wait(comm.AllReduce(small, small, ReduceOp::kSum)).ok());
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

INSTANTIATE_TEST_SUITE_P(Worlds, TcpOpsTest, ::testing::Values(1, 2, 3, 4));

// Deterministic mode: random f32 inputs give bit-identical sums on every rank
// and in every repetition.
TEST(TcpDeterministicTest, BitIdenticalAcrossRanksAndRuns) {
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(3, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    CommSpec spec;
    spec.deterministic = true;
    spec.backend_options["segment_bytes"] = "16384";
    auto comm = MakeComm(client->get(), rank, n, spec);
    ASSERT_TRUE(comm.ok()) << comm.status();
    std::mt19937 rng(42 + rank);
    std::uniform_real_distribution<float> dist(-1e3f, 1e3f);
    const int64_t count = 100001;
    std::vector<float> in(count);
    for (float& v : in) v = dist(rng);
    Tensor input = *Tensor::FromVector(in, {count});
    Tensor first;
    for (int rep = 0; rep < 3; ++rep) {
      Tensor out = *Tensor::Zeros({count}, DType::kF32);
      ASSERT_TRUE((*comm)->AllReduce(input, out, ReduceOp::kSum)->Wait(absl::Now() + kWait).ok());
      if (rep == 0) {
        first = out;
      } else {
        EXPECT_TRUE(runtime::BitwiseEqual(first, out)) << "repetition " << rep;
      }
    }
    // Every rank's bits, gathered: all equal rank 0's.
    Tensor all = *Tensor::Zeros({count * n}, DType::kF32);
    ASSERT_TRUE((*comm)->AllGather(first, all)->Wait(absl::Now() + kWait).ok());
    for (int p = 1; p < n; ++p) {
      EXPECT_EQ(std::memcmp(all.data<float>(), all.data<float>() + p * count, count * 4), 0)
          << "rank " << p << " differs from rank 0";
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// Split by parity with reversed keys; a rank with color -1 takes no part.
TEST(TcpSplitTest, SubgroupsReuseConnections) {
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(5, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    const int color = rank == 4 ? -1 : rank % 2;
    auto sub = (*comm)->Split(color, -rank, absl::Now() + kWait);
    ASSERT_TRUE(sub.ok()) << sub.status();
    if (color < 0) {
      EXPECT_EQ(*sub, nullptr);
    } else {
      ASSERT_NE(*sub, nullptr);
      // Members {color, color + 2}, ordered by key = -rank: the higher rank first.
      EXPECT_EQ((*sub)->size(), 2);
      EXPECT_EQ((*sub)->rank(), rank >= 2 ? 0 : 1);
      Tensor t = *Tensor::Full({1000}, DType::kI32, rank);
      ASSERT_TRUE((*sub)->AllReduce(t, t, ReduceOp::kSum)->Wait(absl::Now() + kWait).ok());
      EXPECT_EQ(t.data<int32_t>()[999], color + color + 2);
    }
    // The parent still works alongside.
    Tensor w = *Tensor::Full({10}, DType::kI32, 1);
    ASSERT_TRUE((*comm)->AllReduce(w, w, ReduceOp::kSum)->Wait(absl::Now() + kWait).ok());
    EXPECT_EQ(w.data<int32_t>()[0], n);
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// The shared Communicator conformance suite, through the factory.
TEST(TcpConformanceTest, ThreeRanks) {
  StoreFixture store = StartStore(absl::Seconds(180));
  auto r = braid::testing::RunRanks(3, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    CommunicatorFactory factory;
    ASSERT_TRUE(RegisterTcpBackend(factory).ok());
    EXPECT_TRUE(absl::IsAlreadyExists(RegisterTcpBackend(factory)));
    CommunicatorOptions o;
    o.rank = rank;
    o.size = n;
    o.store = client->get();
    o.store_prefix = std::getenv("BRAID_TCP_TEST_PREFIX");
    o.backend_options["host"] = "127.0.0.1";
    auto comm = factory.Create("tcp", o);
    ASSERT_TRUE(comm.ok()) << comm.status();
    EXPECT_EQ((*comm)->backend(), "tcp");
    EXPECT_TRUE((*comm)->capabilities().fault_tolerant);
    collectives::testing::RunConformanceSuite(**comm, collectives::testing::ConformanceOptions{});
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// 16 ranks connect (bootstrap + first barrier) in well under a second.
TEST(TcpBootstrapTest, SixteenRanksConnectFast) {
  StoreFixture store = StartStore();
  auto r = braid::testing::RunRanks(16, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    runtime::Store& s = **client;
    const std::string prefix = std::getenv("BRAID_TCP_TEST_PREFIX");
    // Start the clock only once every process is up.
    ASSERT_TRUE(s.Set(absl::StrCat(prefix, "up/", rank), "1", absl::Now() + kWait).ok());
    std::vector<std::string> keys;
    for (int p = 0; p < n; ++p) keys.push_back(absl::StrCat(prefix, "up/", p));
    ASSERT_TRUE(s.Wait(keys, absl::Now() + kWait).ok());
    const absl::Time start = absl::Now();
    auto comm = MakeComm(&s, rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    absl::Status barrier = (*comm)->Barrier()->Wait(absl::Now() + kWait);
    ASSERT_TRUE(barrier.ok()) << barrier;
    const absl::Duration took = absl::Now() - start;
    if (rank == 0) std::printf("16-rank bootstrap + barrier: %s\n", absl::FormatDuration(took).c_str());
    EXPECT_LT(took, Bound(absl::Seconds(2)));
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

}  // namespace
}  // namespace braid::collectives::tcp
