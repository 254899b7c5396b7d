// Half and BFloat16 conversions checked against independent references
// written from the IEEE 754 definitions with doubles (value of every bit
// pattern; nearest representable value with ties to the even pattern).
#include "runtime/half.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "gtest/gtest.h"

namespace braid::runtime {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// The value of a binary16 bit pattern, from the definition.
double HalfValue(uint16_t b) {
  const int exp = (b >> 10) & 0x1f;
  const int mant = b & 0x3ff;
  const double sign = (b & 0x8000) ? -1.0 : 1.0;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant != 0 ? std::nan("") : sign * INFINITY;
  return sign * std::ldexp(1024 + mant, exp - 25);
}

// Round-to-nearest-even to binary16: the nearest finite half (patterns
// 0..0x7bff are ordered by value), ties to the even pattern, and at or
// beyond 65520 (the midpoint between 65504 and 2^16) infinity.
uint16_t ReferenceHalf(float f) {
  if (std::isnan(f)) return 0x7e00;
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double x = std::fabs(static_cast<double>(f));
  if (x >= 65520.0) return sign | 0x7c00;
  uint32_t lo = 0, hi = 0x7bff;  // largest b with HalfValue(b) <= x
  while (lo < hi) {
    const uint32_t mid = (lo + hi + 1) / 2;
    if (HalfValue(static_cast<uint16_t>(mid)) <= x) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const double below = HalfValue(static_cast<uint16_t>(lo));
  if (below == x || lo == 0x7bff) return static_cast<uint16_t>(sign | lo);
  const double above = HalfValue(static_cast<uint16_t>(lo + 1));
  uint32_t pick;
  if (x - below < above - x) {
    pick = lo;
  } else if (x - below > above - x) {
    pick = lo + 1;
  } else {
    pick = (lo % 2 == 0) ? lo : lo + 1;
  }
  return static_cast<uint16_t>(sign | pick);
}

// Round-to-nearest-even to bfloat16 from the definition: pick the nearer of
// the two neighbouring bfloat16 values (ties to the even mantissa).
uint16_t ReferenceBFloat16(float f) {
  if (std::isnan(f)) return 0x7fc0;  // any NaN; compared as NaN below
  const uint32_t u = Bits(f);
  const uint32_t sign = u & 0x80000000u;
  const uint32_t mag = u & 0x7fffffffu;
  const uint32_t lo = mag & 0xffff0000u;
  if (lo == mag) return static_cast<uint16_t>((sign | lo) >> 16);
  const uint32_t hi = lo + 0x10000u;
  const double x = std::fabs(static_cast<double>(f));
  const double dlo = static_cast<double>(FromBits(lo));
  const double dhi = hi >= 0x7f800000u ? std::ldexp(1.0, 128) : static_cast<double>(FromBits(hi));
  uint32_t pick;
  if (x - dlo < dhi - x) {
    pick = lo;
  } else if (x - dlo > dhi - x) {
    pick = hi;
  } else {
    pick = ((lo >> 16) & 1u) == 0 ? lo : hi;
  }
  return static_cast<uint16_t>((sign | pick) >> 16);
}

void ExpectSameHalf(uint16_t got, uint16_t want, float f) {
  const bool got_nan = (got & 0x7c00) == 0x7c00 && (got & 0x3ff) != 0;
  const bool want_nan = (want & 0x7c00) == 0x7c00 && (want & 0x3ff) != 0;
  if (want_nan) {
    EXPECT_TRUE(got_nan) << std::hexfloat << f;
  } else {
    ASSERT_EQ(got, want) << std::hexfloat << f << " bits 0x" << std::hex << Bits(f);
  }
}

// Every half bit pattern survives half -> float -> half, and ToFloat agrees
// with the reference conversion.
TEST(HalfTest, ExhaustiveRoundTrip) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint16_t bits = static_cast<uint16_t>(b);
    const float f = Half::ToFloat(bits);
    if ((bits & 0x7c00) == 0x7c00 && (bits & 0x3ff) != 0) {
      EXPECT_TRUE(std::isnan(f)) << b;
      EXPECT_TRUE(std::isnan(Half::ToFloat(Half::FromFloat(f)))) << b;
      continue;
    }
    ASSERT_EQ(static_cast<double>(f), HalfValue(bits)) << "half 0x" << std::hex << b;
    ASSERT_EQ(std::signbit(f), (bits & 0x8000) != 0) << "half 0x" << std::hex << b;
    ASSERT_EQ(Half::FromFloat(f), bits) << "half 0x" << std::hex << b;
  }
}

TEST(BFloat16Test, ExhaustiveRoundTrip) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint16_t bits = static_cast<uint16_t>(b);
    const float f = BFloat16::ToFloat(bits);
    EXPECT_EQ(Bits(f), b << 16);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(BFloat16::ToFloat(BFloat16::FromFloat(f)))) << b;
    } else {
      ASSERT_EQ(BFloat16::FromFloat(f), bits) << std::hex << b;
    }
  }
}

