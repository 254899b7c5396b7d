#include "runtime/philox.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/tensor.h"

namespace braid::runtime {
namespace {

struct Kat {
  uint32_t counter[4];
  uint32_t key[2];
  uint32_t expected[4];
};

// Random123's kat_vectors for philox4x32 with 10 rounds (counter, key, result),
// the vectors of Salmon et al. 2011.
constexpr Kat kKats[] = {
    {{0x00000000, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000},
     {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

TEST(PhiloxTest, KnownAnswerVectors) {
  for (const Kat& kat : kKats) {
    PhiloxBlock ctr{{kat.counter[0], kat.counter[1], kat.counter[2], kat.counter[3]}};
    PhiloxBlock out = Philox4x32_10(ctr, kat.key[0], kat.key[1]);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(out.v[i], kat.expected[i]) << "lane " << i << " of counter " << std::hex
                                           << kat.counter[0];
    }
  }
}

TEST(PhiloxTest, SeedStreamOffsetLayout) {
  // key = seed (low word first); counter = {offset lo, offset hi, stream lo, stream hi}.
  const uint64_t seed = 0x299f31d0a4093822ull;
  const uint64_t offset = 0x85a308d3243f6a88ull;
  const uint64_t stream = 0x0370734413198a2eull;
  PhiloxBlock out = PhiloxRandom(seed, stream, offset);
  EXPECT_EQ(out.v[0], 0xd16cfe09u);
  EXPECT_EQ(out.v[3], 0x24126ea1u);
  EXPECT_EQ(PhiloxRandom(0, 0, 0).v[0], 0x6627e8d5u);
}

TEST(PhiloxTest, UniformRangeAndMean) {
  std::vector<float> v(1 << 16);
  FillUniformRange(v.data(), 0, v.size(), 42, 0, 0);
  double sum = 0;
  for (float x : v) {
    ASSERT_GE(x, 0.0f);
    ASSERT_LT(x, 1.0f);
    sum += x;
  }
  EXPECT_NEAR(sum / v.size(), 0.5, 0.01);
  EXPECT_EQ(PhiloxUniform(0xffffffffu), 1.0f - std::ldexp(1.0f, -24));
  EXPECT_EQ(PhiloxUniform(0), 0.0f);
  EXPECT_GT(PhiloxUniformNonZero(0), 0.0f);
  EXPECT_EQ(PhiloxUniformNonZero(0xffffffffu), 1.0f);
}

TEST(PhiloxTest, NormalMoments) {
  std::vector<float> v(1 << 16);
  FillNormalRange(v.data(), 0, v.size(), 7, 3, 0);
  double sum = 0, sq = 0;
  for (float x : v) {
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
    sq += static_cast<double>(x) * x;
  }
  const double mean = sum / v.size();
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(sq / v.size() - mean * mean, 1.0, 0.03);
}

TEST(PhiloxTest, ElementAtMatchesRange) {
  std::vector<float> u(37), n(37);
  FillUniformRange(u.data(), 0, u.size(), 1, 2, 3);
  FillNormalRange(n.data(), 0, n.size(), 1, 2, 3);
  for (uint64_t i = 0; i < u.size(); ++i) {
    EXPECT_EQ(u[i], PhiloxUniformAt(1, 2, 3, i));
    EXPECT_EQ(n[i], PhiloxNormalAt(1, 2, 3, i));
  }
}

// Any split of [0, n) into ranges computes the same numbers, as ranks and
// threads do.
TEST(PhiloxTest, ReproducibleAcrossSplits) {
  const uint64_t n = 1003;  // not a multiple of 4: chunks start mid-counter
  for (bool normal : {false, true}) {
    auto fill = normal ? FillNormalRange : FillUniformRange;
    std::vector<float> whole(n), chunks(n);
    fill(whole.data(), 0, n, 1234, 5, 77, 0.0f, 1.0f);
    const uint64_t cuts[] = {0, 1, 250, 251, 666, n};  // 5 uneven chunks
    for (int c = 0; c + 1 < 6; ++c) {
      fill(chunks.data() + cuts[c], cuts[c], cuts[c + 1] - cuts[c], 1234, 5, 77, 0.0f, 1.0f);
    }
    EXPECT_EQ(whole, chunks) << (normal ? "normal" : "uniform");
    // Starting at offset + k counters is the same as skipping 4k elements.
    std::vector<float> shifted(n - 40);
    fill(shifted.data(), 0, shifted.size(), 1234, 5, 77 + 10, 0.0f, 1.0f);
    EXPECT_EQ(std::vector<float>(whole.begin() + 40, whole.end()), shifted);
  }
}

TEST(PhiloxTest, StreamsAndSeedsDiffer) {
  std::vector<float> a(64), b(64), c(64);
  FillUniformRange(a.data(), 0, 64, 1, 0, 0);
  FillUniformRange(b.data(), 0, 64, 1, 1, 0);
  FillUniformRange(c.data(), 0, 64, 2, 0, 0);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(PhiloxCounters(0), 0u);
  EXPECT_EQ(PhiloxCounters(1), 1u);
  EXPECT_EQ(PhiloxCounters(4), 1u);
  EXPECT_EQ(PhiloxCounters(5), 2u);
}

TEST(PhiloxTest, FillTensorMatchesRangeAndSplitsBySlice) {
  absl::StatusOr<Tensor> t = Tensor::Empty({6, 7}, DType::kF32);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(FillUniform(*t, 9, 1, 4, -2.0f, 3.0f).ok());
  std::vector<float> ref(42);
  FillUniformRange(ref.data(), 0, 42, 9, 1, 4, -2.0f, 3.0f);
  EXPECT_EQ(std::vector<float>(t->data<float>(), t->data<float>() + 42), ref);

  // Rows filled separately (as 2 ranks holding 3 rows each would) give the
  // same tensor when each uses its global element range.
  absl::StatusOr<Tensor> split = Tensor::Empty({6, 7}, DType::kF32);
  ASSERT_TRUE(split.ok());
  for (int part = 0; part < 2; ++part) {
    absl::StatusOr<Tensor> rows = split->Slice(0, 3 * part, 3 * part + 3);
    ASSERT_TRUE(rows.ok());
    FillUniformRange(rows->data<float>(), 21 * part, 21, 9, 1, 4, -2.0f, 3.0f);
  }
  EXPECT_TRUE(BitwiseEqual(*t, *split));
}

TEST(PhiloxTest, FillStridedAndHalfTensors) {
  // A transposed view is filled in its own row-major order.
  absl::StatusOr<Tensor> base = Tensor::Zeros({4, 5}, DType::kF32);
  ASSERT_TRUE(base.ok());
  absl::StatusOr<Tensor> view = base->Transpose(0, 1);  // [5, 4], strided
  ASSERT_TRUE(view.ok());
  ASSERT_FALSE(view->is_contiguous());
  ASSERT_TRUE(FillNormal(*view, 3, 0, 0, 1.0f, 2.0f).ok());
  absl::StatusOr<std::vector<double>> got = ToDoubleVector(*view);
  ASSERT_TRUE(got.ok());
  for (uint64_t i = 0; i < 20; ++i) {
    EXPECT_EQ((*got)[i], 1.0f + 2.0f * PhiloxNormalAt(3, 0, 0, i)) << i;
  }

  for (DType dtype : {DType::kF16, DType::kBF16}) {
    absl::StatusOr<Tensor> h = Tensor::Empty({33}, dtype);
    ASSERT_TRUE(h.ok());
    ASSERT_TRUE(FillUniform(*h, 5, 0, 0).ok());
    absl::StatusOr<std::vector<double>> hv = ToDoubleVector(*h);
    ASSERT_TRUE(hv.ok());
    for (uint64_t i = 0; i < 33; ++i) {
      const float f = PhiloxUniformAt(5, 0, 0, i);
      const double expected = dtype == DType::kF16 ? static_cast<float>(Half(f))
                                                   : static_cast<float>(BFloat16(f));
      EXPECT_EQ((*hv)[i], expected) << ToString(dtype) << " element " << i;
    }
  }
}

TEST(PhiloxTest, FillErrors) {
  absl::StatusOr<Tensor> i32 = Tensor::Empty({4}, DType::kI32);
  ASSERT_TRUE(i32.ok());
  EXPECT_EQ(FillUniform(*i32, 0, 0, 0).code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Tensor> f = Tensor::Empty({4}, DType::kF32);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(FillUniform(*f, 0, 0, 0, 2.0f, 1.0f).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FillNormal(*f, 0, 0, 0, 0.0f, -1.0f).code(), absl::StatusCode::kInvalidArgument);
  Tensor undefined;
  EXPECT_EQ(FillNormal(undefined, 0, 0, 0).code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Tensor> empty = Tensor::Empty({0, 3}, DType::kF32);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(FillNormal(*empty, 0, 0, 0).ok());
}

}  // namespace
}  // namespace braid::runtime
