// Tests for nn/grad_norm.h: the norm against a plain double loop, clipping
// (only above max_norm, torch's factor), non-finite gradients -> kDataLoss
// with grads untouched, f16/bf16 grads, and argument errors.
#include "nn/grad_norm.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/tensor.h"

namespace braid::nn {
namespace {

using runtime::DType;
using runtime::Tensor;

Tensor Vec(const std::vector<float>& v) {
  return Tensor::FromVector<float>(v, {static_cast<int64_t>(v.size())}).value();
}

std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

// Two slots, 1001 + 7 elements, with a known squared norm.
struct Grads {
  Tensor a, b;
  std::vector<OptimizerSlot> slots;
  double squared = 0;
};

Grads MakeGrads(float scale) {
  Grads g;
  std::vector<float> a(1001), b(7);
  for (size_t i = 0; i < a.size(); ++i) a[i] = scale * std::sin(0.1f * i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = -scale * (1.0f + i);
  for (float x : a) g.squared += static_cast<double>(x) * x;
  for (float x : b) g.squared += static_cast<double>(x) * x;
  g.a = Vec(a);
  g.b = Vec(b);
  Tensor dummy_a = Tensor::Zeros({1001}, DType::kF32).value();
  Tensor dummy_b = Tensor::Zeros({7}, DType::kF32).value();
  g.slots = {{"a", dummy_a, g.a, true}, {"b", dummy_b, g.b, false}};
  return g;
}

TEST(GradNormTest, SquaredNormMatchesDoubleLoop) {
  Grads g = MakeGrads(0.5f);
  absl::StatusOr<double> sq = SquaredNorm(g.slots);
  ASSERT_TRUE(sq.ok()) << sq.status();
  EXPECT_NEAR(*sq, g.squared, 1e-12 * g.squared);
  EXPECT_EQ(SquaredNorm({}).value(), 0.0);
}

TEST(GradNormTest, ClipBelowMaxNormLeavesGradsAlone) {
  Grads g = MakeGrads(0.01f);
  const std::vector<float> before = Values(g.a);
  absl::StatusOr<float> norm = ClipGradNorm(g.slots, 100.0f);
  ASSERT_TRUE(norm.ok()) << norm.status();
  EXPECT_FLOAT_EQ(*norm, static_cast<float>(std::sqrt(g.squared)));
  EXPECT_EQ(Values(g.a), before);
}

TEST(GradNormTest, ClipAboveMaxNormScalesToMaxNorm) {
  Grads g = MakeGrads(3.0f);
  const std::vector<float> before = Values(g.b);
  const double norm = std::sqrt(g.squared);
  absl::StatusOr<float> got = ClipGradNorm(g.slots, 1.0f);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FLOAT_EQ(*got, static_cast<float>(norm));
  const float factor = static_cast<float>(1.0 / (norm + 1e-6));
  EXPECT_EQ(ClipScale(norm, 1.0f), factor);
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_FLOAT_EQ(g.b.data<float>()[i], before[i] * factor);
  }
  EXPECT_NEAR(std::sqrt(SquaredNorm(g.slots).value()), 1.0, 1e-5);
}

TEST(GradNormTest, NonFiniteGradientIsDataLossAndUntouched) {
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    Grads g = MakeGrads(3.0f);
    g.a.data<float>()[500] = bad;
    const std::vector<float> before = Values(g.b);
    absl::StatusOr<float> norm = ClipGradNorm(g.slots, 1.0f);
    EXPECT_EQ(norm.status().code(), absl::StatusCode::kDataLoss) << norm.status();
    EXPECT_EQ(Values(g.b), before);
    absl::StatusOr<double> sq = SquaredNorm(g.slots);
    ASSERT_TRUE(sq.ok());
    EXPECT_FALSE(std::isfinite(*sq));
  }
}

TEST(GradNormTest, LowPrecisionGradsAreWidened) {
  Tensor g16 = Tensor::Full({10}, DType::kBF16, 0.5).value();
  Tensor gh = Tensor::Full({6}, DType::kF16, -2.0).value();
  Tensor v = Tensor::Zeros({10}, DType::kF32).value();
  std::vector<OptimizerSlot> slots = {{"x", v, g16, true}, {"y", v, gh, true}};
  EXPECT_DOUBLE_EQ(SquaredNorm(slots).value(), 10 * 0.25 + 6 * 4.0);
  ASSERT_TRUE(ScaleGradients(slots, 0.5f).ok());
  EXPECT_DOUBLE_EQ(SquaredNorm(slots).value(), (10 * 0.25 + 6 * 4.0) / 4);
}

TEST(GradNormTest, RejectsBadArguments) {
  Grads g = MakeGrads(1.0f);
  EXPECT_EQ(ClipGradNorm(g.slots, 0.0f).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ClipGradNorm(g.slots, NAN).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ScaleGradients(g.slots, INFINITY).code(), absl::StatusCode::kInvalidArgument);
  std::vector<OptimizerSlot> undefined = {{"u", g.a, Tensor(), true}};
  EXPECT_EQ(SquaredNorm(undefined).status().code(), absl::StatusCode::kInvalidArgument);
  Tensor ints = Tensor::Zeros({3}, DType::kI32).value();
  std::vector<OptimizerSlot> integer = {{"i", g.a, ints, true}};
  EXPECT_EQ(SquaredNorm(integer).status().code(), absl::StatusCode::kInvalidArgument);
  Tensor m = Tensor::Zeros({3, 4}, DType::kF32).value();
  std::vector<OptimizerSlot> strided = {{"t", g.a, m.Transpose(0, 1).value(), true}};
  EXPECT_EQ(ScaleGradients(strided, 2.0f).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::nn
