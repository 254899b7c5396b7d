#include "kernels/cross_entropy.h"

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

struct CeOutputs {
  explicit CeOutputs(int64_t n)
      : losses(ZerosTensor({n})), lse(ZerosTensor({n})), mean(ZerosTensor({})) {}
  Tensor losses, lse, mean;
};

TEST(CrossEntropyTest, ForwardMatchesDoubleReference) {
  Tensor logits = RandomTensor({5, 13}, 1, DType::kF32, -4.0f, 4.0f);
  for (DType tdtype : {DType::kI32, DType::kI64}) {
    Tensor targets = testing::TensorOf({3, 0, 12, 7, 7}, {5}, tdtype);
    CeOutputs out(5);
    ASSERT_TRUE(CrossEntropyForward(logits, targets, {}, out.losses, out.lse, out.mean).ok());
    std::vector<double> x = Values(logits), ref_loss, ref_lse;
    const int t[] = {3, 0, 12, 7, 7};
    double sum = 0.0;
    for (int r = 0; r < 5; ++r) {
      double s = 0.0;
      for (int v = 0; v < 13; ++v) s += std::exp(x[r * 13 + v]);
      ref_lse.push_back(std::log(s));
      ref_loss.push_back(std::log(s) - x[r * 13 + t[r]]);
      sum += ref_loss.back();
    }
    EXPECT_TRUE(testing::ValuesClose(Values(out.losses), ref_loss, 1e-5, 1e-5));
    EXPECT_TRUE(testing::ValuesClose(Values(out.lse), ref_lse, 1e-5, 1e-5));
    EXPECT_NEAR(Values(out.mean)[0], sum / 5.0, 1e-5);
  }
}

TEST(CrossEntropyTest, IgnoreIndexAndNormalizer) {
  Tensor logits = RandomTensor({4, 6}, 2);
  Tensor targets = testing::TensorOf({1, -100, 5, -100}, {4}, DType::kI64);
  CeOutputs out(4);
  ASSERT_TRUE(CrossEntropyForward(logits, targets, {}, out.losses, out.lse, out.mean).ok());
  std::vector<double> losses = Values(out.losses);
  EXPECT_EQ(losses[1], 0.0);
  EXPECT_EQ(losses[3], 0.0);
  EXPECT_NEAR(Values(out.mean)[0], (losses[0] + losses[2]) / 2.0, 1e-6);
  CrossEntropyOptions global;
  global.normalizer = 10;
  ASSERT_TRUE(CrossEntropyForward(logits, targets, global, out.losses, out.lse, out.mean).ok());
  EXPECT_NEAR(Values(out.mean)[0], (losses[0] + losses[2]) / 10.0, 1e-6);
  Tensor dlogits = RandomTensor({4, 6}, 3);
  ASSERT_TRUE(CrossEntropyBackward(logits, targets, out.lse, {}, 1.0f, dlogits).ok());
  std::vector<double> d = Values(dlogits);
  for (int v = 0; v < 6; ++v) {
    EXPECT_EQ(d[1 * 6 + v], 0.0);
    EXPECT_EQ(d[3 * 6 + v], 0.0);
  }
  // Every row of (softmax - onehot) sums to zero.
  double row0 = 0.0;
  for (int v = 0; v < 6; ++v) row0 += d[v];
  EXPECT_NEAR(row0, 0.0, 1e-6);
}

TEST(CrossEntropyTest, AllIgnoredGivesZero) {
  Tensor logits = RandomTensor({2, 3}, 4);
  Tensor targets = testing::TensorOf({7, 7}, {2}, DType::kI32);
  CrossEntropyOptions options;
  options.ignore_index = 7;
  CeOutputs out(2);
  ASSERT_TRUE(CrossEntropyForward(logits, targets, options, out.losses, out.lse, out.mean).ok());
  EXPECT_EQ(Values(out.mean)[0], 0.0);
  Tensor dlogits = RandomTensor({2, 3}, 5);
  ASSERT_TRUE(CrossEntropyBackward(logits, targets, out.lse, options, 1.0f, dlogits).ok());
  EXPECT_EQ(Values(dlogits), std::vector<double>(6, 0.0));
}

