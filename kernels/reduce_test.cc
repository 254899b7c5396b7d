// Tests for kernels/reduce.h (CPU): every dtype x op x size against a plain
// scalar reference, in-place aliasing, NaN propagation, integer wrap-around,
// avg division and argument errors.
#include "kernels/reduce.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/cpu/reduce.h"
#include "runtime/dtype.h"
#include "runtime/half.h"

namespace braid::kernels {
namespace {

using runtime::BFloat16;
using runtime::DType;
using runtime::Half;

// Bytes of `count` random elements. 16-bit floats get random bit patterns
// (so subnormals, infinities and NaNs all occur); f32 gets random values in
// [-100, 100]; integers get values across their full range.
std::vector<uint8_t> RandomBuffer(DType dtype, int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(static_cast<size_t>(count) * runtime::SizeOf(dtype));
  runtime::VisitDType(dtype, [&]<typename T>() {
    T* p = reinterpret_cast<T*>(bytes.data());
    for (int64_t i = 0; i < count; ++i) {
      if constexpr (std::is_same_v<T, float>) {
        p[i] = std::uniform_real_distribution<float>(-100.0f, 100.0f)(rng);
      } else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
        p[i] = T::FromBits(static_cast<uint16_t>(rng()));
      } else if constexpr (std::is_same_v<T, int64_t>) {
        p[i] = static_cast<int64_t>((static_cast<uint64_t>(rng()) << 32) | rng());
      } else {
        p[i] = static_cast<T>(rng());
      }
    }
  });
  return bytes;
}

// Plain scalar reference, written independently of kernels/math.
template <typename T>
T ReferenceOp(T x, T y, ReduceKind kind) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return T(ReferenceOp<float>(static_cast<float>(x), static_cast<float>(y), kind));
  } else if constexpr (std::is_same_v<T, float>) {
    switch (kind) {
      case ReduceKind::kSum:
        return x + y;
      case ReduceKind::kProd:
        return x * y;
      case ReduceKind::kMin:
        if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<float>::quiet_NaN();
        return std::min(x, y);
      case ReduceKind::kMax:
        if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<float>::quiet_NaN();
        return std::max(x, y);
    }
    return 0;
  } else {
    using U = std::make_unsigned_t<T>;
    switch (kind) {
      case ReduceKind::kSum:
        return static_cast<T>(static_cast<U>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y)));
      case ReduceKind::kProd:
        return static_cast<T>(static_cast<U>(static_cast<uint64_t>(x) * static_cast<uint64_t>(y)));
      case ReduceKind::kMin:
        return std::min(x, y);
      case ReduceKind::kMax:
        return std::max(x, y);
    }
    return 0;
  }
}

// Element i of two buffers equal: bitwise, or both NaN for floats.
template <typename T>
bool SameElement(T x, T y) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    const float fx = static_cast<float>(x), fy = static_cast<float>(y);
    if (std::isnan(fx) || std::isnan(fy)) return std::isnan(fx) && std::isnan(fy);
    return x.bits == y.bits;
  } else if constexpr (std::is_same_v<T, float>) {
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
    return std::memcmp(&x, &y, sizeof(T)) == 0;
  } else {
    return x == y;
  }
}

// Number of mismatching elements (reports the first few).
int64_t Mismatches(DType dtype, const void* got, const void* want, int64_t count,
                   const std::string& what) {
  int64_t bad = 0;
  runtime::VisitDType(dtype, [&]<typename T>() {
    const T* g = static_cast<const T*>(got);
    const T* w = static_cast<const T*>(want);
    for (int64_t i = 0; i < count; ++i) {
      if (!SameElement(g[i], w[i])) {
        if (++bad <= 3) {
          ADD_FAILURE() << what << ": element " << i << " differs: got "
                        << static_cast<double>(static_cast<float>(g[i])) << " want "
                        << static_cast<double>(static_cast<float>(w[i]));
        }
      }
    }
  });
  return bad;
}

std::vector<uint8_t> Reference(DType dtype, const std::vector<uint8_t>& a,
                               const std::vector<uint8_t>& b, int64_t count, ReduceKind kind) {
  std::vector<uint8_t> out(a.size());
  runtime::VisitDType(dtype, [&]<typename T>() {
    const T* pa = reinterpret_cast<const T*>(a.data());
    const T* pb = reinterpret_cast<const T*>(b.data());
    T* po = reinterpret_cast<T*>(out.data());
    for (int64_t i = 0; i < count; ++i) po[i] = ReferenceOp<T>(pa[i], pb[i], kind);
  });
  return out;
}

