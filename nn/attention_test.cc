#include "nn/attention.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cast.h"
#include "kernels/testing/gradcheck.h"
#include "nn/context.h"

namespace braid::nn {
namespace {

using kernels::testing::GradientsClose;
using kernels::testing::NumericalGradient;
using kernels::testing::RandomTensor;
using kernels::testing::RandomValues;
using kernels::testing::RandomWeights;
using kernels::testing::TensorOf;
using kernels::testing::Values;
using kernels::testing::ValuesClose;
using kernels::testing::WeightedSum;
using runtime::DType;
using runtime::Tensor;

constexpr int64_t kB = 2, kT = 5, kD = 8, kH = 2;

// Fills every parameter with values uniform in [-scale, scale) (larger than
// the GPT-2 init, so attention is far from uniform and gradients are not tiny).
void Randomize(Layer& layer, uint32_t seed, float scale = 0.5f) {
  for (const NamedParameter& p : layer.NamedParameters()) {
    std::vector<float> v = RandomValues(p.parameter->value.numel(), seed++, -scale, scale);
    std::memcpy(p.parameter->value.raw_data(), v.data(), v.size() * sizeof(float));
  }
}

std::unique_ptr<CausalSelfAttention> MakeAttention(uint32_t seed = 7, float dropout = 0.0f) {
  absl::StatusOr<std::unique_ptr<CausalSelfAttention>> attn =
      CausalSelfAttention::Create({.dim = kD, .num_heads = kH, .dropout = dropout});
  EXPECT_TRUE(attn.ok()) << attn.status();
  Randomize(**attn, seed);
  return std::move(*attn);
}

Tensor FromWeights(const std::vector<double>& w, runtime::Shape shape) {
  return TensorOf(std::vector<float>(w.begin(), w.end()), std::move(shape));
}

// Plain double-precision GPT-2 attention with the layer's parameters.
std::vector<double> ReferenceForward(CausalSelfAttention& attn, const Tensor& x) {
  const int64_t b_n = x.dim(0), t_n = x.dim(1), d = kD, dh = kD / kH;
  std::vector<double> xv = Values(x), wq = Values(attn.qkv().weight().value),
                      bq = Values(attn.qkv().bias().value), wp = Values(attn.proj().weight().value),
                      bp = Values(attn.proj().bias().value);
  std::vector<double> qkv(b_n * t_n * 3 * d), merged(b_n * t_n * d, 0.0), y(b_n * t_n * d);
  for (int64_t r = 0; r < b_n * t_n; ++r) {
    for (int64_t o = 0; o < 3 * d; ++o) {
      double s = bq[o];
      for (int64_t i = 0; i < d; ++i) s += xv[r * d + i] * wq[o * d + i];
      qkv[r * 3 * d + o] = s;
    }
  }
  auto at = [&](int64_t b, int64_t t, int part, int64_t h, int64_t e) {
    return qkv[(b * t_n + t) * 3 * d + part * d + h * dh + e];
  };
  for (int64_t b = 0; b < b_n; ++b) {
    for (int64_t h = 0; h < kH; ++h) {
      for (int64_t i = 0; i < t_n; ++i) {
        std::vector<double> s(i + 1);
        double m = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j <= i; ++j) {
          double dot = 0.0;
          for (int64_t e = 0; e < dh; ++e) dot += at(b, i, 0, h, e) * at(b, j, 1, h, e);
          s[j] = dot / std::sqrt(static_cast<double>(dh));
          m = std::max(m, s[j]);
        }
        for (int64_t j = 0; j <= i; ++j) sum += std::exp(s[j] - m);
        for (int64_t j = 0; j <= i; ++j) {
          const double p = std::exp(s[j] - m) / sum;
          for (int64_t e = 0; e < dh; ++e) {
            merged[(b * t_n + i) * d + h * dh + e] += p * at(b, j, 2, h, e);
          }
        }
      }
    }
  }
  for (int64_t r = 0; r < b_n * t_n; ++r) {
    for (int64_t o = 0; o < d; ++o) {
      double s = bp[o];
      for (int64_t i = 0; i < d; ++i) s += merged[r * d + i] * wp[o * d + i];
      y[r * d + o] = s;
    }
  }
  return y;
}

TEST(CausalSelfAttentionTest, ParametersAreQkvAndProj) {
  std::unique_ptr<CausalSelfAttention> attn = MakeAttention();
  std::vector<NamedParameter> params = attn->NamedParameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0].name, "qkv.weight");
  EXPECT_EQ(params[1].name, "qkv.bias");
  EXPECT_EQ(params[2].name, "proj.weight");
  EXPECT_EQ(params[3].name, "proj.bias");
  EXPECT_EQ(attn->NumParameters(), 3 * kD * kD + 3 * kD + kD * kD + kD);
}

