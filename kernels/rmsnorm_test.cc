#include "kernels/rmsnorm.h"

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

constexpr float kEps = 1e-6f;

TEST(RmsNormTest, ForwardMatchesDoubleReference) {
  Tensor x = RandomTensor({5, 23}, 1, DType::kF32, -2.0f, 2.0f);
  Tensor gamma = RandomTensor({23}, 2, DType::kF32, 0.5f, 1.5f);
  Tensor y = ZerosTensor({5, 23}), rstd = ZerosTensor({5});
  ASSERT_TRUE(RmsNormForward(x, gamma, kEps, y, rstd).ok());
  std::vector<double> xv = Values(x), g = Values(gamma), ref(xv.size()), ref_rstd;
  for (int64_t r = 0; r < 5; ++r) {
    double ms = 0.0;
    for (int64_t k = 0; k < 23; ++k) ms += xv[r * 23 + k] * xv[r * 23 + k] / 23.0;
    const double rs = 1.0 / std::sqrt(ms + kEps);
    for (int64_t k = 0; k < 23; ++k) ref[r * 23 + k] = xv[r * 23 + k] * rs * g[k];
    ref_rstd.push_back(rs);
  }
  EXPECT_TRUE(testing::ValuesClose(Values(y), ref, 1e-5, 1e-5));
  EXPECT_TRUE(testing::ValuesClose(Values(rstd), ref_rstd, 1e-6, 1e-5));
}

TEST(RmsNormTest, BackwardMatchesFiniteDifferences) {
  Tensor x = RandomTensor({2, 2, 5}, 3, DType::kF32, -2.0f, 2.0f);
  Tensor gamma = RandomTensor({5}, 4, DType::kF32, 0.5f, 1.5f);
  Tensor y = ZerosTensor({2, 2, 5}), rstd = ZerosTensor({2, 2});
  std::vector<double> w = testing::RandomWeights(20, 5);
  Tensor dy = testing::TensorOf(std::vector<float>(w.begin(), w.end()), {2, 2, 5});
  ASSERT_TRUE(RmsNormForward(x, gamma, kEps, y, rstd).ok());
  Tensor dx = ZerosTensor({2, 2, 5}), dgamma = ZerosTensor({5});
  ASSERT_TRUE(RmsNormBackwardInput(x, gamma, rstd, dy, dx).ok());
  ASSERT_TRUE(RmsNormBackwardWeight(x, rstd, dy, dgamma).ok());
  auto loss = [&] {
    EXPECT_TRUE(RmsNormForward(x, gamma, kEps, y, rstd).ok());
    return testing::WeightedSum(y, w);
  };
  EXPECT_TRUE(testing::GradientsClose(dx, testing::NumericalGradient(x, loss)));
  EXPECT_TRUE(testing::GradientsClose(dgamma, testing::NumericalGradient(gamma, loss)));
}

TEST(RmsNormTest, WeightGradientAccumulatesAndDxMayAliasDy) {
  Tensor x = RandomTensor({3, 16}, 6), gamma = RandomTensor({16}, 7);
  Tensor y = ZerosTensor({3, 16}), rstd = ZerosTensor({3});
  ASSERT_TRUE(RmsNormForward(x, gamma, kEps, y, rstd).ok());
  Tensor dy = RandomTensor({3, 16}, 8);
  Tensor dgamma = ZerosTensor({16});
  ASSERT_TRUE(RmsNormBackwardWeight(x, rstd, dy, dgamma).ok());
  std::vector<double> twice = Values(dgamma);
  for (double& v : twice) v *= 2.0;
  ASSERT_TRUE(RmsNormBackwardWeight(x, rstd, dy, dgamma).ok());
  EXPECT_TRUE(testing::ValuesClose(Values(dgamma), twice, 1e-6, 1e-6));
  Tensor dx = ZerosTensor({3, 16});
  ASSERT_TRUE(RmsNormBackwardInput(x, gamma, rstd, dy, dx).ok());
  ASSERT_TRUE(RmsNormBackwardInput(x, gamma, rstd, dy, dy).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(dx, dy));
}

TEST(RmsNormTest, Bf16MatchesF32) {
  Tensor x = RandomTensor({4, 96}, 9, DType::kBF16), gamma = RandomTensor({96}, 10, DType::kBF16);
  Tensor y = ZerosTensor({4, 96}, DType::kBF16), rstd = ZerosTensor({4});
  Tensor y32 = ZerosTensor({4, 96}), rstd32 = ZerosTensor({4});
  ASSERT_TRUE(RmsNormForward(x, gamma, kEps, y, rstd).ok());
  ASSERT_TRUE(RmsNormForward(testing::Cast(x, DType::kF32), testing::Cast(gamma, DType::kF32), kEps,
                             y32, rstd32)
                  .ok());
  EXPECT_TRUE(testing::ValuesClose(Values(y), Values(y32), 2e-2, 1e-2));
  EXPECT_TRUE(testing::ValuesClose(Values(rstd), Values(rstd32), 1e-5, 1e-5));
}

TEST(RmsNormTest, RejectsBadArguments) {
  Tensor x = RandomTensor({3, 4}, 11);
  EXPECT_EQ(RmsNormForward(x, ZerosTensor({3}), kEps, ZerosTensor({3, 4}), ZerosTensor({3})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RmsNormForward(x, ZerosTensor({4}), kEps, ZerosTensor({3, 4}), ZerosTensor({4})).code(),
            absl::StatusCode::kInvalidArgument);
}

// Without a usable GPU (or without CUDA in the build) CUDA operands fail with
// kFailedPrecondition and nothing is written.
TEST(RmsNormTest, CudaOperandsWithoutGpuFailCleanly) {
  BRAID_SKIP_WITH_GPU();
  Tensor x = RandomTensor({2, 4}, 90), g = RandomTensor({4}, 91), r = ZerosTensor({2});
  auto c = [](const Tensor& t) { return testing::FakeCudaView(t); };
  EXPECT_EQ(RmsNormForward(c(x), c(g), kEps, c(x), c(r)).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace braid::kernels