class ReduceTest : public ::testing::TestWithParam<std::tuple<DType, ReduceKind, int64_t>> {};

TEST_P(ReduceTest, MatchesReferenceInEveryAliasing) {
  const auto [dtype, kind, count] = GetParam();
  const std::string name =
      absl::StrCat(runtime::ToString(dtype), " ", ToString(kind), " n=", count);
  const std::vector<uint8_t> a = RandomBuffer(dtype, count, 1234);
  const std::vector<uint8_t> b = RandomBuffer(dtype, count, 5678);
  const std::vector<uint8_t> want = Reference(dtype, a, b, count, kind);

  // ReduceInto: dst = dst op src.
  std::vector<uint8_t> dst = a;
  ASSERT_TRUE(ReduceInto(dst.data(), b.data(), count, dtype, kind).ok());
  EXPECT_EQ(Mismatches(dtype, dst.data(), want.data(), count, "ReduceInto " + name), 0);

  // ReduceTo out of place; a and b untouched.
  std::vector<uint8_t> out(a.size(), 0xab);
  ASSERT_TRUE(ReduceTo(out.data(), a.data(), b.data(), count, dtype, kind).ok());
  EXPECT_EQ(Mismatches(dtype, out.data(), want.data(), count, "ReduceTo " + name), 0);

  // ReduceTo with dst == b (operand order must be kept: a op b).
  std::vector<uint8_t> right = b;
  ASSERT_TRUE(ReduceTo(right.data(), a.data(), right.data(), count, dtype, kind).ok());
  EXPECT_EQ(Mismatches(dtype, right.data(), want.data(), count, "ReduceTo dst==b " + name), 0);

  // dst == a == b.
  const std::vector<uint8_t> want_self = Reference(dtype, a, a, count, kind);
  std::vector<uint8_t> self = a;
  ASSERT_TRUE(ReduceTo(self.data(), self.data(), self.data(), count, dtype, kind).ok());
  EXPECT_EQ(Mismatches(dtype, self.data(), want_self.data(), count, "ReduceTo self " + name), 0);

  // The baseline-ISA loops (what a CPU without AVX2 runs), in place and out.
  std::vector<uint8_t> base = a;
  cpu::ReduceToBaseline(base.data(), base.data(), b.data(), count, dtype, kind);
  EXPECT_EQ(Mismatches(dtype, base.data(), want.data(), count, "baseline into " + name), 0);
  std::vector<uint8_t> base_out(a.size());
  cpu::ReduceToBaseline(base_out.data(), a.data(), b.data(), count, dtype, kind);
  EXPECT_EQ(Mismatches(dtype, base_out.data(), want.data(), count, "baseline to " + name), 0);
}

INSTANTIATE_TEST_SUITE_P(AllDTypesOpsSizes, ReduceTest,
                         ::testing::Combine(::testing::ValuesIn(runtime::kAllDTypes),
                                            ::testing::ValuesIn(kAllReduceKinds),
                                            ::testing::Values<int64_t>(0, 1, 7, 33, 513, 100003)),
                         [](const auto& info) {
                           return absl::StrCat(runtime::ToString(std::get<0>(info.param)), "_",
                                               ToString(std::get<1>(info.param)), "_",
                                               std::get<2>(info.param));
                         });

TEST(ReduceTest, MisalignedBuffersAndOddCounts) {
  // Offsets of one element from the allocation start and a count that leaves
  // a tail for every vector width.
  for (DType dtype : runtime::kAllDTypes) {
    const int64_t count = 1021;
    const size_t es = runtime::SizeOf(dtype);
    const std::vector<uint8_t> a = RandomBuffer(dtype, count + 1, 11);
    const std::vector<uint8_t> b = RandomBuffer(dtype, count + 2, 12);
    std::vector<uint8_t> a_view(a.begin() + es, a.end());
    std::vector<uint8_t> b_view(b.begin() + 2 * es, b.end());
    const std::vector<uint8_t> want = Reference(dtype, a_view, b_view, count, ReduceKind::kSum);
    std::vector<uint8_t> dst = a;
    ASSERT_TRUE(
        ReduceInto(dst.data() + es, b.data() + 2 * es, count, dtype, ReduceKind::kSum).ok());
    EXPECT_EQ(Mismatches(dtype, dst.data() + es, want.data(), count,
                         absl::StrCat("misaligned ", runtime::ToString(dtype))),
              0);
    EXPECT_EQ(std::memcmp(dst.data(), a.data(), es), 0) << "wrote before the buffer";
  }
}

