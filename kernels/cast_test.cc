// Tests for kernels/cast.h (CPU): every pair of float dtypes against a plain
// scalar loop, exhaustive 16-bit round trips, rounding at ties and overflow,
// accumulate, aliasing, empty tensors and errors.
#include "kernels/cast.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/math/cast.h"
#include "kernels/testing/device.h"
#include "runtime/half.h"
#include "runtime/tensor.h"

namespace braid::kernels {
namespace {

using runtime::BFloat16;
using runtime::DType;
using runtime::Half;
using runtime::Tensor;

constexpr DType kFloatTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

// Random values in [-scale, scale] stored as `dtype`, with a few specials.
Tensor Random(int64_t n, DType dtype, uint32_t seed, float scale = 100.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  Tensor t = Tensor::Empty({n}, dtype).value();
  runtime::VisitDType(dtype, [&]<typename T>() {
    for (int64_t i = 0; i < n; ++i) t.data<T>()[i] = T(dist(rng));
    if (n > 3) {
      t.data<T>()[0] = T(0.0f);
      t.data<T>()[1] = T(-0.0f);
      t.data<T>()[2] = T(std::numeric_limits<float>::infinity());
    }
  });
  return t;
}

// The plain loop: dst[i] = To(float(src[i])).
Tensor ReferenceCast(const Tensor& src, DType to) {
  Tensor out = Tensor::Empty(src.shape(), to).value();
  runtime::VisitDType(src.dtype(), [&]<typename From>() {
    runtime::VisitDType(to, [&]<typename To>() {
      for (int64_t i = 0; i < src.numel(); ++i) {
        out.data<To>()[i] = To(static_cast<float>(src.data<From>()[i]));
      }
    });
  });
  return out;
}

class CastPairTest : public ::testing::TestWithParam<std::tuple<DType, DType, int64_t>> {};

TEST_P(CastPairTest, MatchesScalarLoop) {
  const auto [from, to, n] = GetParam();
  const Tensor src = Random(n, from, 7);
  Tensor dst = Tensor::Full({n}, to, 3.0).value();
  ASSERT_TRUE(Cast(src, dst).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(dst, ReferenceCast(src, to)))
      << runtime::ToString(from) << " -> " << runtime::ToString(to) << " n=" << n;
}

class AccumulateTest : public ::testing::TestWithParam<std::tuple<DType, int64_t>> {};

TEST_P(AccumulateTest, MatchesScalarLoop) {
  // Plain locals: clang 14 cannot capture structured bindings in lambdas.
  const DType from = std::get<0>(GetParam());
  const int64_t n = std::get<1>(GetParam());
  const Tensor src = Random(n, from, 11, 5.0f);
  const Tensor acc0 = Random(n, DType::kF32, 12, 5.0f);
  Tensor acc = acc0.Clone().value();
  ASSERT_TRUE(AccumulateInto(src, acc).ok());
  ASSERT_TRUE(AccumulateInto(src, acc).ok());
  runtime::VisitDType(from, [&]<typename From>() {
    for (int64_t i = 0; i < n; ++i) {
      float expect = acc0.data<float>()[i];
      for (int k = 0; k < 2; ++k) expect = expect + static_cast<float>(src.data<From>()[i]);
      const float got = acc.data<float>()[i];
      ASSERT_TRUE(got == expect || (std::isnan(got) && std::isnan(expect)))
          << runtime::ToString(from) << " i=" << i << " got " << got << " want " << expect;
    }
  });
}

INSTANTIATE_TEST_SUITE_P(AllSources, AccumulateTest,
                         ::testing::Combine(::testing::ValuesIn(kFloatTypes),
                                            ::testing::Values<int64_t>(1, 7, 1000, 4099)),
                         [](const auto& info) {
                           return absl::StrCat(runtime::ToString(std::get<0>(info.param)), "_",
                                               std::get<1>(info.param));
                         });

INSTANTIATE_TEST_SUITE_P(AllPairs, CastPairTest,
                         ::testing::Combine(::testing::ValuesIn(kFloatTypes),
                                            ::testing::ValuesIn(kFloatTypes),
                                            ::testing::Values<int64_t>(1, 7, 1000, 4099)),
                         [](const auto& info) {
                           return absl::StrCat(runtime::ToString(std::get<0>(info.param)), "_to_",
                                               runtime::ToString(std::get<1>(info.param)), "_",
                                               std::get<2>(info.param));
                         });

// Every 16-bit pattern survives 16 -> f32 -> 16 (NaNs stay NaN).
TEST(CastTest, SixteenBitRoundTripIsExhaustivelyExact) {
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    Tensor bits = Tensor::Empty({65536}, dtype).value();
    for (int i = 0; i < 65536; ++i) static_cast<uint16_t*>(bits.raw_data())[i] = i;
    Tensor wide = Tensor::Empty({65536}, DType::kF32).value();
    Tensor back = Tensor::Empty({65536}, dtype).value();
    ASSERT_TRUE(Cast(bits, wide).ok());
    ASSERT_TRUE(Cast(wide, back).ok());
    for (int i = 0; i < 65536; ++i) {
      const uint16_t b = static_cast<const uint16_t*>(back.raw_data())[i];
      if (std::isnan(wide.data<float>()[i])) {
        EXPECT_TRUE(std::isnan(dtype == DType::kF16 ? Half::ToFloat(b) : BFloat16::ToFloat(b)));
      } else {
        ASSERT_EQ(b, i) << runtime::ToString(dtype);
      }
    }
  }
}

// The branchless f16 conversions the loops use equal runtime::Half's: f16 ->
// f32 for every pattern, f32 -> f16 on a sweep of f32 bit patterns (every
// 251st, plus the neighbourhoods of every exponent boundary).
TEST(CastTest, BranchlessHalfMatchesRuntimeHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float a = math::HalfToFloatBranchless(static_cast<uint16_t>(h));
    const float b = Half::ToFloat(static_cast<uint16_t>(h));
    uint32_t ba, bb;
    std::memcpy(&ba, &a, 4);
    std::memcpy(&bb, &b, 4);
    ASSERT_EQ(ba, bb) << std::hex << h;
  }
  auto check = [](uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, 4);
    ASSERT_EQ(math::HalfBitsBranchless(f), Half::FromFloat(f)) << std::hex << bits;
  };
  for (uint64_t b = 0; b <= 0xffffffffu; b += 251) check(static_cast<uint32_t>(b));
  for (uint32_t e = 0; e < 256; ++e) {
    for (uint32_t sign : {0u, 0x80000000u}) {
      for (uint32_t d = 0; d < 4096; ++d) {
        check(sign | (e << 23) | d);
        check(sign | ((e << 23) - d));
      }
    }
  }
}

