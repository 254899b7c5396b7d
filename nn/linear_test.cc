#include "nn/linear.h"

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

std::unique_ptr<Linear> MakeLinear(int64_t in, int64_t out, bool bias = true) {
  absl::StatusOr<std::unique_ptr<Linear>> fc =
      Linear::Create({.in_features = in, .out_features = out, .bias = bias, .init_std = 0.5f});
  EXPECT_TRUE(fc.ok()) << fc.status();
  EXPECT_TRUE((*fc)->Initialize(11).ok());
  // A non-zero bias, so the forward's bias term is exercised.
  if (bias) {
    EXPECT_TRUE(InitNormal((*fc)->bias().value, 0.5f, 3, 4).ok());
  }
  return std::move(*fc);
}

TEST(LinearTest, ForwardMatchesReference) {
  std::unique_ptr<Linear> fc = MakeLinear(3, 2);
  Tensor x = RandomTensor({2, 2, 3}, 1);
  Context ctx({.training = false});
  absl::StatusOr<Tensor> y = fc->Forward(ctx, x);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), runtime::Shape({2, 2, 2}));
  std::vector<double> xv = Values(x), w = Values(fc->weight().value), b = Values(fc->bias().value);
  std::vector<double> yv = Values(*y);
  for (int r = 0; r < 4; ++r) {
    for (int o = 0; o < 2; ++o) {
      double ref = b[o];
      for (int i = 0; i < 3; ++i) ref += xv[r * 3 + i] * w[o * 3 + i];
      EXPECT_NEAR(yv[r * 2 + o], ref, 1e-5);
    }
  }
}

TEST(LinearTest, ParametersAndInitialisation) {
  std::unique_ptr<Linear> fc = MakeLinear(64, 32);
  std::vector<NamedParameter> params = fc->NamedParameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "weight");
  EXPECT_EQ(params[0].parameter->value.shape(), runtime::Shape({32, 64}));
  EXPECT_TRUE(params[0].parameter->weight_decay);
  EXPECT_EQ(params[1].name, "bias");
  EXPECT_FALSE(params[1].parameter->weight_decay);
  // weight ~ N(0, 0.5^2): the sample std of 2048 values is near 0.5.
  double sum = 0, sq = 0;
  for (double v : Values(fc->weight().value)) sum += v, sq += v * v;
  const double n = 2048, mean = sum / n;
  EXPECT_NEAR(mean, 0.0, 0.05);
  EXPECT_NEAR(std::sqrt(sq / n - mean * mean), 0.5, 0.05);
  // Same seed, same values; the bias starts at zero.
  absl::StatusOr<std::unique_ptr<Linear>> again =
      Linear::Create({.in_features = 64, .out_features = 32, .init_std = 0.5f});
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Initialize(11).ok());
  EXPECT_TRUE(runtime::BitwiseEqual((*again)->weight().value, fc->weight().value));
  for (double v : Values((*again)->bias().value)) EXPECT_EQ(v, 0.0);
  EXPECT_FALSE(Linear::Create({.in_features = 0, .out_features = 3}).ok());
  EXPECT_EQ(MakeLinear(4, 3, /*bias=*/false)->NamedParameters().size(), 1u);
}

TEST(LinearTest, FiniteDifferences) {
  std::unique_ptr<Linear> fc = MakeLinear(5, 4);
  testing::ExpectFiniteDifferences(*fc, RandomTensor({2, 3, 5}, 2), 21);
  std::unique_ptr<Linear> no_bias = MakeLinear(3, 6, false);
  testing::ExpectFiniteDifferences(*no_bias, RandomTensor({4, 3}, 3), 22);
}

TEST(LinearTest, SplitBackwardEqualsBackward) {
  std::unique_ptr<Linear> fc = MakeLinear(7, 5);
  testing::ExpectSplitEqualsWhole(*fc, RandomTensor({3, 7}, 4), 23);
}

TEST(LinearTest, MicrobatchesAccumulateAndInterleave) {
  std::unique_ptr<Linear> fc = MakeLinear(6, 4);
  testing::ExpectMicrobatchesAccumulate(*fc, RandomTensor({2, 3, 6}, 5), RandomTensor({2, 3, 6}, 6),
                                        24);
}

TEST(LinearTest, BackwardOrderIsChecked) {
  std::unique_ptr<Linear> fc = MakeLinear(3, 2);
  testing::ExpectBackwardOrderChecked(*fc, RandomTensor({4, 3}, 7));
  testing::ExpectEveryGradientReported(*fc, RandomTensor({4, 3}, 7));
}

