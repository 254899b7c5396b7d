#include "kernels/attention.h"

#include <cmath>

#include "gtest/gtest.h"
#include "kernels/testing/device.h"
#include "kernels/testing/gradcheck.h"

namespace braid::kernels {
namespace {

using runtime::DType;
using runtime::Tensor;
using testing::RandomTensor;
using testing::Values;
using testing::ZerosTensor;

struct Ref {
  std::vector<double> o, lse;
};

// Naive attention in double; q [B,H,Tq,D], k/v [B,H,Tk,D].
Ref AttentionRef(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opt) {
  const int64_t bh = q.dim(0) * q.dim(1), tq = q.dim(2), tk = k.dim(2), d = q.dim(3);
  const double scale = opt.scale > 0 ? opt.scale : 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> qv = Values(q), kv = Values(k), vv = Values(v);
  Ref ref{std::vector<double>(qv.size(), 0.0), std::vector<double>(bh * tq, -INFINITY)};
  for (int64_t h = 0; h < bh; ++h) {
    for (int64_t i = 0; i < tq; ++i) {
      std::vector<double> s(tk, -INFINITY);
      double m = -INFINITY;
      for (int64_t j = 0; j < tk; ++j) {
        if (opt.causal && opt.k_offset + j > opt.q_offset + i) continue;
        double dot = 0.0;
        for (int64_t x = 0; x < d; ++x) dot += qv[(h * tq + i) * d + x] * kv[(h * tk + j) * d + x];
        s[j] = dot * scale;
        m = std::max(m, s[j]);
      }
      if (m == -INFINITY) continue;
      double sum = 0.0;
      for (int64_t j = 0; j < tk; ++j) sum += std::exp(s[j] - m);
      ref.lse[h * tq + i] = m + std::log(sum);
      for (int64_t j = 0; j < tk; ++j) {
        const double p = std::exp(s[j] - m) / sum;
        for (int64_t x = 0; x < d; ++x) ref.o[(h * tq + i) * d + x] += p * vv[(h * tk + j) * d + x];
      }
    }
  }
  return ref;
}

struct Qkv {
  Qkv(int64_t b, int64_t h, int64_t tq, int64_t tk, int64_t d, DType dtype = DType::kF32,
      uint32_t seed = 1)
      : q(RandomTensor({b, h, tq, d}, seed, dtype)),
        k(RandomTensor({b, h, tk, d}, seed + 1, dtype)),
        v(RandomTensor({b, h, tk, d}, seed + 2, dtype)),
        o(ZerosTensor({b, h, tq, d}, dtype)),
        lse(ZerosTensor({b, h, tq})) {}
  absl::Status Forward(const AttentionOptions& opt) {
    return AttentionForward(q, k, v, opt, o, lse);
  }
  Tensor q, k, v, o, lse;
};

// Keys [start, end) of `t` along dim 2, as a contiguous copy.
Tensor KeySlice(const Tensor& t, int64_t start, int64_t end) {
  absl::StatusOr<Tensor> s = t.Slice(2, start, end);
  EXPECT_TRUE(s.ok());
  absl::StatusOr<Tensor> c = s->Clone();
  EXPECT_TRUE(c.ok());
  return *c;
}

TEST(AttentionTest, ForwardMatchesReference) {
  for (bool causal : {false, true}) {
    // Tq = 70 spans two 64-row query blocks of the CPU implementation.
    Qkv t(2, 2, 70, 70, 8);
    AttentionOptions opt;
    opt.causal = causal;
    ASSERT_TRUE(t.Forward(opt).ok());
    Ref ref = AttentionRef(t.q, t.k, t.v, opt);
    EXPECT_TRUE(testing::ValuesClose(Values(t.o), ref.o, 1e-5, 1e-4)) << causal;
    EXPECT_TRUE(testing::ValuesClose(Values(t.lse), ref.lse, 1e-5, 1e-5)) << causal;
  }
}

TEST(AttentionTest, CausalMaskUsesAbsolutePositions) {
  // Queries at positions 10..13, keys at 8..15, explicit scale.
  Qkv t(1, 3, 4, 8, 5);
  AttentionOptions opt;
  opt.q_offset = 10;
  opt.k_offset = 8;
  opt.scale = 0.3f;
  ASSERT_TRUE(t.Forward(opt).ok());
  Ref ref = AttentionRef(t.q, t.k, t.v, opt);
  EXPECT_TRUE(testing::ValuesClose(Values(t.o), ref.o, 1e-5, 1e-4));
  EXPECT_TRUE(testing::ValuesClose(Values(t.lse), ref.lse, 1e-5, 1e-5));
  // Query 10 sees keys 8..10 only: changing key 11 (index 3) must not move it.
  std::vector<double> o_before = Values(t.o);
  t.k.data<float>()[3 * 5] += 5.0f;  // head 0, key index 3
  ASSERT_TRUE(t.Forward(opt).ok());
  std::vector<double> o_after = Values(t.o);
  for (int x = 0; x < 5; ++x) EXPECT_EQ(o_before[x], o_after[x]);
}

TEST(AttentionTest, FullyMaskedRowsAreEmpty) {
  // Keys all later than every query: nothing is visible.
  Qkv t(1, 1, 3, 4, 2);
  AttentionOptions opt;
  opt.q_offset = 0;
  opt.k_offset = 3;
  ASSERT_TRUE(t.Forward(opt).ok());
  std::vector<double> lse = Values(t.lse);
  EXPECT_TRUE(std::isinf(lse[0]) && lse[0] < 0);
  EXPECT_TRUE(std::isinf(lse[2]) && lse[2] < 0);
  EXPECT_EQ(Values(t.o), std::vector<double>(6, 0.0));
  // A block without keys is empty too.
  Qkv none(1, 1, 3, 0, 2);
  ASSERT_TRUE(none.Forward(AttentionOptions()).ok());
  EXPECT_TRUE(std::isinf(Values(none.lse)[1]));
  EXPECT_EQ(Values(none.o), std::vector<double>(6, 0.0));
  // Merging an empty part changes nothing.
  Qkv full(1, 1, 3, 3, 2);
  ASSERT_TRUE(full.Forward(AttentionOptions()).ok());
  Tensor mo = ZerosTensor({1, 1, 3, 2}), mlse = ZerosTensor({1, 1, 3});
  ASSERT_TRUE(AttentionMerge(full.o, full.lse, none.o, none.lse, mo, mlse).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(mo, full.o));
  EXPECT_TRUE(runtime::BitwiseEqual(mlse, full.lse));
}

TEST(AttentionTest, BlockwiseMergeEqualsFullAttention) {
  // A sequence of 12 keys in blocks of 5, 4 and 3, merged in two orders.
  Qkv t(1, 2, 12, 12, 4);
  AttentionOptions opt;
  ASSERT_TRUE(t.Forward(opt).ok());
  const int64_t bounds[] = {0, 5, 9, 12};
  Tensor acc_o = ZerosTensor({1, 2, 12, 4});
  Tensor acc_lse = testing::TensorOf(std::vector<float>(24, -INFINITY), {1, 2, 12});
  for (int blk : {2, 0, 1}) {
    AttentionOptions part = opt;
    part.k_offset = bounds[blk];
    Tensor o = ZerosTensor({1, 2, 12, 4}), lse = ZerosTensor({1, 2, 12});
    ASSERT_TRUE(AttentionForward(t.q, KeySlice(t.k, bounds[blk], bounds[blk + 1]),
                                 KeySlice(t.v, bounds[blk], bounds[blk + 1]), part, o, lse)
                    .ok());
    ASSERT_TRUE(AttentionMerge(acc_o, acc_lse, o, lse, acc_o, acc_lse).ok());  // in place
  }
  EXPECT_TRUE(testing::ValuesClose(Values(acc_o), Values(t.o), 1e-6, 1e-5));
  EXPECT_TRUE(testing::ValuesClose(Values(acc_lse), Values(t.lse), 1e-6, 1e-5));
}

TEST(AttentionTest, BackwardMatchesFiniteDifferences) {
  for (bool causal : {false, true}) {
    Qkv t(1, 2, 3, 5, 4, DType::kF32, 11);
    AttentionOptions opt;
    opt.causal = causal;
    opt.q_offset = 2;  // queries at 2..4 over keys 0..4
    std::vector<double> w = testing::RandomWeights(t.o.numel(), 12);
    Tensor dout = testing::TensorOf(std::vector<float>(w.begin(), w.end()), t.o.shape());
    ASSERT_TRUE(t.Forward(opt).ok());
    Tensor dq = ZerosTensor(t.q.shape()), dk = ZerosTensor(t.k.shape()),
           dv = ZerosTensor(t.v.shape());
    ASSERT_TRUE(AttentionBackward(t.q, t.k, t.v, t.o, t.lse, dout, opt, dq, dk, dv).ok());
    Tensor o = ZerosTensor(t.o.shape()), lse = ZerosTensor(t.lse.shape());
    auto loss = [&] {
      EXPECT_TRUE(AttentionForward(t.q, t.k, t.v, opt, o, lse).ok());
      return testing::WeightedSum(o, w);
    };
    EXPECT_TRUE(testing::GradientsClose(dq, testing::NumericalGradient(t.q, loss))) << causal;
    EXPECT_TRUE(testing::GradientsClose(dk, testing::NumericalGradient(t.k, loss))) << causal;
    EXPECT_TRUE(testing::GradientsClose(dv, testing::NumericalGradient(t.v, loss))) << causal;
  }
}

TEST(AttentionTest, BlockwiseBackwardSumsToFullBackward) {
  // Ring-attention style: two key blocks, backward per block with the final
  // (o, lse), gradients accumulated.
  Qkv t(2, 1, 6, 6, 3, DType::kF32, 21);
  AttentionOptions opt;
  ASSERT_TRUE(t.Forward(opt).ok());
  Tensor dout = RandomTensor(t.o.shape(), 22);
  Tensor dq = ZerosTensor(t.q.shape()), dk = ZerosTensor(t.k.shape()),
         dv = ZerosTensor(t.v.shape());
  ASSERT_TRUE(AttentionBackward(t.q, t.k, t.v, t.o, t.lse, dout, opt, dq, dk, dv).ok());
  Tensor bdq = ZerosTensor(t.q.shape());
  std::vector<double> bdk, bdv;
  for (int64_t start : {0, 4}) {
    const int64_t end = start == 0 ? 4 : 6;
    AttentionOptions part = opt;
    part.k_offset = start;
    Tensor kb = KeySlice(t.k, start, end), vb = KeySlice(t.v, start, end);
    Tensor dkb = ZerosTensor(kb.shape()), dvb = ZerosTensor(vb.shape());
    ASSERT_TRUE(AttentionBackward(t.q, kb, vb, t.o, t.lse, dout, part, bdq, dkb, dvb).ok());
    // Compare each key block with the matching rows of the full dk, dv.
    EXPECT_TRUE(testing::ValuesClose(Values(dkb), Values(KeySlice(dk, start, end)), 1e-5, 1e-4));
    EXPECT_TRUE(testing::ValuesClose(Values(dvb), Values(KeySlice(dv, start, end)), 1e-5, 1e-4));
  }
  EXPECT_TRUE(testing::ValuesClose(Values(bdq), Values(dq), 1e-5, 1e-4));
}

TEST(AttentionTest, Bf16MatchesF32) {
  Qkv t(1, 2, 9, 9, 16, DType::kBF16, 31);
  AttentionOptions opt;
  ASSERT_TRUE(t.Forward(opt).ok());
  Ref ref = AttentionRef(t.q, t.k, t.v, opt);
  EXPECT_TRUE(testing::ValuesClose(Values(t.o), ref.o, 1e-2, 1e-2));
  EXPECT_TRUE(testing::ValuesClose(Values(t.lse), ref.lse, 1e-4, 1e-4));
  Tensor dout = RandomTensor(t.o.shape(), 32, DType::kBF16);
  Tensor dq = ZerosTensor(t.q.shape(), DType::kBF16), dk = ZerosTensor(t.k.shape(), DType::kBF16),
         dv = ZerosTensor(t.v.shape(), DType::kBF16);
  ASSERT_TRUE(AttentionBackward(t.q, t.k, t.v, t.o, t.lse, dout, opt, dq, dk, dv).ok());
  Tensor q32 = testing::Cast(t.q, DType::kF32), k32 = testing::Cast(t.k, DType::kF32),
         v32 = testing::Cast(t.v, DType::kF32), o32 = testing::Cast(t.o, DType::kF32);
  Tensor dq32 = ZerosTensor(t.q.shape()), dk32 = ZerosTensor(t.k.shape()),
         dv32 = ZerosTensor(t.v.shape());
  ASSERT_TRUE(AttentionBackward(q32, k32, v32, o32, t.lse, testing::Cast(dout, DType::kF32), opt,
                                dq32, dk32, dv32)
                  .ok());
  EXPECT_TRUE(testing::ValuesClose(Values(dq), Values(dq32), 1e-2, 1e-2));
  EXPECT_TRUE(testing::ValuesClose(Values(dk), Values(dk32), 1e-2, 1e-2));
  EXPECT_TRUE(testing::ValuesClose(Values(dv), Values(dv32), 1e-2, 1e-2));
}

TEST(AttentionTest, RejectsBadArguments) {
  Qkv t(1, 2, 3, 4, 5);
  AttentionOptions opt;
  EXPECT_EQ(AttentionForward(t.q, t.k, t.v, opt, ZerosTensor({1, 2, 4, 5}), t.lse).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AttentionForward(t.q, t.k, RandomTensor({1, 2, 3, 5}, 1), opt, t.o, t.lse).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AttentionForward(t.q, t.k, t.v, opt, t.o, ZerosTensor({1, 2, 3}, DType::kBF16)).code(),
            absl::StatusCode::kInvalidArgument);
  opt.scale = -1.0f;
  EXPECT_EQ(t.Forward(opt).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AttentionMerge(t.o, t.lse, ZerosTensor({1, 2, 3, 4}), t.lse, t.o, t.lse).code(),
            absl::StatusCode::kInvalidArgument);
}

// Without a usable GPU (or without CUDA in the build) CUDA operands fail with
// kFailedPrecondition and nothing is written.
TEST(AttentionTest, CudaOperandsWithoutGpuFailCleanly) {
  BRAID_SKIP_WITH_GPU();
  Qkv t(1, 1, 2, 2, 4);
  auto c = [](const Tensor& x) { return testing::FakeCudaView(x); };
  EXPECT_EQ(AttentionForward(c(t.q), c(t.k), c(t.v), {}, c(t.o), c(t.lse)).code(),
            absl::StatusCode::kFailedPrecondition);
  Tensor g = ZerosTensor(t.q.shape());
  EXPECT_EQ(
      AttentionBackward(c(t.q), c(t.k), c(t.v), c(t.o), c(t.lse), c(t.o), {}, c(g), c(g), c(g))
          .code(),
      absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace braid::kernels