TEST(CastTest, RoundsToNearestEvenAndOverflowsToInfinity) {
  const float tie_down = 1.0f + std::ldexp(1.0f, -8);    // halfway between 1 and 1+2^-7
  const float tie_up = 1.0f + 3 * std::ldexp(1.0f, -8);  // halfway, odd below -> up
  const float above_half = 1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20);
  Tensor src = Tensor::FromVector<float>(
                   {tie_down, tie_up, above_half, 3.0e38f, std::numeric_limits<float>::quiet_NaN(),
                    65520.0f, 65519.0f, 1e-8f},
                   {8})
                   .value();
  Tensor bf = Tensor::Empty({8}, DType::kBF16).value();
  Tensor h = Tensor::Empty({8}, DType::kF16).value();
  ASSERT_TRUE(Cast(src, bf).ok());
  ASSERT_TRUE(Cast(src, h).ok());
  const BFloat16* b = bf.data<BFloat16>();
  EXPECT_EQ(static_cast<float>(b[0]), 1.0f);
  EXPECT_EQ(static_cast<float>(b[1]), 1.0f + 2 * std::ldexp(1.0f, -7));
  EXPECT_EQ(static_cast<float>(b[2]), 1.0f + std::ldexp(1.0f, -7));
  EXPECT_TRUE(std::isfinite(static_cast<float>(b[3])));
  EXPECT_TRUE(std::isnan(static_cast<float>(b[4])));
  const Half* f16 = h.data<Half>();
  EXPECT_TRUE(std::isinf(static_cast<float>(f16[3])));
  EXPECT_TRUE(std::isinf(static_cast<float>(f16[5])));  // 65520 is the tie above 65504
  EXPECT_EQ(static_cast<float>(f16[6]), 65504.0f);
  // 1e-8 is below half the smallest f16 subnormal (2^-25 ~ 2.98e-8): rounds to 0.
  EXPECT_EQ(f16[7].bits, 0);
}

