#include "kernels/softmax.h"

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

std::vector<double> SoftmaxRef(const std::vector<double>& x, int64_t cols) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / cols; ++r) {
    double m = -INFINITY, s = 0.0;
    for (int64_t c = 0; c < cols; ++c) m = std::max(m, x[r * cols + c]);
    for (int64_t c = 0; c < cols; ++c) s += std::exp(x[r * cols + c] - m);
    for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = std::exp(x[r * cols + c] - m) / s;
  }
  return y;
}

TEST(SoftmaxTest, ForwardMatchesDoubleReference) {
  Tensor x = RandomTensor({2, 3, 37}, 1, DType::kF32, -5.0f, 5.0f);
  Tensor y = ZerosTensor({2, 3, 37});
  ASSERT_TRUE(SoftmaxForward(x, y).ok());
  EXPECT_TRUE(testing::ValuesClose(Values(y), SoftmaxRef(Values(x), 37), 1e-7, 1e-5));
}

TEST(SoftmaxTest, LargeInputsDoNotOverflow) {
  Tensor x = testing::TensorOf({1000.0f, 1001.0f, 999.0f, -1000.0f}, {1, 4});
  Tensor y = ZerosTensor({1, 4});
  ASSERT_TRUE(SoftmaxForward(x, y).ok());
  EXPECT_TRUE(testing::ValuesClose(Values(y), SoftmaxRef(Values(x), 4), 1e-7, 1e-5));
}

TEST(SoftmaxTest, BackwardMatchesFiniteDifferences) {
  Tensor x = RandomTensor({3, 7}, 2, DType::kF32, -2.0f, 2.0f);
  Tensor y = ZerosTensor({3, 7});
  std::vector<double> w = testing::RandomWeights(21, 3);
  Tensor dy = testing::TensorOf(std::vector<float>(w.begin(), w.end()), {3, 7});
  ASSERT_TRUE(SoftmaxForward(x, y).ok());
  Tensor dx = ZerosTensor({3, 7});
  ASSERT_TRUE(SoftmaxBackward(y, dy, dx).ok());
  std::vector<double> numeric = testing::NumericalGradient(x, [&] {
    EXPECT_TRUE(SoftmaxForward(x, y).ok());
    return testing::WeightedSum(y, w);
  });
  EXPECT_TRUE(testing::GradientsClose(dx, numeric));
}

TEST(SoftmaxTest, Bf16AndF16ComputeInF32) {
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    Tensor x = RandomTensor({4, 50}, 4, dtype, -3.0f, 3.0f);
    Tensor y = ZerosTensor({4, 50}, dtype);
    ASSERT_TRUE(SoftmaxForward(x, y).ok());
    EXPECT_TRUE(testing::ValuesClose(Values(y), SoftmaxRef(Values(x), 50), 1e-4, 8e-3));
    Tensor dy = RandomTensor({4, 50}, 5, dtype);
    Tensor dx = ZerosTensor({4, 50}, dtype), dx32 = ZerosTensor({4, 50});
    ASSERT_TRUE(SoftmaxBackward(y, dy, dx).ok());
    ASSERT_TRUE(
        SoftmaxBackward(testing::Cast(y, DType::kF32), testing::Cast(dy, DType::kF32), dx32).ok());
    EXPECT_TRUE(testing::ValuesClose(Values(dx), Values(dx32), 1e-4, 8e-3));
  }
}

TEST(SoftmaxTest, RejectsBadArguments) {
  Tensor x = RandomTensor({2, 3}, 6);
  EXPECT_EQ(SoftmaxForward(x, ZerosTensor({3, 2})).code(), absl::StatusCode::kInvalidArgument);
  Tensor scalar = ZerosTensor({});
  EXPECT_EQ(SoftmaxForward(scalar, scalar).code(), absl::StatusCode::kInvalidArgument);
}

// Without a usable GPU (or without CUDA in the build) CUDA operands fail with
// kFailedPrecondition and nothing is written.
TEST(SoftmaxTest, CudaOperandsWithoutGpuFailCleanly) {
  BRAID_SKIP_WITH_GPU();
  Tensor x = RandomTensor({2, 4}, 90), y = ZerosTensor({2, 4});
  auto c = [](const Tensor& t) { return testing::FakeCudaView(t); };
  EXPECT_EQ(SoftmaxForward(c(x), c(y)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SoftmaxBackward(c(x), c(x), c(y)).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace braid::kernels
