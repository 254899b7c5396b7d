// Tests for nn/adamw.h: the closed-form first step, a double-precision
// reference (torch.optim.AdamW's formula) over several steps, decoupled weight
// decay only on weight_decay slots, State/LoadState round trip, slicing
// invariance and argument errors.
#include "nn/adamw.h"

#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/math/optimizer.h"
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

float GradAt(int k, int i) {
  return std::sin(0.9f * static_cast<float>(k) + 0.37f * static_cast<float>(i)) *
         (0.01f + 0.2f * static_cast<float>(i % 5));
}

// torch.optim.AdamW in double.
struct AdamWReference {
  AdamWOptions o;
  bool weight_decay = true;
  std::vector<double> p, m, v;
  int t = 0;
  void Step(const std::vector<float>& grad, double lr) {
    ++t;
    const double bc1 = 1.0 - std::pow(static_cast<double>(o.beta1), t);
    const double bc2 = 1.0 - std::pow(static_cast<double>(o.beta2), t);
    for (size_t i = 0; i < p.size(); ++i) {
      const double g = grad[i];
      if (weight_decay) p[i] *= 1.0 - lr * o.weight_decay;
      m[i] = o.beta1 * m[i] + (1.0 - o.beta1) * g;
      v[i] = o.beta2 * v[i] + (1.0 - o.beta2) * g * g;
      p[i] -= lr / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + o.eps);
    }
  }
};

TEST(AdamWTest, FirstStepIsSignOfGradientPlusDecay) {
  auto adam = AdamW::Create({.weight_decay = 0.1f}).value();
  Tensor p = Vec({1.0f, -2.0f, 0.5f});
  Tensor g = Vec({0.3f, -7.0f, 0.0f});
  ASSERT_TRUE(adam->Step({{"p", p, g, true}}, 0.01f).ok());
  // m_hat = g, v_hat = g^2: the update is lr * g / (|g| + eps).
  EXPECT_NEAR(p.data<float>()[0], 1.0f * (1 - 0.001f) - 0.01f, 1e-6);
  EXPECT_NEAR(p.data<float>()[1], -2.0f * (1 - 0.001f) + 0.01f, 1e-6);
  EXPECT_FLOAT_EQ(p.data<float>()[2], 0.5f * (1 - 0.001f));  // zero grad: only decay
  EXPECT_EQ(adam->steps(), 1);
}

std::string OptionsName(const ::testing::TestParamInfo<AdamWOptions>& info) {
  static const char* const kNames[] = {"Defaults", "GptStyle", "NoMomentumNoDecay"};
  return kNames[info.index];
}

class AdamWReferenceTest : public ::testing::TestWithParam<AdamWOptions> {};