TEST(ReduceTest, SixteenBitRoundingMatchesScalarForEveryBitPattern) {
  // a runs over all 65536 bit patterns, b over the same rotated, so every
  // value meets many partners; checks the vectorised conversions (F16C, the
  // bf16 pair loop) against runtime::Half/BFloat16 element by element.
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    std::vector<uint8_t> a(65536 * 2);
    for (uint32_t i = 0; i < 65536; ++i) {
      const uint16_t bits = static_cast<uint16_t>(i);
      std::memcpy(a.data() + 2 * i, &bits, 2);
    }
    for (uint32_t rotation : {1u, 12345u, 40000u}) {
      std::vector<uint8_t> b(a.size());
      for (uint32_t i = 0; i < 65536; ++i) {
        std::memcpy(b.data() + 2 * i, a.data() + 2 * ((i + rotation) % 65536), 2);
      }
      for (ReduceKind kind : kAllReduceKinds) {
        const std::vector<uint8_t> want = Reference(dtype, a, b, 65536, kind);
        std::vector<uint8_t> got(a.size());
        ASSERT_TRUE(ReduceTo(got.data(), a.data(), b.data(), 65536, dtype, kind).ok());
        EXPECT_EQ(Mismatches(dtype, got.data(), want.data(), 65536,
                             absl::StrCat(runtime::ToString(dtype), " ", ToString(kind), " rot ",
                                          rotation)),
                  0);
      }
    }
  }
}

TEST(ReduceTest, FloatMinMaxPropagateNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> a = {1.0f, nan, 3.0f, nan, -0.5f};
  std::vector<float> b = {nan, 2.0f, 1.0f, nan, -1.5f};
  for (ReduceKind kind : {ReduceKind::kMin, ReduceKind::kMax}) {
    std::vector<float> out(a.size());
    ASSERT_TRUE(ReduceTo(out.data(), a.data(), b.data(), 5, DType::kF32, kind).ok());
    EXPECT_TRUE(std::isnan(out[0]) && std::isnan(out[1]) && std::isnan(out[3])) << ToString(kind);
    EXPECT_EQ(out[2], kind == ReduceKind::kMin ? 1.0f : 3.0f);
    EXPECT_EQ(out[4], kind == ReduceKind::kMin ? -1.5f : -0.5f);
  }
  std::vector<BFloat16> ha = {BFloat16(1.0f), BFloat16(nan)};
  std::vector<BFloat16> hb = {BFloat16(nan), BFloat16(2.0f)};
  ASSERT_TRUE(ReduceInto(ha.data(), hb.data(), 2, DType::kBF16, ReduceKind::kMax).ok());
  EXPECT_TRUE(std::isnan(static_cast<float>(ha[0])) && std::isnan(static_cast<float>(ha[1])));
}

TEST(ReduceTest, IntegerSumAndProdWrapAround) {
  std::vector<int32_t> a = {std::numeric_limits<int32_t>::max(),
                            std::numeric_limits<int32_t>::min()};
  std::vector<int32_t> b = {1, -1};
  ASSERT_TRUE(ReduceInto(a.data(), b.data(), 2, DType::kI32, ReduceKind::kSum).ok());
  EXPECT_EQ(a[0], std::numeric_limits<int32_t>::min());
  EXPECT_EQ(a[1], std::numeric_limits<int32_t>::max());
  std::vector<uint8_t> u = {200, 16};
  std::vector<uint8_t> v = {100, 16};
  ASSERT_TRUE(ReduceInto(u.data(), v.data(), 2, DType::kU8, ReduceKind::kSum).ok());
  EXPECT_EQ(u[0], 44);
  ASSERT_TRUE(ReduceInto(v.data(), v.data(), 2, DType::kU8, ReduceKind::kProd).ok());
  EXPECT_EQ(v[0], static_cast<uint8_t>(100 * 100));
  EXPECT_EQ(v[1], 0);
  std::vector<int64_t> l = {std::numeric_limits<int64_t>::max()};
  std::vector<int64_t> two = {2};
  ASSERT_TRUE(ReduceInto(l.data(), two.data(), 1, DType::kI64, ReduceKind::kProd).ok());
  EXPECT_EQ(l[0], -2);
}

