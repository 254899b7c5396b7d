// Measurements, not assertions of speed (labelled long): all-reduce bus
// bandwidth (nccl-tests convention, busbw = algbw * 2(n-1)/n) and 8-byte
// latency at 2 and 4 ranks, printed per rank 0. The interleaved comparison
// with Open MPI and Gloo belongs to bench/collectives_bench.
#include <algorithm>
#include <tuple>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/tcp/test_util.h"
#include "gtest/gtest.h"

namespace braid::collectives::tcp {
namespace {

using runtime::DType;
using runtime::Tensor;
using namespace braid::collectives::tcp::testing;

class TcpPerfTest : public ::testing::TestWithParam<int> {};

void Measure(int world, bool shm);

// Shared memory between same-host ranks (the default) and plain TCP, run
// back to back.
TEST_P(TcpPerfTest, SharedMemory) { Measure(GetParam(), true); }
TEST_P(TcpPerfTest, PlainTcp) { Measure(GetParam(), false); }

void Measure(int world, bool shm) {
  StoreFixture store = StartStore(absl::Seconds(300));
  auto r = braid::testing::RunRanks(world, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    CommSpec spec;
    if (!shm) DisableSharedMemory(spec);
    auto comm = MakeComm(client->get(), rank, n, spec);
    ASSERT_TRUE(comm.ok()) << comm.status();
    const absl::Time deadline = absl::Now() + absl::Seconds(200);
    for (int64_t bytes : {int64_t{8}, int64_t{4096}, int64_t{1} << 20, int64_t{16} << 20,
                          int64_t{64} << 20}) {
      const int64_t count = bytes / 4;
      Tensor t = *Tensor::Full({count}, DType::kF32, 1.0);
      const int iters = bytes <= 4096 ? 2000 : bytes <= (1 << 20) ? 50 : 5;
      for (int i = 0; i < 3; ++i) ASSERT_TRUE((*comm)->AllReduce(t, t, ReduceOp::kMax)->Wait(deadline).ok());
      std::vector<double> us;
      for (int i = 0; i < iters; ++i) {
        const absl::Time start = absl::Now();
        ASSERT_TRUE((*comm)->AllReduce(t, t, ReduceOp::kMax)->Wait(deadline).ok());
        us.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
      }
      std::sort(us.begin(), us.end());
      const double p50 = us[us.size() / 2];
      const double busbw = bytes / (p50 * 1e-6) * 2.0 * (n - 1) / n / 1e9;
      if (rank == 0) {
        std::printf("%s all-reduce n=%d bytes=%lld p50=%.1f us busbw=%.3f GB/s\n",
                    shm ? "shm" : "tcp", n,
                    static_cast<long long>(bytes), p50, busbw);
      }
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

INSTANTIATE_TEST_SUITE_P(Worlds, TcpPerfTest, ::testing::Values(2, 4, 8));

}  // namespace
}  // namespace braid::collectives::tcp
