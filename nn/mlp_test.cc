#include "nn/mlp.h"

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

std::unique_ptr<Mlp> MakeMlp(MlpActivation act, int64_t dim, int64_t hidden, bool bias = true) {
  absl::StatusOr<std::unique_ptr<Mlp>> m = Mlp::Create({.dim = dim,
                                                        .hidden = hidden,
                                                        .activation = act,
                                                        .bias = bias,
                                                        .init_std = 0.5f,
                                                        .output_init_std = 0.3f});
  EXPECT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE((*m)->Initialize(3).ok());
  for (const NamedParameter& p : (*m)->NamedParameters()) {
    if (p.name.find("bias") != std::string::npos) {
      EXPECT_TRUE(InitNormal(p.parameter->value, 0.2f, 9, Layer::StreamOf(p.name)).ok());
    }
  }
  return std::move(*m);
}

double Gelu(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

// y = fc2(act(fc1(x))) computed by hand from the parameters.
std::vector<double> Reference(Mlp& m, const Tensor& x, MlpActivation act) {
  const int64_t dim = m.options().dim, hidden = m.options().hidden;
  const int64_t rows = x.numel() / dim;
  const int64_t h1 = act == MlpActivation::kSwiGLU ? 2 * hidden : hidden;
  std::vector<double> xv = Values(x), w1 = Values(m.fc1().weight().value),
                      b1 = Values(m.fc1().bias().value), w2 = Values(m.fc2().weight().value),
                      b2 = Values(m.fc2().bias().value);
  std::vector<double> out(static_cast<size_t>(rows * dim));
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> h(h1), a(hidden);
    for (int64_t o = 0; o < h1; ++o) {
      h[o] = b1[o];
      for (int64_t i = 0; i < dim; ++i) h[o] += xv[r * dim + i] * w1[o * dim + i];
    }
    for (int64_t j = 0; j < hidden; ++j) {
      if (act == MlpActivation::kGelu) {
        a[j] = Gelu(h[j]);
      } else {
        const double g = h[j], u = h[hidden + j];
        a[j] = g / (1 + std::exp(-g)) * u;
      }
    }
    for (int64_t o = 0; o < dim; ++o) {
      out[r * dim + o] = b2[o];
      for (int64_t j = 0; j < hidden; ++j) out[r * dim + o] += a[j] * w2[o * hidden + j];
    }
  }
  return out;
}

class MlpTest : public ::testing::TestWithParam<MlpActivation> {};

TEST_P(MlpTest, ForwardMatchesReference) {
  std::unique_ptr<Mlp> m = MakeMlp(GetParam(), 4, 6);
  Tensor x = RandomTensor({2, 3, 4}, 1);
  Context ctx({.training = false});
  absl::StatusOr<Tensor> y = m->Forward(ctx, x);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), x.shape());
  EXPECT_TRUE(kernels::testing::ValuesClose(Values(*y), Reference(*m, x, GetParam()), 1e-5, 1e-5));
}

TEST_P(MlpTest, ParametersAreNamedByChild) {
  std::unique_ptr<Mlp> m = MakeMlp(GetParam(), 4, 6);
  std::vector<NamedParameter> params = m->NamedParameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0].name, "fc1.weight");
  EXPECT_EQ(params[1].name, "fc1.bias");
  EXPECT_EQ(params[2].name, "fc2.weight");
  EXPECT_EQ(params[3].name, "fc2.bias");
  const int64_t h1 = GetParam() == MlpActivation::kSwiGLU ? 12 : 6;
  EXPECT_EQ(params[0].parameter->value.shape(), runtime::Shape({h1, 4}));
  EXPECT_EQ(params[2].parameter->value.shape(), runtime::Shape({4, 6}));
  EXPECT_EQ(MakeMlp(GetParam(), 4, 6, /*bias=*/false)->NamedParameters().size(), 2u);
}

TEST_P(MlpTest, FiniteDifferences) {
  std::unique_ptr<Mlp> m = MakeMlp(GetParam(), 4, 5);
  testing::ExpectFiniteDifferences(*m, RandomTensor({2, 3, 4}, 2), 61);
}

