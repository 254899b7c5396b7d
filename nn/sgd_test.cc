// Tests for nn/sgd.h: closed-form steps, a double-precision reference over
// several steps for every option, weight decay only on weight_decay slots,
// State/LoadState round trip, slicing invariance and argument errors.
#include "nn/sgd.h"

#include <cmath>
#include <string>
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

// The gradient of step `k` for element `i`: deterministic, sign-changing.
float GradAt(int k, int i) {
  return std::sin(0.7f * static_cast<float>(k) + 1.3f * static_cast<float>(i)) * (1.0f + 0.1f * i);
}

// torch.optim.SGD in double.
struct SgdReference {
  SgdOptions o;
  bool weight_decay = true;
  std::vector<double> p, buf;
  int steps = 0;
  void Step(const std::vector<float>& grad, double lr) {
    for (size_t i = 0; i < p.size(); ++i) {
      double g = grad[i];
      if (weight_decay) g += o.weight_decay * p[i];
      if (o.momentum != 0) {
        buf[i] = steps == 0 ? g : o.momentum * buf[i] + (1.0 - o.dampening) * g;
        g = o.nesterov ? g + o.momentum * buf[i] : buf[i];
      }
      p[i] -= lr * g;
    }
    ++steps;
  }
};

TEST(SgdTest, ClosedFormMomentum) {
  auto sgd = Sgd::Create({.momentum = 0.9f}).value();
  Tensor p = Vec({1.0f});
  Tensor g = Vec({0.5f});
  std::vector<OptimizerSlot> slots = {{"w", p, g, true}};
  ASSERT_TRUE(sgd->Step(slots, 0.1f).ok());
  EXPECT_FLOAT_EQ(p.data<float>()[0], 0.95f);  // buf = 0.5
  ASSERT_TRUE(sgd->Step(slots, 0.1f).ok());
  EXPECT_FLOAT_EQ(p.data<float>()[0], 0.855f);  // buf = 0.95
  EXPECT_EQ(sgd->steps(), 2);
}

std::string OptionsName(const ::testing::TestParamInfo<SgdOptions>& info) {
  static const char* const kNames[] = {"Plain", "WeightDecay", "Momentum", "DampenedMomentumDecay",
                                       "NesterovDecay"};
  return kNames[info.index];
}

class SgdReferenceTest : public ::testing::TestWithParam<SgdOptions> {};

