// The `long` cases: 8 ranks and 64 MB.
#include <signal.h>
#include <unistd.h>

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

const absl::Duration kWait = absl::Seconds(300);

TEST(TcpLongTest, EightRanksEveryAlgorithm) {
  StoreFixture store = StartStore(absl::Seconds(600));
  auto r = braid::testing::RunRanks(8, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    for (const char* algo : {"ring", "recursive_doubling"}) {
      CommSpec spec;
      spec.backend_options["allreduce_algorithm"] = algo;
      spec.backend_options["generation"] = algo;
      auto comm = MakeComm(client->get(), rank, n, spec);
      ASSERT_TRUE(comm.ok()) << comm.status();
      for (int64_t count : {0, 1, 7, 1000003}) {
        Tensor t = *Tensor::Full({count}, DType::kI64, rank + 1);
        ASSERT_TRUE((*comm)->AllReduce(t, t, ReduceOp::kSum)->Wait(absl::Now() + kWait).ok());
        if (count > 0) {
          EXPECT_EQ(t.data<int64_t>()[count - 1], n * (n + 1) / 2);
        }
      }
      Tensor in = *Tensor::Full({1000003}, DType::kF32, rank);
      Tensor out = *Tensor::Zeros({1000003 * n}, DType::kF32);
      ASSERT_TRUE((*comm)->AllGather(in, out)->Wait(absl::Now() + kWait).ok());
      EXPECT_EQ(out.data<float>()[1000003 * (n - 1)], n - 1);
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

TEST(TcpLongTest, SixtyFourMegabytes) {
  StoreFixture store = StartStore(absl::Seconds(600));
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    const int64_t count = (64 << 20) / 4;
    Tensor t = *Tensor::Full({count}, DType::kF32, rank + 1);
    const absl::Time start = absl::Now();
    ASSERT_TRUE((*comm)->AllReduce(t, t, ReduceOp::kSum)->Wait(absl::Now() + kWait).ok());
    const absl::Duration took = absl::Now() - start;
    if (rank == 0) {
      std::printf("64 MB all-reduce, 2 ranks: %s (busbw %.2f GB/s)\n",
                  absl::FormatDuration(took).c_str(),
                  (64 << 20) / absl::ToDoubleSeconds(took) / 1e9);
    }
    EXPECT_EQ(t.data<float>()[count - 1], 3.0f);
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

TEST(TcpLongTest, KillOneOfEight) {
  StoreFixture store = StartStore(absl::Seconds(300));
  const int victim = 5;
  auto r = braid::testing::RunRanks(8, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    Tensor t = *Tensor::Full({1 << 20}, DType::kF32, 1.0);
    if (rank == victim) {
      ASSERT_TRUE((*comm)->AllReduce(t, t, ReduceOp::kMax)->Wait(absl::Now() + kWait).ok());
      auto w = (*comm)->AllReduce(t, t, ReduceOp::kMax);
      kill(getpid(), SIGKILL);
    }
    absl::Status failed;
    for (int i = 0; i < 100000 && failed.ok(); ++i) {
      failed = (*comm)->AllReduce(t, t, ReduceOp::kMax)->Wait(absl::Now() + kWait);
    }
    EXPECT_TRUE(absl::IsAborted(failed) || absl::IsFailedPrecondition(failed)) << failed;
    EXPECT_EQ(FailedRanks(failed), std::vector<int>{victim});
    const int victims[] = {victim};
    auto shrunk = (*comm)->Shrink(victims, absl::Now() + kWait);
    ASSERT_TRUE(shrunk.ok()) << shrunk.status();
    Tensor v = *Tensor::Full({1000}, DType::kI32, 1);
    ASSERT_TRUE((*shrunk)->AllReduce(v, v, ReduceOp::kSum)->Wait(absl::Now() + kWait).ok());
    EXPECT_EQ(v.data<int32_t>()[0], n - 1);
  }, store.run);
  for (const auto& e : r.ranks) {
    if (e.rank != victim) {
      EXPECT_TRUE(e.ok()) << r.Summary();
    }
  }
}

}  // namespace
}  // namespace braid::collectives::tcp
