// DeviceDispatchCommunicator under real mpiexec: "cpu:mpi" runs the
// conformance suite on CPU tensors; device mix-ups fail with
// kInvalidArgument; with NCCL and a GPU, "cpu:mpi,cuda:nccl" runs the suite
// on both devices (skipped without a GPU).
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "collectives/dispatch/device_dispatch_communicator.h"
#include "collectives/factory.h"
#include "collectives/mpi/mpi_communicator.h"
#include "collectives/mpi/mpi_test_env.h"
#include "collectives/testing/conformance.h"
#include "gtest/gtest.h"
#include "runtime/cuda_memory.h"
#include "runtime/tensor.h"
#include "tests/testing/test_store.h"
#if BRAID_TEST_WITH_NCCL
#include "collectives/nccl/nccl_communicator.h"
#endif

namespace braid::collectives {
namespace {

using runtime::DType;
using runtime::Tensor;
using testing::ConformanceOptions;
using testing::ScaledTimeout;
using testing::TestSession;

absl::Time Deadline(absl::Duration d) { return absl::Now() + ScaledTimeout(d); }

// World rank 0 hosts a store; its address reaches the others over MPI.
struct TestStore {
  std::unique_ptr<braid::testing::TestStoreServer> server;
  std::unique_ptr<runtime::Store> client;
};

TestStore MakeStore() {
  TestStore out;
  std::string address;
  if (TestSession().world_rank() == 0) {
    auto server = braid::testing::TestStoreServer::Start();
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) {
      out.server = std::move(*server);
      address = out.server->address();
    }
  }
  auto got = BroadcastString(TestSession(), address, 0, Deadline(absl::Seconds(30)));
  EXPECT_TRUE(got.ok()) << got.status();
  if (!got.ok()) return out;
  auto client = braid::testing::ConnectTestStore(*got);
  EXPECT_TRUE(client.ok()) << client.status();
  if (client.ok()) out.client = std::move(*client);
  return out;
}

CommunicatorOptions WorldOptions(runtime::Store* store) {
  CommunicatorOptions options;
  options.rank = TestSession().world_rank();
  options.size = TestSession().world_size();
  options.store = store;
  options.op_timeout = ScaledTimeout(absl::Seconds(30));
  return options;
}

TEST(DispatchMpiTest, CpuOverMpiPassesConformance) {
  TestStore store = MakeStore();
  ASSERT_NE(store.client, nullptr);
  CommunicatorFactory factory;
  ASSERT_TRUE(RegisterMpiBackend(factory, TestSession()).ok());
  auto comm = DeviceDispatchCommunicator::CreateFromSpec("cpu:mpi", factory,
                                                         WorldOptions(store.client.get()));
  ASSERT_TRUE(comm.ok()) << comm.status();
  EXPECT_EQ((*comm)->backend(), "cpu:mpi");
  EXPECT_TRUE((*comm)->capabilities().cpu_tensors);
  EXPECT_FALSE((*comm)->capabilities().cuda_tensors);
  ConformanceOptions options;
  options.op_timeout = ScaledTimeout(absl::Seconds(30));
  options.dtypes = {DType::kF32, DType::kF16, DType::kI64};
  options.large_count = 0;
  testing::RunConformanceSuite(**comm, options);
  ASSERT_TRUE((*comm)->Barrier()->Wait(Deadline(absl::Seconds(30))).ok());
}

TEST(DispatchMpiTest, DeviceMixUpsAreInvalidArguments) {
  auto mpi = MpiCommunicator::CreateWorld(TestSession(), {});
  ASSERT_TRUE(mpi.ok()) << mpi.status();
  DeviceDispatchCommunicator::Parts parts;
  parts.cpu = std::move(*mpi);
  auto comm = DeviceDispatchCommunicator::Create(std::move(parts));
  ASSERT_TRUE(comm.ok()) << comm.status();
  auto cpu = Tensor::Zeros({8}, DType::kF32);
  ASSERT_TRUE(cpu.ok());
  float fake_device_memory[8] = {};
  auto cuda = Tensor::FromBlob(fake_device_memory, {8}, DType::kF32, runtime::Device::Cuda(0));
  ASSERT_TRUE(cuda.ok());
  absl::Status mixed =
      (*comm)->AllReduce(*cpu, *cuda, ReduceOp::kSum)->Wait(Deadline(absl::Seconds(5)));
  EXPECT_EQ(mixed.code(), absl::StatusCode::kInvalidArgument) << mixed;
  EXPECT_TRUE(absl::StrContains(mixed.message(), "different device types")) << mixed;
  absl::Status none = (*comm)->Broadcast(*cuda, 0)->Wait(Deadline(absl::Seconds(5)));
  EXPECT_EQ(none.code(), absl::StatusCode::kInvalidArgument) << none;
  EXPECT_TRUE(absl::StrContains(none.message(), "no backend for cuda")) << none;
  // A CPU call still goes through.
  EXPECT_TRUE(
      (*comm)->AllReduce(*cpu, *cpu, ReduceOp::kMax)->Wait(Deadline(absl::Seconds(30))).ok());
}

TEST(DispatchMpiTest, CpuOverMpiAndCudaOverNccl) {
#if !BRAID_TEST_WITH_NCCL
  GTEST_SKIP() << "braid was built without NCCL";
#else
  if (runtime::cuda::DeviceCount() == 0) GTEST_SKIP() << "no usable GPU on this machine";
  TestStore store = MakeStore();
  ASSERT_NE(store.client, nullptr);
  CommunicatorFactory factory;
  ASSERT_TRUE(RegisterMpiBackend(factory, TestSession()).ok());
  ASSERT_TRUE(RegisterNcclBackend(factory).ok());
  auto comm = DeviceDispatchCommunicator::CreateFromSpec("cpu:mpi,cuda:nccl", factory,
                                                         WorldOptions(store.client.get()));
  ASSERT_TRUE(comm.ok()) << comm.status();
  ConformanceOptions options;
  options.op_timeout = ScaledTimeout(absl::Seconds(30));
  options.large_count = 0;
  options.dtypes = {DType::kF32, DType::kBF16};
  testing::RunConformanceSuite(**comm, options);
  options.device = runtime::Device::Cuda(TestSession().world_rank() % runtime::cuda::DeviceCount());
  testing::RunConformanceSuite(**comm, options);
#endif
}

}  // namespace
}  // namespace braid::collectives