// Rounding of floats that are not representable: every midpoint between two
// neighbouring half values (the ties), and one float ulp either side, for
// every half value; plus a stride through all float bit patterns.
TEST(HalfTest, RoundsToNearestEvenEverywhere) {
  for (uint32_t b = 0; b < 0x7c00; ++b) {  // positive finite halves
    for (float sign : {1.0f, -1.0f}) {
      const double lo = Half::ToFloat(static_cast<uint16_t>(b));
      const double hi = b + 1 == 0x7c00 ? 65536.0 : Half::ToFloat(static_cast<uint16_t>(b + 1));
      const float mid = static_cast<float>((lo + hi) / 2);  // exact in float
      ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
      for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f)}) {
        ExpectSameHalf(Half::FromFloat(sign * f), ReferenceHalf(sign * f), sign * f);
      }
    }
  }
  for (uint64_t u = 0; u < (uint64_t{1} << 32); u += 4093) {
    const float f = FromBits(static_cast<uint32_t>(u));
    ExpectSameHalf(Half::FromFloat(f), ReferenceHalf(f), f);
  }
}

TEST(HalfTest, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Half::FromFloat(inf), 0x7c00);
  EXPECT_EQ(Half::FromFloat(-inf), 0xfc00);
  EXPECT_EQ(Half::FromFloat(65504.0f), 0x7bff);           // largest half
  EXPECT_EQ(Half::FromFloat(65519.99f), 0x7bff);          // below the midpoint
  EXPECT_EQ(Half::FromFloat(65520.0f), 0x7c00);           // tie -> even -> inf
  EXPECT_EQ(Half::FromFloat(1e10f), 0x7c00);
  EXPECT_EQ(Half::FromFloat(0.0f), 0x0000);
  EXPECT_EQ(Half::FromFloat(-0.0f), 0x8000);
  EXPECT_EQ(Half::FromFloat(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(Half::FromFloat(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even -> 0
  EXPECT_EQ(Half::FromFloat(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(Half::FromFloat(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp tie -> even 2
  EXPECT_EQ(Half::FromFloat(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(Half::FromFloat(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie -> even
  EXPECT_EQ(Half::FromFloat(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  const uint16_t nan = Half::FromFloat(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x3ff, 0);
  EXPECT_EQ(Half::ToFloat(0x7c00), inf);
  EXPECT_EQ(Half::ToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(static_cast<float>(Half(2.5f)), 2.5f);
}

TEST(BFloat16Test, RoundsToNearestEvenEverywhere) {
  for (uint64_t u = 0; u < (uint64_t{1} << 32); u += 997) {
    const float f = FromBits(static_cast<uint32_t>(u));
    const uint16_t got = BFloat16::FromFloat(f);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(BFloat16::ToFloat(got))) << std::hex << u;
    } else {
      ASSERT_EQ(got, ReferenceBFloat16(f)) << std::hex << u;
    }
  }
  // Ties and their neighbours for every bfloat16 value.
  for (uint32_t b = 0; b < 0x7f80; ++b) {
    const uint32_t mid = (b << 16) | 0x8000u;
    for (uint32_t m : {mid - 1, mid, mid + 1, mid | 0x80000000u}) {
      const float f = FromBits(m);
      ASSERT_EQ(BFloat16::FromFloat(f), ReferenceBFloat16(f)) << std::hex << m;
    }
  }
}

TEST(BFloat16Test, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(BFloat16::FromFloat(inf), 0x7f80);
  EXPECT_EQ(BFloat16::FromFloat(-inf), 0xff80);
  EXPECT_EQ(BFloat16::FromFloat(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to inf
  EXPECT_EQ(BFloat16::FromFloat(-0.0f), 0x8000);
  EXPECT_EQ(BFloat16::FromFloat(FromBits(0x00010000u)), 0x0001);  // subnormal kept
  EXPECT_EQ(BFloat16::FromFloat(FromBits(0x00008000u)), 0x0000);  // tie -> even
  EXPECT_EQ(BFloat16::FromFloat(FromBits(0x00018000u)), 0x0002);  // tie -> even
  EXPECT_EQ(BFloat16::FromFloat(1.0f), 0x3f80);
  // A NaN whose payload lives only in the low bits must stay NaN, not inf.
  const uint16_t nan = BFloat16::FromFloat(FromBits(0x7f800001u));
  EXPECT_TRUE(std::isnan(BFloat16::ToFloat(nan)));
  EXPECT_TRUE(std::isnan(BFloat16::ToFloat(BFloat16::FromFloat(FromBits(0xff800001u)))));
  EXPECT_EQ(static_cast<float>(BFloat16(3.0f)), 3.0f);
}

}  // namespace
}  // namespace braid::runtime
