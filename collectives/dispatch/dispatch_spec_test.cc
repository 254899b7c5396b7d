#include "collectives/dispatch/device_dispatch_communicator.h"
#include "gtest/gtest.h"

namespace braid::collectives {
namespace {

using runtime::DeviceType;

TEST(DispatchSpecTest, ParsesDeviceEntries) {
  auto entries = ParseDispatchSpec("cpu:tcp, cuda:nccl");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0], (DispatchEntry{DeviceType::kCpu, false, "tcp"}));
  EXPECT_EQ((*entries)[1], (DispatchEntry{DeviceType::kCuda, false, "nccl"}));
}

TEST(DispatchSpecTest, BareBackendServesAnyDevice) {
  auto entries = ParseDispatchSpec("mpi");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_TRUE((*entries)[0].any_device);
  EXPECT_EQ((*entries)[0].backend, "mpi");
  auto mixed = ParseDispatchSpec("cuda:nccl,tcp");
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_TRUE((*mixed)[1].any_device);
}

TEST(DispatchSpecTest, RejectsBadSpecs) {
  for (const char* bad : {"", "cpu:", "gpu:nccl", "cpu:tcp,cpu:mpi", "cpu:tcp,,cuda:nccl", " , "}) {
    auto entries = ParseDispatchSpec(bad);
    EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument) << "'" << bad << "'";
  }
}

TEST(DispatchSpecTest, CreateNeedsABackend) {
  auto comm = DeviceDispatchCommunicator::Create({});
  EXPECT_EQ(comm.status().code(), absl::StatusCode::kInvalidArgument) << comm.status();
}

TEST(DispatchSpecTest, UnknownBackendInSpecIsNotFound) {
  CommunicatorFactory factory;
  CommunicatorOptions options;
  options.rank = 0;
  options.size = 1;
  auto comm = DeviceDispatchCommunicator::CreateFromSpec("cpu:nosuch", factory, options);
  EXPECT_FALSE(comm.ok());
}

}  // namespace
}  // namespace braid::collectives