TEST(ReduceTest, HalfRoundsOnceToNearestEven) {
  // 1 + 2^-11 is exactly halfway between two halves: ties to even (1.0);
  // 1 + 3 * 2^-11 rounds up to 1 + 2^-9... computed in f32 and rounded once.
  std::vector<Half> a = {Half(1.0f), Half(1.0f), Half(65504.0f), Half(6.0e-8f)};
  std::vector<Half> b = {Half(std::ldexp(1.0f, -11)), Half(3.0f * std::ldexp(1.0f, -11)),
                         Half(65504.0f), Half(6.0e-8f)};
  ASSERT_TRUE(ReduceInto(a.data(), b.data(), 4, DType::kF16, ReduceKind::kSum).ok());
  EXPECT_EQ(static_cast<float>(a[0]), 1.0f);
  EXPECT_EQ(static_cast<float>(a[1]), 1.0f + std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isinf(static_cast<float>(a[2])));
  EXPECT_EQ(a[3].bits, Half(static_cast<float>(Half(6.0e-8f)) * 2.0f).bits);  // subnormal
}

TEST(ReduceTest, DivideInPlaceEveryDType) {
  for (DType dtype : runtime::kAllDTypes) {
    for (int64_t divisor : {int64_t{1}, int64_t{3}, int64_t{8}, int64_t{1000000007}}) {
      const int64_t count = 1003;
      std::vector<uint8_t> buf = RandomBuffer(dtype, count, 99);
      std::vector<uint8_t> want = buf;
      runtime::VisitDType(dtype, [&]<typename T>() {
        T* w = reinterpret_cast<T*>(want.data());
        for (int64_t i = 0; i < count; ++i) {
          if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
            w[i] = T(static_cast<float>(w[i]) / static_cast<float>(divisor));
          } else if constexpr (std::is_same_v<T, float>) {
            w[i] = w[i] / static_cast<float>(divisor);
          } else {
            w[i] = static_cast<T>(static_cast<int64_t>(w[i]) / divisor);  // truncates toward 0
          }
        }
      });
      std::vector<uint8_t> base = buf;
      ASSERT_TRUE(DivideInPlace(buf.data(), count, dtype, divisor).ok());
      EXPECT_EQ(Mismatches(dtype, buf.data(), want.data(), count,
                           absl::StrCat("divide ", runtime::ToString(dtype), " by ", divisor)),
                0);
      cpu::DivideInPlaceBaseline(base.data(), count, dtype, divisor);
      EXPECT_EQ(Mismatches(dtype, base.data(), want.data(), count,
                           absl::StrCat("baseline divide ", runtime::ToString(dtype))),
                0);
    }
  }
  std::vector<int32_t> neg = {-7, 7, -1, std::numeric_limits<int32_t>::min()};
  ASSERT_TRUE(DivideInPlace(neg.data(), 4, DType::kI32, 2).ok());
  EXPECT_EQ(neg, (std::vector<int32_t>{-3, 3, 0, std::numeric_limits<int32_t>::min() / 2}));
}

TEST(ReduceTest, RejectsBadArguments) {
  float x = 1.0f;
  EXPECT_EQ(ReduceInto(&x, &x, -1, DType::kF32, ReduceKind::kSum).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReduceTo(&x, nullptr, &x, 1, DType::kF32, ReduceKind::kSum).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DivideInPlace(&x, 1, DType::kF32, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DivideInPlace(&x, 1, DType::kF32, -2).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(x, 1.0f) << "a rejected call must not write";
  // count 0 accepts null pointers.
  EXPECT_TRUE(ReduceInto(nullptr, nullptr, 0, DType::kF32, ReduceKind::kSum).ok());
  EXPECT_TRUE(DivideInPlace(nullptr, 0, DType::kI64, 3).ok());
}

TEST(ReduceTest, KindNames) {
  EXPECT_EQ(ToString(ReduceKind::kSum), "sum");
  EXPECT_EQ(ToString(ReduceKind::kProd), "prod");
  EXPECT_EQ(ToString(ReduceKind::kMin), "min");
  EXPECT_EQ(ToString(ReduceKind::kMax), "max");
}

}  // namespace
}  // namespace braid::kernels
