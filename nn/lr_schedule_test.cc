// Tests for nn/lr_schedule.h: values at key steps, monotonicity, the floor,
// and option errors.
#include "nn/lr_schedule.h"

#include <cmath>
#include <numbers>

#include "gtest/gtest.h"

namespace braid::nn {
namespace {

TEST(LrScheduleTest, ConstantIsConstant) {
  auto c = ConstantLr::Create(3e-4f).value();
  EXPECT_EQ(c->At(0), 3e-4f);
  EXPECT_EQ(c->At(1000000), 3e-4f);
  EXPECT_EQ(ConstantLr::Create(-1.0f).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConstantLr::Create(NAN).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LrScheduleTest, WarmupCosineKeySteps) {
  auto s = WarmupCosine::Create(
               {.peak_lr = 1e-3f, .min_lr = 1e-4f, .warmup_steps = 100, .total_steps = 1100})
               .value();
  EXPECT_EQ(s->At(0), 0.0f);
  EXPECT_EQ(s->At(-5), 0.0f);
  EXPECT_FLOAT_EQ(s->At(1), 1e-5f);
  EXPECT_FLOAT_EQ(s->At(50), 5e-4f);
  EXPECT_FLOAT_EQ(s->At(99), 9.9e-4f);
  EXPECT_EQ(s->At(100), 1e-3f);           // peak at the end of warmup
  EXPECT_FLOAT_EQ(s->At(600), 0.55e-3f);  // half way: (peak + min) / 2
  EXPECT_FLOAT_EQ(s->At(350),
                  static_cast<float>(1e-4 + 0.9e-3 * 0.5 * (1 + std::cos(std::numbers::pi / 4))));
  EXPECT_EQ(s->At(1100), 1e-4f);
  EXPECT_EQ(s->At(5000), 1e-4f);
  // Non-increasing after warmup and never below min_lr.
  float prev = s->At(100);
  for (int64_t t = 101; t <= 1200; ++t) {
    const float lr = s->At(t);
    EXPECT_LE(lr, prev) << t;
    EXPECT_GE(lr, 1e-4f) << t;
    prev = lr;
  }
}

TEST(LrScheduleTest, NoWarmupStartsAtPeakAndDecaysToZero) {
  auto s = WarmupCosine::Create({.peak_lr = 2.0f, .total_steps = 4}).value();
  EXPECT_EQ(s->At(0), 2.0f);
  EXPECT_FLOAT_EQ(s->At(1), static_cast<float>(1.0 + std::cos(std::numbers::pi / 4)));
  EXPECT_FLOAT_EQ(s->At(2), 1.0f);
  EXPECT_EQ(s->At(4), 0.0f);
}

TEST(LrScheduleTest, RejectsBadOptions) {
  auto code = [](const WarmupCosineOptions& o) { return WarmupCosine::Create(o).status().code(); };
  constexpr auto kBad = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(code({.peak_lr = 1, .total_steps = 0}), kBad);
  EXPECT_EQ(code({.peak_lr = 1, .warmup_steps = 10, .total_steps = 10}), kBad);
  EXPECT_EQ(code({.peak_lr = 1, .warmup_steps = -1, .total_steps = 10}), kBad);
  EXPECT_EQ(code({.peak_lr = 1, .min_lr = 2, .total_steps = 10}), kBad);
  EXPECT_EQ(code({.peak_lr = -1, .total_steps = 10}), kBad);
  EXPECT_EQ(code({.peak_lr = INFINITY, .total_steps = 10}), kBad);
  EXPECT_TRUE(WarmupCosine::Create({.peak_lr = 1, .min_lr = 1, .total_steps = 1}).ok());
}

}  // namespace
}  // namespace braid::nn
