// CUDA LayerNorm against the CPU implementation (skipped without a GPU).
#include "kernels/layernorm.h"

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

TEST(CudaLayerNormTest, MatchesCpu) {
  BRAID_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const double tol = dtype == DType::kF32 ? 2e-5 : 2e-2;
    for (int64_t cols : {5, 768, 1030}) {
      const int64_t rows = 33;
      Tensor x = RandomTensor({rows, cols}, 1, dtype, -3.0f, 3.0f);
      Tensor gamma = RandomTensor({cols}, 2, dtype), beta = RandomTensor({cols}, 3, dtype);
      Tensor dy = RandomTensor({rows, cols}, 4, dtype);
      Tensor y = ZerosTensor(x.shape(), dtype), mean = ZerosTensor({rows}),
             rstd = ZerosTensor({rows}), dx = ZerosTensor(x.shape(), dtype);
      Tensor dgamma = RandomTensor({cols}, 5, dtype), dbeta = RandomTensor({cols}, 6, dtype);
      Tensor gdgamma = ToGpu(dgamma), gdbeta = ToGpu(dbeta);
      ASSERT_TRUE(LayerNormForward(x, gamma, beta, 1e-5f, y, mean, rstd).ok());
      ASSERT_TRUE(LayerNormBackwardInput(x, gamma, mean, rstd, dy, dx).ok());
      ASSERT_TRUE(LayerNormBackwardWeight(x, mean, rstd, dy, dgamma, dbeta).ok());

      Tensor gx = ToGpu(x), ggamma = ToGpu(gamma), gdy = ToGpu(dy);
      Tensor gy = ToGpu(ZerosTensor(x.shape(), dtype)), gmean = ToGpu(ZerosTensor({rows})),
             grstd = ToGpu(ZerosTensor({rows})), gdx = ToGpu(ZerosTensor(x.shape(), dtype));
      ASSERT_TRUE(LayerNormForward(gx, ggamma, ToGpu(beta), 1e-5f, gy, gmean, grstd).ok());
      ASSERT_TRUE(LayerNormBackwardInput(gx, ggamma, gmean, grstd, gdy, gdx).ok());
      ASSERT_TRUE(LayerNormBackwardWeight(gx, gmean, grstd, gdy, gdgamma, gdbeta).ok());
      EXPECT_TRUE(MatchesCpu(gy, y, tol, tol)) << cols;
      EXPECT_TRUE(MatchesCpu(gmean, mean, 1e-5, 1e-5)) << cols;
      EXPECT_TRUE(MatchesCpu(grstd, rstd, 1e-5, 1e-5)) << cols;
      EXPECT_TRUE(MatchesCpu(gdx, dx, tol, tol)) << cols;
      EXPECT_TRUE(MatchesCpu(gdgamma, dgamma, 10 * tol, tol)) << cols;
      EXPECT_TRUE(MatchesCpu(gdbeta, dbeta, 10 * tol, tol)) << cols;
    }
  }
}

}  // namespace
}  // namespace braid::kernels