TEST(CastTest, SameDtypeIsCopyAndSelfCastIsNoOp) {
  const Tensor src = Random(1000, DType::kBF16, 3);
  Tensor dst = Tensor::Empty({1000}, DType::kBF16).value();
  ASSERT_TRUE(Cast(src, dst).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(src, dst));
  Tensor same = src.Clone().value();
  ASSERT_TRUE(Cast(same, same).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(src, same));
}

TEST(CastTest, AccumulateIntoItselfDoubles) {
  Tensor t = Tensor::FromVector<float>({1.5f, -2.0f, 0.25f}, {3}).value();
  ASSERT_TRUE(AccumulateInto(t, t).ok());
  EXPECT_EQ(t.data<float>()[0], 3.0f);
  EXPECT_EQ(t.data<float>()[1], -4.0f);
  EXPECT_EQ(t.data<float>()[2], 0.5f);
}

TEST(CastTest, MultiDimensionalAndViews) {
  const Tensor big = Random(24, DType::kF32, 5).View({4, 6}).value();
  const Tensor rows = big.Slice(0, 1, 3).value();  // contiguous rows 1..2
  Tensor dst = Tensor::Empty({2, 6}, DType::kBF16).value();
  ASSERT_TRUE(Cast(rows, dst).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(dst, ReferenceCast(rows, DType::kBF16)));
}

TEST(CastTest, EmptyIsNoOp) {
  Tensor a = Tensor::Empty({0, 5}, DType::kF32).value();
  Tensor b = Tensor::Empty({0, 5}, DType::kBF16).value();
  EXPECT_TRUE(Cast(a, b).ok());
  EXPECT_TRUE(AccumulateInto(b, a).ok());
}

TEST(CastTest, RejectsBadArguments) {
  Tensor f32 = Tensor::Zeros({4, 3}, DType::kF32).value();
  Tensor bf16 = Tensor::Zeros({4, 3}, DType::kBF16).value();
  Tensor other_shape = Tensor::Zeros({3, 4}, DType::kBF16).value();
  Tensor ints = Tensor::Zeros({4, 3}, DType::kI32).value();
  Tensor strided = f32.Transpose(0, 1).value();
  Tensor bf16_t = Tensor::Zeros({3, 4}, DType::kBF16).value();
  EXPECT_EQ(Cast(f32, other_shape).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Cast(f32, ints).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Cast(ints, f32).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Cast(strided, bf16_t).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Cast(Tensor(), bf16).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AccumulateInto(f32, bf16).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AccumulateInto(ints, f32).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AccumulateInto(other_shape, f32).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CastTest, MixedDevicesAreInvalidAndCudaWithoutGpuIsFailedPrecondition) {
  Tensor f32 = Tensor::Zeros({4}, DType::kF32).value();
  Tensor bf16 = Tensor::Zeros({4}, DType::kBF16).value();
  Tensor fake_f32 = testing::FakeCudaView(f32);
  Tensor fake_bf16 = testing::FakeCudaView(bf16);
  // Rejected by validation before any memory is touched, GPU or not.
  EXPECT_EQ(Cast(f32, fake_bf16).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AccumulateInto(fake_bf16, f32).code(), absl::StatusCode::kInvalidArgument);
  // The fake views must not reach a real GPU (cuda/cast_test.cc covers it).
  if (runtime::cuda::Available()) return;
  EXPECT_EQ(Cast(fake_f32, fake_bf16).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(AccumulateInto(fake_bf16, fake_f32).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace braid::kernels