TEST(CausalSelfAttentionTest, ForwardMatchesReference) {
  std::unique_ptr<CausalSelfAttention> attn = MakeAttention();
  // Shapes change between calls (the head permutation indices are rebuilt).
  for (auto [b, t] : std::vector<std::pair<int64_t, int64_t>>{{kB, kT}, {1, 3}, {3, 1}, {kB, kT}}) {
    Tensor x = RandomTensor({b, t, kD}, static_cast<uint32_t>(11 + b * 10 + t));
    Context ctx;
    absl::StatusOr<Tensor> y = attn->Forward(ctx, x);
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ(y->shape(), runtime::Shape({b, t, kD}));
    EXPECT_TRUE(ValuesClose(Values(*y), ReferenceForward(*attn, x), 1e-5, 1e-5))
        << "B=" << b << " T=" << t;
  }
}

TEST(CausalSelfAttentionTest, GradientsMatchFiniteDifferences) {
  std::unique_ptr<CausalSelfAttention> attn = MakeAttention();
  Tensor x = RandomTensor({kB, kT, kD}, 12);
  const std::vector<double> w = RandomWeights(kB * kT * kD, 13);
  auto loss = [&]() {
    Context c({.training = false});
    absl::StatusOr<Tensor> y = attn->Forward(c, x);
    EXPECT_TRUE(y.ok()) << y.status();
    return WeightedSum(*y, w);
  };
  ASSERT_TRUE(ZeroGradients(attn->NamedParameters()).ok());
  Context ctx;
  ASSERT_TRUE(attn->Forward(ctx, x).ok());
  absl::StatusOr<Tensor> dx = attn->BackwardInput(ctx, FromWeights(w, {kB, kT, kD}));
  ASSERT_TRUE(dx.ok()) << dx.status();
  ASSERT_TRUE(attn->BackwardWeight(ctx).ok());
  EXPECT_EQ(ctx.num_saved(), 0u);
  EXPECT_TRUE(GradientsClose(*dx, NumericalGradient(x, loss)));
  for (const NamedParameter& p : attn->NamedParameters()) {
    EXPECT_TRUE(GradientsClose(p.parameter->grad, NumericalGradient(p.parameter->value, loss)))
        << p.name;
  }
}

TEST(CausalSelfAttentionTest, SplitBackwardEqualsCombined) {
  Tensor x = RandomTensor({kB, kT, kD}, 14);
  Tensor dy = RandomTensor({kB, kT, kD}, 15);
  std::unique_ptr<CausalSelfAttention> a = MakeAttention(3), b = MakeAttention(3);
  ASSERT_TRUE(ZeroGradients(a->NamedParameters()).ok());
  ASSERT_TRUE(ZeroGradients(b->NamedParameters()).ok());
  Context ca, cb;
  ASSERT_TRUE(a->Forward(ca, x).ok());
  ASSERT_TRUE(b->Forward(cb, x).ok());
  absl::StatusOr<Tensor> dxa = a->Backward(ca, dy);
  absl::StatusOr<Tensor> dxb = b->BackwardInput(cb, dy);
  ASSERT_TRUE(dxa.ok() && dxb.ok());
  // The input gradient is final before any weight gradient exists.
  for (const NamedParameter& p : b->NamedParameters()) {
    EXPECT_EQ(Values(p.parameter->grad), std::vector<double>(p.parameter->grad.numel(), 0.0));
  }
  ASSERT_TRUE(b->BackwardWeight(cb).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*dxa, *dxb));
  std::vector<NamedParameter> pa = a->NamedParameters(), pb = b->NamedParameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(runtime::BitwiseEqual(pa[i].parameter->grad, pb[i].parameter->grad)) << pa[i].name;
  }
  EXPECT_EQ(ca.num_saved(), 0u);
  EXPECT_EQ(cb.num_saved(), 0u);
}