TEST_P(AdamWReferenceTest, MatchesDoubleReference) {
  const AdamWOptions o = GetParam();
  auto adam = AdamW::Create(o).value();
  const int n = 41;
  std::vector<float> init(n);
  for (int i = 0; i < n; ++i) init[i] = 0.2f * std::cos(0.5f * i);
  Tensor w = Vec(init), b = Vec(init);
  Tensor gw = Vec(std::vector<float>(n)), gb = Vec(std::vector<float>(n));
  std::vector<OptimizerSlot> slots = {{"w", w, gw, true}, {"b", b, gb, false}};
  const std::vector<double> init_d(init.begin(), init.end()), zeros(n, 0.0);
  AdamWReference rw{o, true, init_d, zeros, zeros};
  AdamWReference rb{o, false, init_d, zeros, zeros};
  for (int k = 0; k < 8; ++k) {
    std::vector<float> g(n);
    for (int i = 0; i < n; ++i) g[i] = GradAt(k, i);
    std::copy(g.begin(), g.end(), gw.data<float>());
    std::copy(g.begin(), g.end(), gb.data<float>());
    const float lr = 1e-3f * (1 + k % 3);
    ASSERT_TRUE(adam->Step(slots, lr).ok());
    rw.Step(g, lr);
    rb.Step(g, lr);
  }
  for (int i = 0; i < n; ++i) {
    EXPECT_NEAR(w.data<float>()[i], rw.p[i], 2e-6) << i;
    EXPECT_NEAR(b.data<float>()[i], rb.p[i], 2e-6) << i;
  }
  // The moments are exposed as state.
  std::vector<NamedTensor> state = adam->State();
  ASSERT_EQ(state.size(), 5u);
  EXPECT_EQ(state[0].name, "w/exp_avg");
  EXPECT_EQ(state[1].name, "w/exp_avg_sq");
  EXPECT_EQ(state[2].name, "b/exp_avg");
  EXPECT_EQ(state[3].name, "b/exp_avg_sq");
  EXPECT_EQ(state[4].name, "step");
  EXPECT_EQ(state[4].tensor.data<int64_t>()[0], 8);
  for (int i = 0; i < n; ++i) {
    EXPECT_NEAR(state[0].tensor.data<float>()[i], rw.m[i], 1e-6);
    EXPECT_NEAR(state[1].tensor.data<float>()[i], rw.v[i], 1e-7);
  }
  if (o.weight_decay != 0) {
    EXPECT_NE(w.data<float>()[1], b.data<float>()[1]);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Options, AdamWReferenceTest,
    ::testing::Values(AdamWOptions{},
                      AdamWOptions{
                          .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-6f, .weight_decay = 0.1f},
                      AdamWOptions{.beta1 = 0.0f, .beta2 = 0.5f, .weight_decay = 0.0f}),
    OptionsName);

TEST(AdamWTest, StateRoundTripContinuesIdentically) {
  const AdamWOptions o{.beta2 = 0.95f, .weight_decay = 0.1f};
  auto a = AdamW::Create(o).value();
  const int n = 16;
  Tensor p = Vec(std::vector<float>(n, 0.3f)), g = Vec(std::vector<float>(n));
  Tensor q = Vec(std::vector<float>(3, -0.1f)), qg = Vec(std::vector<float>(3));
  std::vector<OptimizerSlot> slots = {{"p", p, g, true}, {"q", q, qg, false}};
  auto set_grads = [&](int k) {
    for (int i = 0; i < n; ++i) g.data<float>()[i] = GradAt(k, i);
    for (int i = 0; i < 3; ++i) qg.data<float>()[i] = GradAt(k + 11, i);
  };
  for (int k = 0; k < 4; ++k) {
    set_grads(k);
    ASSERT_TRUE(a->Step(slots, 1e-2f).ok());
  }
  std::vector<NamedTensor> saved;
  for (const NamedTensor& t : a->State()) saved.push_back({t.name, t.tensor.Clone().value()});
  const std::vector<float> p_saved = Values(p), q_saved = Values(q);
  for (int k = 4; k < 7; ++k) {
    set_grads(k);
    ASSERT_TRUE(a->Step(slots, 1e-2f).ok());
  }
  const Tensor p_after = p.Clone().value(), q_after = q.Clone().value();

  auto b = AdamW::Create(o).value();
  ASSERT_TRUE(b->LoadState(saved).ok());
  EXPECT_EQ(b->steps(), 4);
  // Loading copies: changing the saved list afterwards does not touch b.
  saved[0].tensor.data<float>()[0] = 1e9f;
  std::copy(p_saved.begin(), p_saved.end(), p.data<float>());
  std::copy(q_saved.begin(), q_saved.end(), q.data<float>());
  const std::vector<float> p_a = Values(p_after), q_a = Values(q_after);
  for (int k = 4; k < 7; ++k) {
    set_grads(k);
    ASSERT_TRUE(b->Step({slots[1], slots[0]}, 1e-2f).ok());  // slot order may change
  }
  EXPECT_EQ(Values(p), p_a);
  EXPECT_EQ(Values(q), q_a);
  std::vector<NamedTensor> sa = a->State(), sb = b->State();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].name, sb[i].name);
    EXPECT_TRUE(runtime::BitwiseEqual(sa[i].tensor, sb[i].tensor)) << sa[i].name;
  }
}

// The vectorised CPU loop must be bit-identical to the scalar math a CUDA
// kernel would run (kernels/math/optimizer.h), lanes and tail alike.
TEST(AdamWTest, BitIdenticalToScalarMath) {
  const AdamWOptions o{.beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-7f, .weight_decay = 0.2f};
  auto adam = AdamW::Create(o).value();
  const int n = 39;
  std::vector<float> p(n), m(n, 0.0f), v(n, 0.0f);
  for (int i = 0; i < n; ++i) p[i] = std::cos(1.7f * i) * (i % 4 == 0 ? 1e-3f : 3.0f);
  Tensor pt = Vec(p), gt = Vec(std::vector<float>(n));
  std::vector<OptimizerSlot> slots = {{"p", pt, gt, true}};
  for (int k = 0; k < 5; ++k) {
    std::vector<float> g(n);
    for (int i = 0; i < n; ++i) g[i] = GradAt(k, i) * (i % 3 == 0 ? 1e-4f : 10.0f);
    std::copy(g.begin(), g.end(), gt.data<float>());
    const float lr = 0.01f;
    ASSERT_TRUE(adam->Step(slots, lr).ok());
    const double t = k + 1;
    kernels::math::AdamWConstants c;
    c.decay =
        static_cast<float>(1.0 - static_cast<double>(lr) * static_cast<double>(o.weight_decay));
    c.one_minus_beta1 = static_cast<float>(1.0 - static_cast<double>(o.beta1));
    c.beta2 = o.beta2;
    c.one_minus_beta2 = static_cast<float>(1.0 - static_cast<double>(o.beta2));
    c.step_size = static_cast<float>(lr / (1.0 - std::pow(static_cast<double>(o.beta1), t)));
    c.bias2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(o.beta2), t)));
    c.eps = o.eps;
    for (int i = 0; i < n; ++i) kernels::math::AdamWUpdate(c, g[i], &p[i], &m[i], &v[i]);
    ASSERT_EQ(Values(pt), p) << "step " << k;
  }
}