TEST_P(MlpTest, SplitAccumulateInterleaveOrder) {
  std::unique_ptr<Mlp> m = MakeMlp(GetParam(), 3, 4);
  testing::ExpectSplitEqualsWhole(*m, RandomTensor({5, 3}, 3), 62);
  testing::ExpectMicrobatchesAccumulate(*m, RandomTensor({5, 3}, 4), RandomTensor({5, 3}, 5), 63);
  testing::ExpectBackwardOrderChecked(*m, RandomTensor({5, 3}, 6));
  testing::ExpectEveryGradientReported(*m, RandomTensor({5, 3}, 6));
}

TEST_P(MlpTest, WrongShapesAreInvalidArgument) {
  std::unique_ptr<Mlp> m = MakeMlp(GetParam(), 3, 4);
  Context ctx;
  absl::Status s = m->Forward(ctx, RandomTensor({2, 4}, 1)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Mlp"), absl::string_view::npos) << s;
  ASSERT_TRUE(m->Forward(ctx, RandomTensor({2, 3}, 1)).ok());
  s = m->BackwardInput(ctx, RandomTensor({2, 4}, 1)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Mlp"), absl::string_view::npos) << s;
  EXPECT_FALSE(Mlp::Create({.dim = 3, .hidden = 0}).ok());
}

TEST_P(MlpTest, Bf16ComputeMatchesF32) {
  std::unique_ptr<Mlp> ref = MakeMlp(GetParam(), 8, 16), low = MakeMlp(GetParam(), 8, 16);
  for (const NamedParameter& p : low->NamedParameters()) {
    p.parameter->compute = kernels::testing::Cast(p.parameter->value, DType::kBF16);
  }
  Tensor x = RandomTensor({6, 8}, 7), dy = RandomTensor({6, 8}, 8);
  Context c32, c16;
  absl::StatusOr<Tensor> y32 = ref->Forward(c32, x);
  absl::StatusOr<Tensor> y16 = low->Forward(c16, kernels::testing::Cast(x, DType::kBF16));
  ASSERT_TRUE(y32.ok() && y16.ok()) << y16.status();
  EXPECT_EQ(y16->dtype(), DType::kBF16);
  EXPECT_TRUE(runtime::AllClose(*y16, *y32, 5e-2, 5e-2));
  absl::StatusOr<Tensor> dx32 = ref->Backward(c32, dy);
  absl::StatusOr<Tensor> dx16 = low->Backward(c16, kernels::testing::Cast(dy, DType::kBF16));
  ASSERT_TRUE(dx32.ok() && dx16.ok()) << dx16.status();
  EXPECT_TRUE(runtime::AllClose(*dx16, *dx32, 5e-2, 5e-2));
  std::vector<NamedParameter> pl = low->NamedParameters(), pr = ref->NamedParameters();
  for (size_t i = 0; i < pl.size(); ++i) {
    EXPECT_TRUE(runtime::AllClose(pl[i].parameter->grad, pr[i].parameter->grad, 5e-2, 5e-2))
        << pl[i].name;
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, MlpTest,
                         ::testing::Values(MlpActivation::kGelu, MlpActivation::kSwiGLU),
                         [](const ::testing::TestParamInfo<MlpActivation>& info) {
                           return std::string(ToString(info.param));
                         });

TEST(MlpInitTest, OutputInitStd) {
  absl::StatusOr<std::unique_ptr<Mlp>> m =
      Mlp::Create({.dim = 64, .hidden = 64, .init_std = 0.2f, .output_init_std = 0.05f});
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->Initialize(1).ok());
  auto std_of = [](const Tensor& t) {
    double sq = 0;
    std::vector<double> v = Values(t);
    for (double x : v) sq += x * x;
    return std::sqrt(sq / static_cast<double>(v.size()));
  };
  EXPECT_NEAR(std_of((*m)->fc1().weight().value), 0.2, 0.01);
  EXPECT_NEAR(std_of((*m)->fc2().weight().value), 0.05, 0.0025);
}

}  // namespace
}  // namespace braid::nn