TEST(CausalSelfAttentionTest, IsCausal) {
  std::unique_ptr<CausalSelfAttention> attn = MakeAttention();
  Tensor x = RandomTensor({kB, kT, kD}, 16);
  absl::StatusOr<Tensor> x2 = x.Clone();
  ASSERT_TRUE(x2.ok());
  constexpr int64_t kChanged = 3;
  for (int64_t b = 0; b < kB; ++b) {
    for (int64_t e = 0; e < kD; ++e) x2->data<float>()[(b * kT + kChanged) * kD + e] += 0.7f;
  }
  Context c1({.training = false}), c2({.training = false});
  absl::StatusOr<Tensor> y1 = attn->Forward(c1, x), y2 = attn->Forward(c2, *x2);
  ASSERT_TRUE(y1.ok() && y2.ok());
  std::vector<double> v1 = Values(*y1), v2 = Values(*y2);
  for (int64_t b = 0; b < kB; ++b) {
    for (int64_t t = 0; t < kT; ++t) {
      double diff = 0.0;
      for (int64_t e = 0; e < kD; ++e) {
        diff = std::max(diff, std::fabs(v1[(b * kT + t) * kD + e] - v2[(b * kT + t) * kD + e]));
      }
      if (t < kChanged) {
        EXPECT_LE(diff, 1e-6) << "position " << t << " saw a later token";
      } else {
        EXPECT_GT(diff, 1e-4) << "position " << t << " did not see token " << kChanged;
      }
    }
  }
}

// Two microbatches in flight (F1, F2, B2, B1) accumulate the same gradients
// as one after the other (F1, B1, F2, B2).
TEST(CausalSelfAttentionTest, TwoMicrobatchesInFlight) {
  Tensor x1 = RandomTensor({kB, kT, kD}, 17), x2 = RandomTensor({kB, kT, kD}, 18);
  Tensor d1 = RandomTensor({kB, kT, kD}, 19), d2 = RandomTensor({kB, kT, kD}, 20);
  std::unique_ptr<CausalSelfAttention> seq = MakeAttention(5), inter = MakeAttention(5);
  ASSERT_TRUE(ZeroGradients(seq->NamedParameters()).ok());
  ASSERT_TRUE(ZeroGradients(inter->NamedParameters()).ok());
  Tensor dx1_seq, dx2_seq;
  {
    Context c1({.microbatch = 0}), c2({.microbatch = 1});
    ASSERT_TRUE(seq->Forward(c1, x1).ok());
    dx1_seq = *seq->Backward(c1, d1);
    ASSERT_TRUE(seq->Forward(c2, x2).ok());
    dx2_seq = *seq->Backward(c2, d2);
  }
  Context c1({.microbatch = 0}), c2({.microbatch = 1});
  ASSERT_TRUE(inter->Forward(c1, x1).ok());
  ASSERT_TRUE(inter->Forward(c2, x2).ok());
  absl::StatusOr<Tensor> dx2 = inter->BackwardInput(c2, d2);
  absl::StatusOr<Tensor> dx1 = inter->BackwardInput(c1, d1);
  ASSERT_TRUE(dx1.ok() && dx2.ok());
  ASSERT_TRUE(inter->BackwardWeight(c1).ok());
  ASSERT_TRUE(inter->BackwardWeight(c2).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*dx1, dx1_seq));
  EXPECT_TRUE(runtime::BitwiseEqual(*dx2, dx2_seq));
  std::vector<NamedParameter> ps = seq->NamedParameters(), pi = inter->NamedParameters();
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_TRUE(
        ValuesClose(Values(pi[i].parameter->grad), Values(ps[i].parameter->grad), 1e-6, 1e-6))
        << ps[i].name;
  }
  EXPECT_EQ(c1.num_saved(), 0u);
  EXPECT_EQ(c2.num_saved(), 0u);
}

