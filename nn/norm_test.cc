#include "nn/norm.h"

#include <cmath>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cast.h"
#include "nn/init.h"
#include "nn/testing/layer_testing.h"

namespace braid::nn {
namespace {

using kernels::testing::RandomTensor;
using kernels::testing::Values;
using runtime::DType;
using runtime::Tensor;

// Non-trivial gains and biases, so their gradients are checked at a generic point.
void Perturb(Layer& layer) {
  uint64_t stream = 100;
  for (const NamedParameter& p : layer.NamedParameters()) {
    Tensor noise = RandomTensor(p.parameter->value.shape(), static_cast<uint32_t>(stream++));
    ASSERT_TRUE(kernels::AccumulateInto(noise, p.parameter->value).ok());
  }
}

std::unique_ptr<LayerNorm> MakeLayerNorm(int64_t dim) {
  absl::StatusOr<std::unique_ptr<LayerNorm>> ln = LayerNorm::Create({.dim = dim});
  EXPECT_TRUE(ln.ok()) << ln.status();
  return std::move(*ln);
}

std::unique_ptr<RMSNorm> MakeRmsNorm(int64_t dim) {
  absl::StatusOr<std::unique_ptr<RMSNorm>> n = RMSNorm::Create({.dim = dim});
  EXPECT_TRUE(n.ok()) << n.status();
  return std::move(*n);
}

TEST(LayerNormTest, ParametersStartAtIdentity) {
  std::unique_ptr<LayerNorm> ln = MakeLayerNorm(4);
  std::vector<NamedParameter> params = ln->NamedParameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "weight");
  EXPECT_EQ(params[1].name, "bias");
  EXPECT_FALSE(params[0].parameter->weight_decay);
  EXPECT_FALSE(params[1].parameter->weight_decay);
  EXPECT_EQ(Values(ln->weight().value), std::vector<double>(4, 1.0));
  EXPECT_EQ(Values(ln->bias().value), std::vector<double>(4, 0.0));
  Perturb(*ln);
  ASSERT_TRUE(ln->Initialize(1).ok());
  EXPECT_EQ(Values(ln->weight().value), std::vector<double>(4, 1.0));
  EXPECT_EQ(Values(ln->bias().value), std::vector<double>(4, 0.0));
  // Output rows have mean 0 and variance 1 (up to eps).
  Context ctx({.training = false});
  absl::StatusOr<Tensor> y = ln->Forward(ctx, RandomTensor({3, 4}, 1, DType::kF32, -3, 5));
  ASSERT_TRUE(y.ok()) << y.status();
  std::vector<double> v = Values(*y);
  for (int r = 0; r < 3; ++r) {
    double m = 0, sq = 0;
    for (int c = 0; c < 4; ++c) m += v[r * 4 + c], sq += v[r * 4 + c] * v[r * 4 + c];
    EXPECT_NEAR(m / 4, 0.0, 1e-5);
    EXPECT_NEAR(sq / 4, 1.0, 1e-3);
  }
}

TEST(LayerNormTest, FiniteDifferences) {
  std::unique_ptr<LayerNorm> ln = MakeLayerNorm(6);
  Perturb(*ln);
  testing::ExpectFiniteDifferences(*ln, RandomTensor({2, 3, 6}, 2), 41);
}

TEST(LayerNormTest, SplitAccumulateInterleaveOrder) {
  std::unique_ptr<LayerNorm> ln = MakeLayerNorm(5);
  Perturb(*ln);
  testing::ExpectSplitEqualsWhole(*ln, RandomTensor({4, 5}, 3), 42);
  testing::ExpectMicrobatchesAccumulate(*ln, RandomTensor({4, 5}, 4), RandomTensor({4, 5}, 5), 43);
  testing::ExpectBackwardOrderChecked(*ln, RandomTensor({4, 5}, 6));
  testing::ExpectEveryGradientReported(*ln, RandomTensor({4, 5}, 6));
}

TEST(LayerNormTest, WrongShapesAreInvalidArgument) {
  std::unique_ptr<LayerNorm> ln = MakeLayerNorm(5);
  Context ctx;
  absl::Status s = ln->Forward(ctx, RandomTensor({4, 4}, 1)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("LayerNorm"), absl::string_view::npos) << s;
  ASSERT_TRUE(ln->Forward(ctx, RandomTensor({4, 5}, 1)).ok());
  s = ln->BackwardInput(ctx, RandomTensor({5, 5}, 1)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("LayerNorm"), absl::string_view::npos) << s;
  EXPECT_FALSE(LayerNorm::Create({.dim = 0}).ok());
  EXPECT_FALSE(LayerNorm::Create({.dim = 3, .eps = -1.0f}).ok());
}

TEST(LayerNormTest, Bf16ComputeMatchesF32) {
  std::unique_ptr<LayerNorm> ref = MakeLayerNorm(16), low = MakeLayerNorm(16);
  Perturb(*ref);
  Perturb(*low);
  for (Parameter* p : {&low->weight(), &low->bias()}) {
    p->compute = kernels::testing::Cast(p->value, DType::kBF16);
  }
  Tensor x = RandomTensor({8, 16}, 7), dy = RandomTensor({8, 16}, 8);
  Context c32, c16;
  absl::StatusOr<Tensor> y32 = ref->Forward(c32, x);
  absl::StatusOr<Tensor> y16 = low->Forward(c16, kernels::testing::Cast(x, DType::kBF16));
  ASSERT_TRUE(y32.ok() && y16.ok()) << y16.status();
  EXPECT_TRUE(runtime::AllClose(*y16, *y32, 3e-2, 3e-2));
  ASSERT_TRUE(ref->Backward(c32, dy).ok());
  ASSERT_TRUE(low->Backward(c16, kernels::testing::Cast(dy, DType::kBF16)).ok());
  EXPECT_TRUE(runtime::AllClose(low->weight().grad, ref->weight().grad, 5e-2, 5e-2));
  EXPECT_TRUE(runtime::AllClose(low->bias().grad, ref->bias().grad, 5e-2, 5e-2));
}

TEST(RMSNormTest, ParametersAndForward) {
  std::unique_ptr<RMSNorm> n = MakeRmsNorm(4);
  std::vector<NamedParameter> params = n->NamedParameters();
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].name, "weight");
  EXPECT_FALSE(params[0].parameter->weight_decay);
  EXPECT_EQ(Values(n->weight().value), std::vector<double>(4, 1.0));
  Context ctx({.training = false});
  Tensor x = RandomTensor({2, 4}, 1);
  absl::StatusOr<Tensor> y = n->Forward(ctx, x);
  ASSERT_TRUE(y.ok()) << y.status();
  std::vector<double> xv = Values(x), yv = Values(*y);
  for (int r = 0; r < 2; ++r) {
    double sq = 0;
    for (int c = 0; c < 4; ++c) sq += xv[r * 4 + c] * xv[r * 4 + c];
    const double rstd = 1.0 / std::sqrt(sq / 4 + 1e-6);
    for (int c = 0; c < 4; ++c) EXPECT_NEAR(yv[r * 4 + c], xv[r * 4 + c] * rstd, 1e-5);
  }
}

