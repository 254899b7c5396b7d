#include "kernels/gelu.h"

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

double GeluRef(double x) {
  const double kPi = 3.14159265358979323846;
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / kPi) * (x + 0.044715 * x * x * x)));
}

TEST(GeluTest, ForwardMatchesDoubleReference) {
  Tensor x = RandomTensor({7, 13}, 1, DType::kF32, -6.0f, 6.0f);
  Tensor y = ZerosTensor({7, 13});
  ASSERT_TRUE(GeluForward(x, y).ok());
  std::vector<double> ref;
  for (double v : Values(x)) ref.push_back(GeluRef(v));
  EXPECT_TRUE(testing::ValuesClose(Values(y), ref, 1e-6, 1e-5));
}

TEST(GeluTest, KnownValues) {
  Tensor x = testing::TensorOf({0.0f, 1.0f, -1.0f, 10.0f, -10.0f}, {5});
  Tensor y = ZerosTensor({5});
  ASSERT_TRUE(GeluForward(x, y).ok());
  // GPT-2's gelu: gelu(1) = 0.841192, gelu(-1) = -0.158808; saturates at +-10.
  EXPECT_TRUE(testing::ValuesClose(Values(y), {0.0, 0.841192, -0.158808, 10.0, 0.0}, 1e-5));
}

TEST(GeluTest, BackwardMatchesFiniteDifferences) {
  Tensor x = RandomTensor({4, 9}, 2, DType::kF32, -3.0f, 3.0f);
  Tensor y = ZerosTensor({4, 9});
  Tensor dx = ZerosTensor({4, 9});
  std::vector<double> w = testing::RandomWeights(36, 3);
  Tensor dy = testing::TensorOf(std::vector<float>(w.begin(), w.end()), {4, 9});
  ASSERT_TRUE(GeluBackward(x, dy, dx).ok());
  std::vector<double> numeric = testing::NumericalGradient(x, [&] {
    EXPECT_TRUE(GeluForward(x, y).ok());
    return testing::WeightedSum(y, w);
  });
  EXPECT_TRUE(testing::GradientsClose(dx, numeric));
}

TEST(GeluTest, InPlaceForwardAndBackward) {
  Tensor x = RandomTensor({64}, 4);
  Tensor expected_y = ZerosTensor({64});
  ASSERT_TRUE(GeluForward(x, expected_y).ok());
  Tensor dy = RandomTensor({64}, 5);
  Tensor expected_dx = ZerosTensor({64});
  ASSERT_TRUE(GeluBackward(x, dy, expected_dx).ok());
  ASSERT_TRUE(GeluBackward(x, dy, dy).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(dy, expected_dx));
  ASSERT_TRUE(GeluForward(x, x).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(x, expected_y));
}

TEST(GeluTest, HalfPrecisionComputesInF32) {
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    Tensor x = RandomTensor({3, 17}, 6, dtype, -4.0f, 4.0f);
    Tensor y = ZerosTensor({3, 17}, dtype);
    ASSERT_TRUE(GeluForward(x, y).ok());
    std::vector<double> ref;
    // The input is exactly representable; only the output rounding differs.
    for (double v : Values(x)) ref.push_back(GeluRef(v));
    const double tol = dtype == DType::kBF16 ? 8e-3 : 1e-3;
    EXPECT_TRUE(testing::ValuesClose(Values(y), ref, tol, tol)) << runtime::ToString(dtype);
    Tensor dy = RandomTensor({3, 17}, 7, dtype);
    Tensor dx = ZerosTensor({3, 17}, dtype);
    Tensor dx32 = ZerosTensor({3, 17});
    ASSERT_TRUE(GeluBackward(x, dy, dx).ok());
    ASSERT_TRUE(
        GeluBackward(testing::Cast(x, DType::kF32), testing::Cast(dy, DType::kF32), dx32).ok());
    EXPECT_TRUE(testing::ValuesClose(Values(dx), Values(dx32), tol, tol));
  }
}

TEST(GeluTest, RejectsBadArguments) {
  Tensor x = RandomTensor({4, 4}, 8);
  EXPECT_EQ(GeluForward(x, ZerosTensor({4, 5})).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GeluForward(x, ZerosTensor({4, 4}, DType::kBF16)).code(),
            absl::StatusCode::kInvalidArgument);
  Tensor ints = ZerosTensor({4, 4}, DType::kI32);
  EXPECT_EQ(GeluForward(ints, ints).code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Tensor> xt = x.Transpose(0, 1);
  ASSERT_TRUE(xt.ok());
  EXPECT_EQ(GeluForward(*xt, ZerosTensor({4, 4})).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GeluForward(Tensor(), x).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GeluBackward(x, ZerosTensor({16}), ZerosTensor({4, 4})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(GeluForward(ZerosTensor({0, 3}), ZerosTensor({0, 3})).ok());
}

// Without a usable GPU (or without CUDA in the build) CUDA operands fail with
// kFailedPrecondition and nothing is written.
TEST(GeluTest, CudaOperandsWithoutGpuFailCleanly) {
  BRAID_SKIP_WITH_GPU();
  Tensor x = RandomTensor({8}, 90), y = ZerosTensor({8});
  EXPECT_EQ(GeluForward(testing::FakeCudaView(x), testing::FakeCudaView(y)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      GeluBackward(testing::FakeCudaView(x), testing::FakeCudaView(x), testing::FakeCudaView(y))
          .code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Values(y), std::vector<double>(8, 0.0));
}

}  // namespace
}  // namespace braid::kernels
