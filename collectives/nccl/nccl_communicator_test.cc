// The nccl backend: the conformance suite on CUDA tensors with one rank per
// visible GPU (ranks forked by RunRanks, bootstrapped through a real
// StoreServer), the watchdog turning a hung operation into kAborted, and
// Abort. Every GPU test skips where no GPU is usable; creation without a GPU
// must fail cleanly.
#include "collectives/nccl/nccl_communicator.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/testing/conformance.h"
#include "gtest/gtest.h"
#include "runtime/cuda_memory.h"
#include "runtime/tensor.h"
#include "tests/testing/run_ranks.h"
#include "tests/testing/test_store.h"

namespace braid::collectives {
namespace {

using runtime::DType;
using runtime::Tensor;

constexpr char kAddressVar[] = "BRAID_TEST_STORE_ADDRESS";

absl::Duration Scaled(absl::Duration d) { return d * braid::testing::TimeoutScale(); }

// In a rank process: connects to the parent's store and creates the communicator.
std::unique_ptr<NcclCommunicator> Connect(int rank, int world_size,
                                          std::unique_ptr<runtime::Store>& store,
                                          absl::Duration op_timeout) {
  const char* address = std::getenv(kAddressVar);
  EXPECT_NE(address, nullptr);
  if (address == nullptr) return nullptr;
  auto client = braid::testing::ConnectTestStore(address);
  EXPECT_TRUE(client.ok()) << client.status();
  if (!client.ok()) return nullptr;
  store = std::move(*client);
  CommunicatorOptions options;
  options.rank = rank;
  options.size = world_size;
  options.store = store.get();
  options.op_timeout = op_timeout;
  options.connect_timeout = Scaled(absl::Seconds(60));
  auto comm = NcclCommunicator::Create(options);
  EXPECT_TRUE(comm.ok()) << comm.status();
  return comm.ok() ? std::move(*comm) : nullptr;
}

// Runs `body` on one rank per visible GPU with a store the parent hosts.
void RunOnAllGpus(const braid::testing::RankBody& body) {
  std::unique_ptr<braid::testing::TestStoreServer> server;
  braid::testing::RunRanksOptions run_options;
  run_options.timeout = Scaled(absl::Seconds(100));
  if (!braid::testing::IsRankProcess()) {
    auto created = braid::testing::TestStoreServer::Start();
    ASSERT_TRUE(created.ok()) << created.status();
    server = std::move(*created);
    run_options.env[kAddressVar] = server->address();
  }
  braid::testing::RankResults r =
      braid::testing::RunRanks(runtime::cuda::DeviceCount(), body, run_options);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

TEST(NcclCommunicatorTest, CreateWithoutGpuFailsCleanly) {
  if (runtime::cuda::Available()) GTEST_SKIP() << "a GPU is present";
  CommunicatorOptions options;
  options.rank = 0;
  options.size = 1;
  auto comm = NcclCommunicator::Create(options);
  EXPECT_EQ(comm.status().code(), absl::StatusCode::kFailedPrecondition) << comm.status();
  CommunicatorFactory factory;
  EXPECT_TRUE(RegisterNcclBackend(factory).ok());
  EXPECT_EQ(factory.Backends(), std::vector<std::string>{"nccl"});
}

TEST(NcclCommunicatorTest, Conformance) {
  if (!runtime::cuda::Available()) GTEST_SKIP() << "no usable GPU";
  RunOnAllGpus([](int rank, int world_size) {
    std::unique_ptr<runtime::Store> store;
    auto comm = Connect(rank, world_size, store, Scaled(absl::Seconds(60)));
    ASSERT_NE(comm, nullptr);
    EXPECT_EQ(comm->device(), rank);
    testing::ConformanceOptions options;
    options.device = runtime::Device::Cuda(comm->device());
    options.out_of_order_tags = false;  // NCCL has no tags: posting order matches
    options.op_timeout = Scaled(absl::Seconds(60));
    testing::RunConformanceSuite(*comm, options);
  });
}

TEST(NcclCommunicatorTest, WatchdogAbortsAHungOperation) {
  if (!runtime::cuda::Available()) GTEST_SKIP() << "no usable GPU";
  RunOnAllGpus([](int rank, int world_size) {
    std::unique_ptr<runtime::Store> store;
    auto comm = Connect(rank, world_size, store, absl::Seconds(1));
    ASSERT_NE(comm, nullptr);
    auto t = Tensor::Zeros({256}, DType::kF32, runtime::Device::Cuda(comm->device()));
    ASSERT_TRUE(t.ok()) << t.status();
    // Nobody sends this: the receive hangs on the GPU until the watchdog aborts.
    const absl::Time start = absl::Now();
    absl::Status s = comm->Recv(*t, rank, 5)->Wait(absl::Now() + Scaled(absl::Seconds(30)));
    EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "op_timeout")) << s;
    EXPECT_LT(absl::Now() - start, Scaled(absl::Seconds(15)));
    absl::Status later = comm->Barrier()->Wait(absl::Now() + Scaled(absl::Seconds(5)));
    EXPECT_EQ(later.code(), absl::StatusCode::kFailedPrecondition) << later;
  });
}

TEST(NcclCommunicatorTest, AbortFailsPendingOperations) {
  if (!runtime::cuda::Available()) GTEST_SKIP() << "no usable GPU";
  RunOnAllGpus([](int rank, int world_size) {
    std::unique_ptr<runtime::Store> store;
    auto comm = Connect(rank, world_size, store, Scaled(absl::Seconds(60)));
    ASSERT_NE(comm, nullptr);
    auto t = Tensor::Zeros({256}, DType::kF32, runtime::Device::Cuda(comm->device()));
    ASSERT_TRUE(t.ok()) << t.status();
    std::shared_ptr<Work> pending = comm->Recv(*t, rank, 9);
    EXPECT_FALSE(pending->IsCompleted());  // launches it; it cannot finish
    comm->Abort(absl::CancelledError("test abort"));
    absl::Status s = pending->Wait(absl::Now() + Scaled(absl::Seconds(10)));
    EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "test abort")) << s;
  });
}

}  // namespace
}  // namespace braid::collectives
