#include "nn/loss.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "nn/testing/layer_testing.h"

namespace braid::nn {
namespace {

using kernels::testing::NumericalGradient;
using kernels::testing::RandomTensor;
using kernels::testing::Values;
using runtime::DType;
using runtime::Tensor;

Tensor Targets(const std::vector<int32_t>& t, runtime::Shape shape) {
  absl::StatusOr<Tensor> out = Tensor::FromVector(t, std::move(shape));
  EXPECT_TRUE(out.ok());
  return *out;
}

// Mean over non-ignored rows of logsumexp(row) - row[target], in double.
double Reference(const Tensor& logits, const std::vector<int32_t>& targets, int32_t ignore) {
  std::vector<double> v = Values(logits);
  const int64_t vocab = logits.dim(-1);
  double sum = 0;
  int count = 0;
  for (size_t r = 0; r < targets.size(); ++r) {
    if (targets[r] == ignore) continue;
    double m = -1e300, s = 0;
    for (int64_t c = 0; c < vocab; ++c) m = std::max(m, v[r * vocab + c]);
    for (int64_t c = 0; c < vocab; ++c) s += std::exp(v[r * vocab + c] - m);
    sum += m + std::log(s) - v[r * vocab + targets[r]];
    ++count;
  }
  return count == 0 ? 0.0 : sum / count;
}

TEST(CrossEntropyLossTest, MeanOverNonIgnoredTargets) {
  CrossEntropyLoss loss;
  Tensor logits = RandomTensor({2, 3, 5}, 1, DType::kF32, -2, 2);
  const std::vector<int32_t> t = {0, 4, -100, 2, 2, 1};
  Context ctx;
  absl::StatusOr<float> l = loss.Forward(ctx, logits, Targets(t, {2, 3}));
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_NEAR(*l, Reference(logits, t, -100), 1e-5);
  absl::StatusOr<Tensor> d = loss.Backward(ctx);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->shape(), logits.shape());
  EXPECT_EQ(ctx.num_saved(), 0u);
  // The ignored row has no gradient; every other row sums to 0.
  std::vector<double> g = Values(*d);
  for (int r = 0; r < 6; ++r) {
    double s = 0;
    for (int c = 0; c < 5; ++c) s += g[r * 5 + c];
    EXPECT_NEAR(s, 0.0, 1e-6);
    if (r == 2) {
      for (int c = 0; c < 5; ++c) EXPECT_EQ(g[r * 5 + c], 0.0);
    }
  }
}

TEST(CrossEntropyLossTest, FiniteDifferencesAndScale) {
  CrossEntropyLoss loss({.ignore_index = 3});
  Tensor logits = RandomTensor({6, 4}, 2, DType::kF32, -2, 2);
  const std::vector<int32_t> t = {1, 3, 0, 2, 3, 1};
  Tensor targets = Targets(t, {6});
  auto value = [&] { return Reference(logits, t, 3); };
  std::vector<double> numeric = NumericalGradient(logits, value, 1e-3);
  Context ctx;
  ASSERT_TRUE(loss.Forward(ctx, logits, targets).ok());
  absl::StatusOr<Tensor> d = loss.Backward(ctx, 0.25f);
  ASSERT_TRUE(d.ok());
  for (double& n : numeric) n *= 0.25;
  EXPECT_TRUE(kernels::testing::GradientsClose(*d, numeric, 1e-5, 1e-3));
}

TEST(CrossEntropyLossTest, TwoMicrobatchesInFlight) {
  CrossEntropyLoss loss;
  Tensor a = RandomTensor({3, 4}, 3), b = RandomTensor({3, 4}, 4);
  Tensor ta = Targets({0, 1, 2}, {3}), tb = Targets({3, 3, 0}, {3});
  Context c1, c2, s1, s2;
  ASSERT_TRUE(loss.Forward(c1, a, ta).ok());
  ASSERT_TRUE(loss.Forward(c2, b, tb).ok());
  absl::StatusOr<Tensor> d2 = loss.Backward(c2), d1 = loss.Backward(c1);
  ASSERT_TRUE(d1.ok() && d2.ok());
  ASSERT_TRUE(loss.Forward(s1, a, ta).ok());
  absl::StatusOr<Tensor> e1 = loss.Backward(s1);
  ASSERT_TRUE(loss.Forward(s2, b, tb).ok());
  absl::StatusOr<Tensor> e2 = loss.Backward(s2);
  ASSERT_TRUE(e1.ok() && e2.ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*d1, *e1));
  EXPECT_TRUE(runtime::BitwiseEqual(*d2, *e2));
}

TEST(CrossEntropyLossTest, AllIgnoredIsZero) {
  CrossEntropyLoss loss;
  Context ctx;
  absl::StatusOr<float> l = loss.Forward(ctx, RandomTensor({2, 3}, 5), Targets({-100, -100}, {2}));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, 0.0f);
  absl::StatusOr<Tensor> d = loss.Backward(ctx);
  ASSERT_TRUE(d.ok());
  for (double v : Values(*d)) EXPECT_EQ(v, 0.0);
}

TEST(CrossEntropyLossTest, Bf16Logits) {
  CrossEntropyLoss loss;
  Tensor logits = RandomTensor({4, 8}, 6, DType::kF32, -2, 2);
  Tensor low = kernels::testing::Cast(logits, DType::kBF16);
  Tensor t = Targets({7, 0, 3, 3}, {4});
  Context c32, c16;
  absl::StatusOr<float> l32 = loss.Forward(c32, logits, t), l16 = loss.Forward(c16, low, t);
  ASSERT_TRUE(l32.ok() && l16.ok()) << l16.status();
  EXPECT_NEAR(*l16, *l32, 2e-2);
  absl::StatusOr<Tensor> d32 = loss.Backward(c32), d16 = loss.Backward(c16);
  ASSERT_TRUE(d32.ok() && d16.ok());
  EXPECT_EQ(d16->dtype(), DType::kBF16);
  EXPECT_TRUE(runtime::AllClose(*d16, *d32, 3e-2, 1e-2));
}

TEST(CrossEntropyLossTest, Errors) {
  CrossEntropyLoss loss;
  Context ctx;
  EXPECT_EQ(loss.Backward(ctx).status().code(), absl::StatusCode::kFailedPrecondition);
  absl::Status s = loss.Forward(ctx, RandomTensor({2, 3}, 1), Targets({0, 1, 2}, {3})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("CrossEntropyLoss"), absl::string_view::npos) << s;
  EXPECT_EQ(loss.Forward(ctx, RandomTensor({2, 3}, 1), RandomTensor({2}, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loss.Forward(ctx, RandomTensor({2, 3}, 1), Targets({0, 3}, {2})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ctx.num_saved(), 0u);
  ASSERT_TRUE(loss.Forward(ctx, RandomTensor({2, 3}, 1), Targets({0, 2}, {2})).ok());
  ASSERT_TRUE(loss.Backward(ctx).ok());
  EXPECT_EQ(loss.Backward(ctx).status().code(), absl::StatusCode::kFailedPrecondition);
  Context eval({.training = false});
  ASSERT_TRUE(loss.Forward(eval, RandomTensor({2, 3}, 1), Targets({0, 2}, {2})).ok());
  EXPECT_EQ(eval.num_saved(), 0u);
}

}  // namespace
}  // namespace braid::nn
