// CUDA softmax against the CPU implementation (skipped without a GPU).
#include "kernels/softmax.h"

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

TEST(CudaSoftmaxTest, MatchesCpu) {
  BRAID_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const double tol = dtype == DType::kF32 ? 1e-6 : 1e-2;
    for (int64_t cols : {1, 7, 1000, 5003}) {
      Tensor x = RandomTensor({3, 11, cols}, 1, dtype, -8.0f, 8.0f);
      Tensor dy = RandomTensor(x.shape(), 2, dtype);
      Tensor y = ZerosTensor(x.shape(), dtype), dx = ZerosTensor(x.shape(), dtype);
      ASSERT_TRUE(SoftmaxForward(x, y).ok());
      ASSERT_TRUE(SoftmaxBackward(y, dy, dx).ok());
      Tensor gx = ToGpu(x), gy = ToGpu(ZerosTensor(x.shape(), dtype));
      Tensor gdx = ToGpu(ZerosTensor(x.shape(), dtype));
      ASSERT_TRUE(SoftmaxForward(gx, gy).ok());
      // Backward from the CPU forward output so both sides see the same y.
      ASSERT_TRUE(SoftmaxBackward(ToGpu(y), ToGpu(dy), gdx).ok());
      EXPECT_TRUE(MatchesCpu(gy, y, tol, tol)) << cols;
      EXPECT_TRUE(MatchesCpu(gdx, dx, tol, tol)) << cols;
      ASSERT_TRUE(SoftmaxForward(gx, gx).ok());  // in place
      EXPECT_TRUE(MatchesCpu(gx, y, tol, tol)) << cols;
    }
  }
}

}  // namespace
}  // namespace braid::kernels
