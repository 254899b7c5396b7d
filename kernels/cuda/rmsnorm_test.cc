// CUDA RMSNorm against the CPU implementation (skipped without a GPU).
#include "kernels/rmsnorm.h"

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

TEST(CudaRmsNormTest, MatchesCpu) {
  BRAID_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const double tol = dtype == DType::kF32 ? 2e-5 : 2e-2;
    for (int64_t cols : {3, 512, 4099}) {
      const int64_t rows = 21;
      Tensor x = RandomTensor({rows, cols}, 1, dtype, -3.0f, 3.0f);
      Tensor gamma = RandomTensor({cols}, 2, dtype), dy = RandomTensor({rows, cols}, 3, dtype);
      Tensor y = ZerosTensor(x.shape(), dtype), rstd = ZerosTensor({rows}),
             dx = ZerosTensor(x.shape(), dtype), dgamma = RandomTensor({cols}, 4, dtype);
      Tensor gdgamma = ToGpu(dgamma);
      ASSERT_TRUE(RmsNormForward(x, gamma, 1e-6f, y, rstd).ok());
      ASSERT_TRUE(RmsNormBackwardInput(x, gamma, rstd, dy, dx).ok());
      ASSERT_TRUE(RmsNormBackwardWeight(x, rstd, dy, dgamma).ok());

      Tensor gx = ToGpu(x), ggamma = ToGpu(gamma), gdy = ToGpu(dy);
      Tensor gy = ToGpu(ZerosTensor(x.shape(), dtype)), grstd = ToGpu(ZerosTensor({rows})),
             gdx = ToGpu(ZerosTensor(x.shape(), dtype));
      ASSERT_TRUE(RmsNormForward(gx, ggamma, 1e-6f, gy, grstd).ok());
      ASSERT_TRUE(RmsNormBackwardInput(gx, ggamma, grstd, gdy, gdx).ok());
      ASSERT_TRUE(RmsNormBackwardWeight(gx, grstd, gdy, gdgamma).ok());
      EXPECT_TRUE(MatchesCpu(gy, y, tol, tol)) << cols;
      EXPECT_TRUE(MatchesCpu(grstd, rstd, 1e-5, 1e-5)) << cols;
      EXPECT_TRUE(MatchesCpu(gdx, dx, tol, tol)) << cols;
      EXPECT_TRUE(MatchesCpu(gdgamma, dgamma, 10 * tol, tol)) << cols;
    }
  }
}

}  // namespace
}  // namespace braid::kernels