TEST(AdamWTest, TwoSlicesEqualOneSlot) {
  const AdamWOptions o{.weight_decay = 0.05f};
  const int n = 29;
  std::vector<float> init(n);
  for (int i = 0; i < n; ++i) init[i] = std::sin(0.3f * i);
  Tensor whole = Vec(init), whole_g = Vec(std::vector<float>(n));
  Tensor cut = Vec(init), cut_g = Vec(std::vector<float>(n));
  auto one = AdamW::Create(o).value();
  auto two = AdamW::Create(o).value();
  std::vector<OptimizerSlot> s1 = {{"p", whole, whole_g, true}};
  std::vector<OptimizerSlot> s2 = {
      {"bucket0", cut.Slice(0, 0, 13).value(), cut_g.Slice(0, 0, 13).value(), true},
      {"bucket1", cut.Slice(0, 13, n).value(), cut_g.Slice(0, 13, n).value(), true}};
  for (int k = 0; k < 5; ++k) {
    for (int i = 0; i < n; ++i) whole_g.data<float>()[i] = cut_g.data<float>()[i] = GradAt(k, i);
    ASSERT_TRUE(one->Step(s1, 3e-3f).ok());
    ASSERT_TRUE(two->Step(s2, 3e-3f).ok());
  }
  EXPECT_TRUE(runtime::BitwiseEqual(whole, cut));
}

TEST(AdamWTest, RejectsBadOptionsSlotsAndState) {
  EXPECT_EQ(AdamW::Create({.beta1 = 1.0f}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AdamW::Create({.beta2 = -0.1f}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AdamW::Create({.eps = -1.0f}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AdamW::Create({.weight_decay = INFINITY}).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto adam = AdamW::Create({}).value();
  Tensor p = Vec({1, 2, 3, 4}), g = Vec({1, 1, 1, 1});
  Tensor p2 = Tensor::Zeros({2, 2}, DType::kF32).value(),
         g2 = Tensor::Zeros({2, 2}, DType::kF32).value();
  EXPECT_EQ(adam->Step({{"p", p, g2, true}}, 1e-3f).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(adam->Step({{"p", p, g, true}}, -1.0f).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(adam->Step({{"p", p, Tensor(), true}}, 1e-3f).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(adam->Step({{"p", p, g, true}}, 1e-3f).ok());
  // Same name, new shape; renamed slot; extra slot.
  EXPECT_EQ(adam->Step({{"p", p2, g2, true}}, 1e-3f).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(adam->Step({{"r", p, g, true}}, 1e-3f).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(adam->Step({{"p", p, g, true}, {"r", p2, g2, true}}, 1e-3f).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(adam->steps(), 1);

  // LoadState: unknown suffix, missing moment, dtype, names of another model.
  std::vector<NamedTensor> state = adam->State();
  std::vector<NamedTensor> bad = state;
  bad[0].name = "p/momentum";
  EXPECT_EQ(adam->LoadState(bad).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(adam->LoadState({state[0], state[2]}).code(), absl::StatusCode::kInvalidArgument);
  bad = state;
  bad[1].tensor = Tensor::Zeros({4}, DType::kBF16).value();
  EXPECT_EQ(adam->LoadState(bad).code(), absl::StatusCode::kInvalidArgument);
  auto fresh = AdamW::Create({}).value();
  ASSERT_TRUE(fresh->LoadState(state).ok());
  EXPECT_EQ(fresh->Step({{"p", p2, g2, true}}, 1e-3f).code(), absl::StatusCode::kInvalidArgument)
      << "a loaded state fixes the slot set";
  EXPECT_TRUE(fresh->Step({{"p", p, g, true}}, 1e-3f).ok());
  EXPECT_EQ(fresh->steps(), 2);
}

}  // namespace
}  // namespace braid::nn