TEST_P(SgdReferenceTest, MatchesDoubleReferenceOnlyDecayingWeightDecaySlots) {
  const SgdOptions o = GetParam();
  auto sgd = Sgd::Create(o).value();
  const int n = 37;
  std::vector<float> init(n);
  for (int i = 0; i < n; ++i) init[i] = 0.5f - 0.03f * i;
  Tensor w = Vec(init), b = Vec(init);
  Tensor gw = Vec(std::vector<float>(n)), gb = Vec(std::vector<float>(n));
  std::vector<OptimizerSlot> slots = {{"w", w, gw, true}, {"b", b, gb, false}};
  SgdReference rw{o, true, {init.begin(), init.end()}, std::vector<double>(n), 0};
  SgdReference rb{o, false, {init.begin(), init.end()}, std::vector<double>(n), 0};
  for (int k = 0; k < 6; ++k) {
    std::vector<float> g(n);
    for (int i = 0; i < n; ++i) g[i] = GradAt(k, i);
    std::copy(g.begin(), g.end(), gw.data<float>());
    std::copy(g.begin(), g.end(), gb.data<float>());
    const float lr = 0.05f * (k + 1);
    ASSERT_TRUE(sgd->Step(slots, lr).ok());
    rw.Step(g, lr);
    rb.Step(g, lr);
  }
  for (int i = 0; i < n; ++i) {
    EXPECT_NEAR(w.data<float>()[i], rw.p[i], 1e-5 * (1 + std::abs(rw.p[i]))) << i;
    EXPECT_NEAR(b.data<float>()[i], rb.p[i], 1e-5 * (1 + std::abs(rb.p[i]))) << i;
  }
  if (o.weight_decay != 0) {
    EXPECT_NE(w.data<float>()[3], b.data<float>()[3]) << "weight decay must only hit 'w'";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Options, SgdReferenceTest,
    ::testing::Values(SgdOptions{}, SgdOptions{.weight_decay = 0.1f}, SgdOptions{.momentum = 0.9f},
                      SgdOptions{.momentum = 0.8f, .dampening = 0.3f, .weight_decay = 0.05f},
                      SgdOptions{.momentum = 0.9f, .nesterov = true, .weight_decay = 0.01f}),
    OptionsName);

std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

TEST(SgdTest, StateRoundTripContinuesIdentically) {
  const SgdOptions o{.momentum = 0.9f, .dampening = 0.1f, .weight_decay = 0.01f};
  auto a = Sgd::Create(o).value();
  const int n = 10;
  Tensor p = Vec(std::vector<float>(n, 1.0f)), g = Vec(std::vector<float>(n));
  std::vector<OptimizerSlot> slots = {{"p", p, g, true}};
  auto set_grad = [&](int k) {
    for (int i = 0; i < n; ++i) g.data<float>()[i] = GradAt(k, i);
  };
  for (int k = 0; k < 3; ++k) {
    set_grad(k);
    ASSERT_TRUE(a->Step(slots, 0.1f).ok());
  }
  std::vector<NamedTensor> saved;
  for (const NamedTensor& t : a->State()) saved.push_back({t.name, t.tensor.Clone().value()});
  ASSERT_EQ(saved.size(), 2u);
  EXPECT_EQ(saved[0].name, "p/momentum");
  EXPECT_EQ(saved[1].name, "step");
  const std::vector<float> p_saved = Values(p);
  for (int k = 3; k < 5; ++k) {
    set_grad(k);
    ASSERT_TRUE(a->Step(slots, 0.1f).ok());
  }
  const std::vector<float> p_a = Values(p);

  auto b = Sgd::Create(o).value();
  ASSERT_TRUE(b->LoadState(saved).ok());
  EXPECT_EQ(b->steps(), 3);
  std::copy(p_saved.begin(), p_saved.end(), p.data<float>());
  for (int k = 3; k < 5; ++k) {
    set_grad(k);
    ASSERT_TRUE(b->Step(slots, 0.1f).ok());
  }
  EXPECT_EQ(Values(p), p_a);
  // Loading into an optimizer with state checks names and shapes.
  ASSERT_TRUE(b->LoadState(saved).ok());
  std::vector<NamedTensor> renamed = saved;
  renamed[0].name = "q/momentum";
  EXPECT_EQ(b->LoadState(renamed).code(), absl::StatusCode::kInvalidArgument);
  std::vector<NamedTensor> reshaped = saved;
  reshaped[0].tensor = Tensor::Zeros({n + 1}, DType::kF32).value();
  EXPECT_EQ(b->LoadState(reshaped).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b->LoadState({saved[0]}).code(), absl::StatusCode::kInvalidArgument);  // no step
  EXPECT_EQ(b->steps(), 3);
}

TEST(SgdTest, TwoSlicesEqualOneSlot) {
  const SgdOptions o{.momentum = 0.9f, .nesterov = true, .weight_decay = 0.02f};
  const int n = 23;
  std::vector<float> init(n);
  for (int i = 0; i < n; ++i) init[i] = std::cos(0.3f * i);
  Tensor whole = Vec(init), whole_g = Vec(std::vector<float>(n));
  Tensor cut = Vec(init), cut_g = Vec(std::vector<float>(n));
  auto one = Sgd::Create(o).value();
  auto two = Sgd::Create(o).value();
  std::vector<OptimizerSlot> s1 = {{"p", whole, whole_g, true}};
  std::vector<OptimizerSlot> s2 = {
      {"p.0", cut.Slice(0, 0, 9).value(), cut_g.Slice(0, 0, 9).value(), true},
      {"p.1", cut.Slice(0, 9, n).value(), cut_g.Slice(0, 9, n).value(), true}};
  for (int k = 0; k < 4; ++k) {
    for (int i = 0; i < n; ++i) whole_g.data<float>()[i] = cut_g.data<float>()[i] = GradAt(k, i);
    ASSERT_TRUE(one->Step(s1, 0.3f).ok());
    ASSERT_TRUE(two->Step(s2, 0.3f).ok());
  }
  EXPECT_TRUE(runtime::BitwiseEqual(whole, cut));
}

TEST(SgdTest, RejectsBadOptionsAndSlots) {
  EXPECT_EQ(Sgd::Create({.nesterov = true}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sgd::Create({.momentum = 0.9f, .dampening = 0.1f, .nesterov = true}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sgd::Create({.momentum = -1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sgd::Create({.weight_decay = NAN}).status().code(), absl::StatusCode::kInvalidArgument);

  auto sgd = Sgd::Create({.momentum = 0.5f}).value();
  Tensor p = Vec({1, 2, 3}), g = Vec({1, 1, 1});
  Tensor g2 = Vec({1, 1});
  EXPECT_EQ(sgd->Step({{"p", p, g2, true}}, 0.1f).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sgd->Step({{"p", p, g, true}}, NAN).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sgd->Step({{"p", p, g, true}, {"p", p, g, true}}, 0.1f).code(),
            absl::StatusCode::kInvalidArgument);
  Tensor half = Tensor::Zeros({3}, DType::kBF16).value();
  EXPECT_EQ(sgd->Step({{"p", p, half, true}}, 0.1f).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sgd->steps(), 0);
  EXPECT_EQ(p.data<float>()[0], 1.0f) << "a failed Step must not write";

  // A GPU slot is refused before any memory is touched (no CUDA optimizer yet).
  Tensor on_gpu =
      Tensor::FromBlob(p.raw_data(), {3}, DType::kF32, runtime::Device::Cuda(0)).value();
  EXPECT_EQ(sgd->Step({{"p", on_gpu, on_gpu, true}}, 0.1f).code(),
            absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(sgd->Step({{"p", p, g, true}}, 0.1f).ok());
  Tensor q = Vec({1, 2}), qg = Vec({0, 0});
  EXPECT_EQ(sgd->Step({{"q", q, qg, true}}, 0.1f).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sgd->Step({{"p", q, qg, true}}, 0.1f).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sgd->Step({{"p", p, g, true}, {"q", q, qg, true}}, 0.1f).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sgd->steps(), 1);
}

}  // namespace
}  // namespace braid::nn