TEST(CrossEntropyTest, BackwardMatchesFiniteDifferences) {
  Tensor logits = RandomTensor({4, 5}, 6, DType::kF32, -2.0f, 2.0f);
  Tensor targets = testing::TensorOf({4, -100, 0, 2}, {4}, DType::kI32);
  CeOutputs out(4);
  ASSERT_TRUE(CrossEntropyForward(logits, targets, {}, out.losses, out.lse, out.mean).ok());
  const float dmean = 0.75f;
  Tensor dlogits = ZerosTensor({4, 5});
  ASSERT_TRUE(CrossEntropyBackward(logits, targets, out.lse, {}, dmean, dlogits).ok());
  std::vector<double> numeric = testing::NumericalGradient(logits, [&] {
    EXPECT_TRUE(CrossEntropyForward(logits, targets, {}, out.losses, out.lse, out.mean).ok());
    return dmean * Values(out.mean)[0];
  });
  EXPECT_TRUE(testing::GradientsClose(dlogits, numeric, 1e-3, 1e-2));
}

TEST(CrossEntropyTest, Bf16LogitsComputeInF32) {
  Tensor logits = RandomTensor({3, 40}, 7, DType::kBF16, -3.0f, 3.0f);
  Tensor targets = testing::TensorOf({39, 0, 17}, {3}, DType::kI64);
  CeOutputs out(3), out32(3);
  ASSERT_TRUE(CrossEntropyForward(logits, targets, {}, out.losses, out.lse, out.mean).ok());
  Tensor logits32 = testing::Cast(logits, DType::kF32);
  ASSERT_TRUE(CrossEntropyForward(logits32, targets, {}, out32.losses, out32.lse, out32.mean).ok());
  EXPECT_TRUE(testing::ValuesClose(Values(out.losses), Values(out32.losses), 1e-5, 1e-5));
  Tensor d = ZerosTensor({3, 40}, DType::kBF16), d32 = ZerosTensor({3, 40});
  ASSERT_TRUE(CrossEntropyBackward(logits, targets, out.lse, {}, 1.0f, d).ok());
  ASSERT_TRUE(CrossEntropyBackward(logits32, targets, out32.lse, {}, 1.0f, d32).ok());
  EXPECT_TRUE(testing::ValuesClose(Values(d), Values(d32), 1e-4, 8e-3));
}

TEST(CrossEntropyTest, RejectsBadTargetsAndShapes) {
  Tensor logits = RandomTensor({2, 3}, 8);
  CeOutputs out(2);
  Tensor bad = testing::TensorOf({1, 3}, {2}, DType::kI32);
  absl::Status s = CrossEntropyForward(logits, bad, {}, out.losses, out.lse, out.mean);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(Values(out.losses), std::vector<double>(2, 0.0));
  Tensor good = testing::TensorOf({1, 2}, {2}, DType::kI32);
  EXPECT_EQ(
      CrossEntropyForward(logits, testing::TensorOf({1, 2}, {2}), {}, out.losses, out.lse, out.mean)
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CrossEntropyForward(logits, good, {}, out.losses, out.lse, ZerosTensor({2})).code(),
            absl::StatusCode::kInvalidArgument);
  CrossEntropyOptions negative;
  negative.normalizer = -1;
  EXPECT_EQ(CrossEntropyForward(logits, good, negative, out.losses, out.lse, out.mean).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CrossEntropyBackward(logits, bad, out.lse, {}, 1.0f, ZerosTensor({2, 3})).code(),
            absl::StatusCode::kInvalidArgument);
}

// Without a usable GPU (or without CUDA in the build) CUDA operands fail with
// kFailedPrecondition and nothing is written.
TEST(CrossEntropyTest, CudaOperandsWithoutGpuFailCleanly) {
  BRAID_SKIP_WITH_GPU();
  Tensor logits = RandomTensor({2, 3}, 90), lse = ZerosTensor({2});
  Tensor targets = testing::TensorOf({1, 2}, {2}, DType::kI64);
  auto c = [](const Tensor& t) { return testing::FakeCudaView(t); };
  EXPECT_EQ(CrossEntropyBackward(c(logits), c(targets), c(lse), {}, 1.0f, c(logits)).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace braid::kernels