// Microbatches of different lengths in flight: each backward uses its own
// shapes (F1 [2, 5], F2 [1, 3], B2, B1 equals running them one by one).
TEST(CausalSelfAttentionTest, MicrobatchesOfDifferentShapesInFlight) {
  Tensor x1 = RandomTensor({2, 5, kD}, 24), x2 = RandomTensor({1, 3, kD}, 25);
  Tensor d1 = RandomTensor({2, 5, kD}, 26), d2 = RandomTensor({1, 3, kD}, 27);
  std::unique_ptr<CausalSelfAttention> seq = MakeAttention(6), inter = MakeAttention(6);
  Tensor dx1_seq, dx2_seq;
  {
    Context c1, c2;
    ASSERT_TRUE(seq->Forward(c1, x1).ok());
    dx1_seq = *seq->Backward(c1, d1);
    ASSERT_TRUE(seq->Forward(c2, x2).ok());
    dx2_seq = *seq->Backward(c2, d2);
  }
  Context c1, c2;
  ASSERT_TRUE(inter->Forward(c1, x1).ok());
  ASSERT_TRUE(inter->Forward(c2, x2).ok());
  absl::StatusOr<Tensor> dx2 = inter->Backward(c2, d2);
  absl::StatusOr<Tensor> dx1 = inter->Backward(c1, d1);
  ASSERT_TRUE(dx1.ok() && dx2.ok()) << dx1.status() << dx2.status();
  EXPECT_TRUE(runtime::BitwiseEqual(*dx1, dx1_seq));
  EXPECT_TRUE(runtime::BitwiseEqual(*dx2, dx2_seq));
}

