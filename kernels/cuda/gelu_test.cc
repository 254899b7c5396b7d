// CUDA GELU against the CPU implementation (skipped without a GPU).
#include "kernels/gelu.h"

#include "gtest/gtest.h"
#include "kernels/testing/device.h"

namespace braid::kernels {
namespace {

using runtime::DType;
using runtime::Tensor;
using testing::MatchesCpu;
using testing::RandomTensor;
using testing::ToGpu;
using testing::ZerosTensor;

TEST(CudaGeluTest, MatchesCpu) {
  BRAID_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    const double tol = dtype == DType::kF32 ? 1e-5 : 1e-2;
    Tensor x = RandomTensor({37, 1001}, 1, dtype, -5.0f, 5.0f);
    Tensor dy = RandomTensor({37, 1001}, 2, dtype);
    Tensor y = ZerosTensor(x.shape(), dtype), dx = ZerosTensor(x.shape(), dtype);
    ASSERT_TRUE(GeluForward(x, y).ok());
    ASSERT_TRUE(GeluBackward(x, dy, dx).ok());
    Tensor gx = ToGpu(x), gdy = ToGpu(dy), gy = ToGpu(ZerosTensor(x.shape(), dtype)),
           gdx = ToGpu(ZerosTensor(x.shape(), dtype));
    ASSERT_TRUE(GeluForward(gx, gy).ok());
    ASSERT_TRUE(GeluBackward(gx, gdy, gdx).ok());
    EXPECT_TRUE(MatchesCpu(gy, y, tol, tol)) << runtime::ToString(dtype);
    EXPECT_TRUE(MatchesCpu(gdx, dx, tol, tol)) << runtime::ToString(dtype);
  }
}

TEST(CudaGeluTest, CpuAndGpuOperandsAreRejected) {
  BRAID_SKIP_WITHOUT_GPU();
  Tensor x = RandomTensor({8}, 6);
  EXPECT_EQ(GeluForward(x, ToGpu(x)).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::kernels