TEST(RMSNormTest, FiniteDifferences) {
  std::unique_ptr<RMSNorm> n = MakeRmsNorm(6);
  Perturb(*n);
  testing::ExpectFiniteDifferences(*n, RandomTensor({3, 2, 6}, 2), 51);
}

TEST(RMSNormTest, SplitAccumulateInterleaveOrder) {
  std::unique_ptr<RMSNorm> n = MakeRmsNorm(5);
  Perturb(*n);
  testing::ExpectSplitEqualsWhole(*n, RandomTensor({4, 5}, 3), 52);
  testing::ExpectMicrobatchesAccumulate(*n, RandomTensor({4, 5}, 4), RandomTensor({4, 5}, 5), 53);
  testing::ExpectBackwardOrderChecked(*n, RandomTensor({4, 5}, 6));
  testing::ExpectEveryGradientReported(*n, RandomTensor({4, 5}, 6));
}

TEST(RMSNormTest, WrongShapesAreInvalidArgument) {
  std::unique_ptr<RMSNorm> n = MakeRmsNorm(5);
  Context ctx;
  absl::Status s = n->Forward(ctx, RandomTensor({4, 3}, 1)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("RMSNorm"), absl::string_view::npos) << s;
  ASSERT_TRUE(n->Forward(ctx, RandomTensor({4, 5}, 1)).ok());
  EXPECT_EQ(n->BackwardInput(ctx, RandomTensor({4, 5}, 1, DType::kBF16)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::nn
