#include "kernels/layernorm.h"

#include <cmath>

#include "gtest/gtest.h"
#include "kernels/testing/device.h"
#include "kernels/testing/gradcheck.h"

namespace braid::kernels {
namespace {

using runtime::DType;
using runtime::Tensor;
using testing::RandomTensor;
using testing::Values;
using testing::ZerosTensor;

constexpr float kEps = 1e-5f;

// The layer's tensors for x of shape [rows, cols] (as [2, rows/2, cols] to
// exercise leading dimensions).
struct LayerNormCase {
  LayerNormCase(int64_t rows, int64_t cols, DType dtype = DType::kF32)
      : x(RandomTensor({2, rows / 2, cols}, 1, dtype, -2.0f, 2.0f)),
        gamma(RandomTensor({cols}, 2, dtype, 0.5f, 1.5f)),
        beta(RandomTensor({cols}, 3, dtype)),
        y(ZerosTensor({2, rows / 2, cols}, dtype)),
        mean(ZerosTensor({2, rows / 2})),
        rstd(ZerosTensor({2, rows / 2})) {}
  absl::Status Forward() { return LayerNormForward(x, gamma, beta, kEps, y, mean, rstd); }
  Tensor x, gamma, beta, y, mean, rstd;
};

TEST(LayerNormTest, ForwardMatchesDoubleReference) {
  LayerNormCase c(6, 19);
  ASSERT_TRUE(c.Forward().ok());
  std::vector<double> x = Values(c.x), g = Values(c.gamma), b = Values(c.beta);
  std::vector<double> ref(x.size()), ref_mean, ref_rstd;
  for (int64_t r = 0; r < 6; ++r) {
    double m = 0.0, v = 0.0;
    for (int64_t k = 0; k < 19; ++k) m += x[r * 19 + k] / 19.0;
    for (int64_t k = 0; k < 19; ++k) v += (x[r * 19 + k] - m) * (x[r * 19 + k] - m) / 19.0;
    const double rs = 1.0 / std::sqrt(v + kEps);
    for (int64_t k = 0; k < 19; ++k) ref[r * 19 + k] = (x[r * 19 + k] - m) * rs * g[k] + b[k];
    ref_mean.push_back(m);
    ref_rstd.push_back(rs);
  }
  EXPECT_TRUE(testing::ValuesClose(Values(c.y), ref, 1e-5, 1e-5));
  EXPECT_TRUE(testing::ValuesClose(Values(c.mean), ref_mean, 1e-6, 1e-5));
  EXPECT_TRUE(testing::ValuesClose(Values(c.rstd), ref_rstd, 1e-6, 1e-5));
}

TEST(LayerNormTest, BackwardMatchesFiniteDifferences) {
  LayerNormCase c(4, 6);
  std::vector<double> w = testing::RandomWeights(24, 4);
  Tensor dy = testing::TensorOf(std::vector<float>(w.begin(), w.end()), c.x.shape());
  ASSERT_TRUE(c.Forward().ok());
  Tensor dx = ZerosTensor(c.x.shape());
  Tensor dgamma = ZerosTensor({6}), dbeta = ZerosTensor({6});
  ASSERT_TRUE(LayerNormBackwardInput(c.x, c.gamma, c.mean, c.rstd, dy, dx).ok());
  ASSERT_TRUE(LayerNormBackwardWeight(c.x, c.mean, c.rstd, dy, dgamma, dbeta).ok());
  auto loss = [&] {
    EXPECT_TRUE(c.Forward().ok());
    return testing::WeightedSum(c.y, w);
  };
  EXPECT_TRUE(testing::GradientsClose(dx, testing::NumericalGradient(c.x, loss)));
  EXPECT_TRUE(testing::GradientsClose(dgamma, testing::NumericalGradient(c.gamma, loss)));
  EXPECT_TRUE(testing::GradientsClose(dbeta, testing::NumericalGradient(c.beta, loss)));
}

TEST(LayerNormTest, WeightGradientsAccumulate) {
  LayerNormCase c(4, 8);
  ASSERT_TRUE(c.Forward().ok());
  Tensor dy = RandomTensor(c.x.shape(), 5);
  Tensor dgamma = ZerosTensor({8}), dbeta = ZerosTensor({8});
  ASSERT_TRUE(LayerNormBackwardWeight(c.x, c.mean, c.rstd, dy, dgamma, dbeta).ok());
  std::vector<double> once_g = Values(dgamma), once_b = Values(dbeta);
  ASSERT_TRUE(LayerNormBackwardWeight(c.x, c.mean, c.rstd, dy, dgamma, dbeta).ok());
  for (double& v : once_g) v *= 2.0;
  for (double& v : once_b) v *= 2.0;
  EXPECT_TRUE(testing::ValuesClose(Values(dgamma), once_g, 1e-6, 1e-6));
  EXPECT_TRUE(testing::ValuesClose(Values(dbeta), once_b, 1e-6, 1e-6));
}

TEST(LayerNormTest, Bf16MatchesF32) {
  LayerNormCase c(4, 64, DType::kBF16);
  ASSERT_TRUE(c.Forward().ok());
  LayerNormCase f(4, 64);
  f.x = testing::Cast(c.x, DType::kF32);
  f.gamma = testing::Cast(c.gamma, DType::kF32);
  f.beta = testing::Cast(c.beta, DType::kF32);
  ASSERT_TRUE(f.Forward().ok());
  EXPECT_TRUE(testing::ValuesClose(Values(c.y), Values(f.y), 2e-2, 1e-2));
  EXPECT_TRUE(testing::ValuesClose(Values(c.rstd), Values(f.rstd), 1e-5, 1e-5));
  Tensor dy = RandomTensor(c.x.shape(), 6, DType::kBF16);
  Tensor dx = ZerosTensor(c.x.shape(), DType::kBF16), dx32 = ZerosTensor(c.x.shape());
  ASSERT_TRUE(LayerNormBackwardInput(c.x, c.gamma, c.mean, c.rstd, dy, dx).ok());
  ASSERT_TRUE(
      LayerNormBackwardInput(f.x, f.gamma, f.mean, f.rstd, testing::Cast(dy, DType::kF32), dx32)
          .ok());
  EXPECT_TRUE(testing::ValuesClose(Values(dx), Values(dx32), 2e-2, 1e-2));
}

TEST(LayerNormTest, RejectsBadArguments) {
  LayerNormCase c(2, 4);
  EXPECT_EQ(LayerNormForward(c.x, ZerosTensor({5}), c.beta, kEps, c.y, c.mean, c.rstd).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LayerNormForward(c.x, c.gamma, c.beta, kEps, c.y, ZerosTensor({2}), c.rstd).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LayerNormForward(c.x, c.gamma, c.beta, -1.0f, c.y, c.mean, c.rstd).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      LayerNormForward(c.x, c.gamma, c.beta, kEps, c.y, c.mean, ZerosTensor({2, 1}, DType::kBF16))
          .code(),
      absl::StatusCode::kInvalidArgument);
}

// Without a usable GPU (or without CUDA in the build) CUDA operands fail with
// kFailedPrecondition and nothing is written.
TEST(LayerNormTest, CudaOperandsWithoutGpuFailCleanly) {
  BRAID_SKIP_WITH_GPU();
  LayerNormCase l(2, 4);
  auto c = [](const Tensor& t) { return testing::FakeCudaView(t); };
  EXPECT_EQ(
      LayerNormForward(c(l.x), c(l.gamma), c(l.beta), kEps, c(l.y), c(l.mean), c(l.rstd)).code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      LayerNormBackwardWeight(c(l.x), c(l.mean), c(l.rstd), c(l.x), c(l.gamma), c(l.beta)).code(),
      absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace braid::kernels