TEST(CausalSelfAttentionTest, Errors) {
  EXPECT_EQ(CausalSelfAttention::Create({.dim = 10, .num_heads = 3}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      CausalSelfAttention::Create({.dim = 8, .num_heads = 2, .dropout = 1.0f}).status().code(),
      absl::StatusCode::kInvalidArgument);
  std::unique_ptr<CausalSelfAttention> attn = MakeAttention();
  Context ctx;
  absl::StatusOr<Tensor> bad = attn->Forward(ctx, RandomTensor({kB, kT, kD + 1}, 1));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("CausalSelfAttention"), std::string::npos) << bad.status();
  bad = attn->Forward(ctx, RandomTensor({kT, kD}, 1));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  Tensor dy = RandomTensor({kB, kT, kD}, 2);
  EXPECT_EQ(attn->BackwardInput(ctx, dy).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(attn->BackwardWeight(ctx).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(attn->Forward(ctx, RandomTensor({kB, kT, kD}, 3)).ok());
  EXPECT_EQ(attn->BackwardWeight(ctx).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(attn->BackwardInput(ctx, RandomTensor({kB, kT + 1, kD}, 4)).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(attn->BackwardInput(ctx, dy).ok());
  EXPECT_EQ(attn->BackwardInput(ctx, dy).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(attn->BackwardWeight(ctx).ok());
  EXPECT_EQ(attn->BackwardWeight(ctx).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ctx.num_saved(), 0u);
  // Inference saves nothing.
  Context infer({.training = false});
  ASSERT_TRUE(attn->Forward(infer, RandomTensor({kB, kT, kD}, 5)).ok());
  EXPECT_EQ(infer.num_saved(), 0u);
}

TEST(CausalSelfAttentionTest, DropoutIsReproducibleAndOffInInference) {
  std::unique_ptr<CausalSelfAttention> attn = MakeAttention(7, 0.5f);
  std::unique_ptr<CausalSelfAttention> plain = MakeAttention(7, 0.0f);
  Tensor x = RandomTensor({kB, kT, kD}, 21);
  Context a({.rng_seed = 1, .rng_stream = 4}), b({.rng_seed = 1, .rng_stream = 4});
  Context c({.rng_seed = 1, .rng_stream = 5});
  absl::StatusOr<Tensor> ya = attn->Forward(a, x), yb = attn->Forward(b, x),
                         yc = attn->Forward(c, x);
  ASSERT_TRUE(ya.ok() && yb.ok() && yc.ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*ya, *yb));
  EXPECT_FALSE(runtime::BitwiseEqual(*ya, *yc));
  Context i1({.training = false}), i2({.training = false});
  absl::StatusOr<Tensor> yi = attn->Forward(i1, x), yp = plain->Forward(i2, x);
  ASSERT_TRUE(yi.ok() && yp.ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*yi, *yp));
}

// bf16 compute copies of the parameters (what nn::EnableMixedPrecision makes):
// activations become bf16, gradients stay f32 and are close to the f32 run.
TEST(CausalSelfAttentionTest, Bf16ComputeCloseToF32) {
  std::unique_ptr<CausalSelfAttention> f32 = MakeAttention(9), bf16 = MakeAttention(9);
  for (const NamedParameter& p : bf16->NamedParameters()) {
    absl::StatusOr<Tensor> c =
        Tensor::Empty(p.parameter->value.shape(), DType::kBF16, p.parameter->value.device());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(kernels::Cast(p.parameter->value, *c).ok());
    p.parameter->compute = *c;
  }
  ASSERT_TRUE(ZeroGradients(f32->NamedParameters()).ok());
  ASSERT_TRUE(ZeroGradients(bf16->NamedParameters()).ok());
  Tensor x = RandomTensor({kB, kT, kD}, 22);
  Tensor dy = RandomTensor({kB, kT, kD}, 23);
  Context c32, c16;
  absl::StatusOr<Tensor> y32 = f32->Forward(c32, x);
  absl::StatusOr<Tensor> y16 = bf16->Forward(c16, kernels::testing::Cast(x, DType::kBF16));
  ASSERT_TRUE(y32.ok() && y16.ok()) << y16.status();
  EXPECT_EQ(y16->dtype(), DType::kBF16);
  EXPECT_TRUE(ValuesClose(Values(*y16), Values(*y32), 3e-2, 3e-2));
  absl::StatusOr<Tensor> dx32 = f32->Backward(c32, dy);
  absl::StatusOr<Tensor> dx16 = bf16->Backward(c16, kernels::testing::Cast(dy, DType::kBF16));
  ASSERT_TRUE(dx32.ok() && dx16.ok()) << dx16.status();
  EXPECT_EQ(dx16->dtype(), DType::kBF16);
  EXPECT_TRUE(ValuesClose(Values(*dx16), Values(*dx32), 5e-2, 5e-2));
  std::vector<NamedParameter> p32 = f32->NamedParameters(), p16 = bf16->NamedParameters();
  for (size_t i = 0; i < p32.size(); ++i) {
    EXPECT_EQ(p16[i].parameter->grad.dtype(), DType::kF32);
    EXPECT_TRUE(
        ValuesClose(Values(p16[i].parameter->grad), Values(p32[i].parameter->grad), 5e-2, 5e-2))
        << p32[i].name;
  }
}

TEST(PermuteRowsTest, SplitsAndMergesHeads) {
  // [2, 3] grid of rows of 2 elements: row r holds (10 r, 10 r + 1).
  std::vector<float> v;
  for (int r = 0; r < 6; ++r) {
    v.push_back(10.0f * r);
    v.push_back(10.0f * r + 1);
  }
  Tensor in = TensorOf(v, {2, 3, 2});
  absl::StatusOr<Tensor> out = PermuteRows(in, {2, 3}, {1, 0}, 2);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->shape(), runtime::Shape({3, 2, 2}));
  EXPECT_EQ(Values(*out), std::vector<double>({0, 1, 30, 31, 10, 11, 40, 41, 20, 21, 50, 51}));
  absl::StatusOr<Tensor> back = PermuteRows(*out, {3, 2}, {1, 0}, 2);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*back, in));
  EXPECT_EQ(PermuteRows(in, {2, 3}, {0, 0}, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PermuteRows(in, {2, 2}, {1, 0}, 2).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::nn