TEST(LinearTest, ZeroRows) {
  std::unique_ptr<Linear> fc = MakeLinear(3, 2);
  Context ctx;
  absl::StatusOr<Tensor> y = fc->Forward(ctx, RandomTensor({0, 3}, 1));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), runtime::Shape({0, 2}));
  absl::StatusOr<Tensor> dx = fc->Backward(ctx, *y);
  ASSERT_TRUE(dx.ok()) << dx.status();
  EXPECT_EQ(dx->shape(), runtime::Shape({0, 3}));
  for (double v : Values(fc->weight().grad)) EXPECT_EQ(v, 0.0);
}

TEST(LinearTest, WrongShapesAreInvalidArgument) {
  std::unique_ptr<Linear> fc = MakeLinear(3, 2);
  Context ctx;
  absl::Status s = fc->Forward(ctx, RandomTensor({4, 5}, 1)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Linear"), absl::string_view::npos) << s;
  EXPECT_EQ(fc->Forward(ctx, RandomTensor({4, 3}, 1, DType::kBF16)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fc->Forward(ctx, Tensor()).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(fc->Forward(ctx, RandomTensor({4, 3}, 1)).ok());
  s = fc->BackwardInput(ctx, RandomTensor({4, 3}, 2)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Linear"), absl::string_view::npos) << s;
  EXPECT_EQ(fc->BackwardInput(ctx, RandomTensor({2, 2, 2}, 2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(fc->Backward(ctx, RandomTensor({4, 2}, 2)).ok());
}

TEST(LinearTest, NonContiguousInput) {
  std::unique_ptr<Linear> fc = MakeLinear(4, 3);
  Tensor x = RandomTensor({4, 5}, 8);
  absl::StatusOr<Tensor> xt = x.Transpose(0, 1);  // [5, 4], not contiguous
  ASSERT_TRUE(xt.ok());
  absl::StatusOr<Tensor> xc = xt->Contiguous();
  ASSERT_TRUE(xc.ok());
  Context a({.training = false}), b({.training = false});
  absl::StatusOr<Tensor> ya = fc->Forward(a, *xt), yb = fc->Forward(b, *xc);
  ASSERT_TRUE(ya.ok() && yb.ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*ya, *yb));
}

// Under mixed precision the layer computes with a bf16 copy of the weights:
// activations are bf16, grads stay f32 and match the f32 layer to bf16
// precision.
TEST(LinearTest, Bf16ComputeMatchesF32) {
  std::unique_ptr<Linear> ref = MakeLinear(32, 16);
  std::unique_ptr<Linear> low = MakeLinear(32, 16);
  for (Parameter* p : {&low->weight(), &low->bias()}) {
    absl::StatusOr<Tensor> c = Tensor::Empty(p->value.shape(), DType::kBF16);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(kernels::Cast(p->value, *c).ok());
    p->compute = *c;
  }
  Tensor x = RandomTensor({8, 32}, 9);
  Tensor dy = RandomTensor({8, 16}, 10);
  Context c32, c16;
  absl::StatusOr<Tensor> y32 = ref->Forward(c32, x);
  absl::StatusOr<Tensor> y16 = low->Forward(c16, kernels::testing::Cast(x, DType::kBF16));
  ASSERT_TRUE(y32.ok() && y16.ok()) << y16.status();
  EXPECT_EQ(y16->dtype(), DType::kBF16);
  EXPECT_TRUE(runtime::AllClose(*y16, *y32, 2e-2, 2e-2));
  absl::StatusOr<Tensor> dx32 = ref->Backward(c32, dy);
  absl::StatusOr<Tensor> dx16 = low->Backward(c16, kernels::testing::Cast(dy, DType::kBF16));
  ASSERT_TRUE(dx32.ok() && dx16.ok()) << dx16.status();
  EXPECT_EQ(dx16->dtype(), DType::kBF16);
  EXPECT_TRUE(runtime::AllClose(*dx16, *dx32, 2e-2, 2e-2));
  EXPECT_EQ(low->weight().grad.dtype(), DType::kF32);
  EXPECT_TRUE(runtime::AllClose(low->weight().grad, ref->weight().grad, 3e-2, 3e-2));
  EXPECT_TRUE(runtime::AllClose(low->bias().grad, ref->bias().grad, 3e-2, 3e-2));
  // A f32 input into the bf16 layer is a caller mistake.
  Context c;
  EXPECT_EQ(low->Forward(c, x).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::nn
