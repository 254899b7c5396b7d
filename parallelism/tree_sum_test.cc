#include "parallelism/tree_sum.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/tensor.h"

namespace braid::parallelism {
namespace {

using runtime::DType;
using runtime::Tensor;

// Leaves whose sums depend on the grouping in f32.
float Leaf(int i, int e) {
  const float big[] = {1e8f, 3.0f, -1e8f, 7.0f, 0.1f, 2.5e7f, -3.3f, 11.0f};
  return big[(i + e) % 8] * (1.0f + 0.125f * static_cast<float>(i));
}

// The tree of tree_sum.h, written as plain recursion.
float Reference(const std::vector<float>& v, int lo, int n) {
  if (n == 1) return v[lo];
  int h = 1;
  while (h * 2 < n) h *= 2;
  return Reference(v, lo, h) + Reference(v, lo + h, n - h);
}

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

TEST(TreeSumChunksTest, MatchesTheReferenceTree) {
  const int64_t chunk = 8;
  for (int n = 1; n <= 9; ++n) {
    Tensor buf = *Tensor::Empty({n * chunk}, DType::kF32);
    for (int i = 0; i < n; ++i) {
      for (int e = 0; e < chunk; ++e) buf.data<float>()[i * chunk + e] = Leaf(i, e);
    }
    ASSERT_TRUE(TreeSumChunks(buf, n, chunk).ok());
    for (int e = 0; e < chunk; ++e) {
      std::vector<float> leaves;
      for (int i = 0; i < n; ++i) leaves.push_back(Leaf(i, e));
      EXPECT_EQ(Bits(buf.data<float>()[e]), Bits(Reference(leaves, 0, n))) << "n=" << n;
    }
  }
}

TEST(TreeAccumulatorTest, BinaryCounterIsTheSameTree) {
  const int64_t numel = 8;
  for (int n = 1; n <= 9; ++n) {
    TreeAccumulator acc(numel, runtime::Device::Cpu());
    Tensor current = *Tensor::Zeros({numel}, DType::kF32);
    for (int i = 0; i < n; ++i) {
      if (i > 0) {
        auto next = acc.Push(current);
        ASSERT_TRUE(next.ok()) << next.status();
        current = *next;
        for (int e = 0; e < numel; ++e) ASSERT_EQ(current.data<float>()[e], 0.0f);
      }
      for (int e = 0; e < numel; ++e) current.data<float>()[e] += Leaf(i, e);
    }
    // Fold in two disjoint ranges, as buckets do.
    ASSERT_TRUE(acc.FoldInto(current, 0, 3).ok());
    ASSERT_TRUE(acc.FoldInto(current, 3, numel).ok());
    for (int e = 0; e < numel; ++e) {
      std::vector<float> leaves;
      for (int i = 0; i < n; ++i) leaves.push_back(Leaf(i, e));
      EXPECT_EQ(Bits(current.data<float>()[e]), Bits(Reference(leaves, 0, n))) << "n=" << n;
    }
    // At most log2(n) + 2 buffers for n leaves.
    int log2 = 0;
    while ((1 << log2) < n) ++log2;
    EXPECT_LE(acc.buffers_allocated(), log2 + 2) << "n=" << n;
  }
}

TEST(TreeAccumulatorTest, RankBlocksComposeToTheGlobalTree) {
  // 8 leaves: one accumulator of 8 == 4 ranks x 2 leaves, then the ranks'
  // partials summed with TreeSumChunks == 2 ranks x 4.
  const int64_t numel = 8;
  auto run = [&](int ranks) {
    const int per = 8 / ranks;
    Tensor partials = *Tensor::Empty({ranks * numel}, DType::kF32);
    for (int r = 0; r < ranks; ++r) {
      TreeAccumulator acc(numel, runtime::Device::Cpu());
      Tensor current = *Tensor::Zeros({numel}, DType::kF32);
      for (int i = 0; i < per; ++i) {
        if (i > 0) current = *acc.Push(current);
        for (int e = 0; e < numel; ++e) current.data<float>()[e] += Leaf(r * per + i, e);
      }
      EXPECT_TRUE(acc.FoldInto(current, 0, numel).ok());
      std::memcpy(partials.data<float>() + r * numel, current.data<float>(), numel * 4);
    }
    EXPECT_TRUE(TreeSumChunks(partials, ranks, numel).ok());
    std::vector<uint32_t> bits;
    for (int e = 0; e < numel; ++e) bits.push_back(Bits(partials.data<float>()[e]));
    return bits;
  };
  const auto one = run(1);
  EXPECT_EQ(one, run(2));
  EXPECT_EQ(one, run(4));
  EXPECT_EQ(one, run(8));
  // And the grouping matters for these leaves: a left-to-right sum differs.
  bool differs = false;
  for (int e = 0; e < numel; ++e) {
    float s = 0;
    for (int i = 0; i < 8; ++i) s += Leaf(i, e);
    differs |= Bits(s) != one[e];
  }
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace braid::parallelism
