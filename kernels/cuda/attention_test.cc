// CUDA attention against the CPU implementation (skipped without a GPU).
#include "kernels/attention.h"

#include "gtest/gtest.h"
#include "kernels/testing/device.h"

namespace braid::kernels {
namespace {

using runtime::DType;
using runtime::Tensor;
using testing::MatchesCpu;
using testing::RandomTensor;
using testing::ToGpu;
using testing::ZerosTensor;

TEST(CudaAttentionTest, ForwardMergeAndBackwardMatchCpu) {
  BRAID_SKIP_WITHOUT_GPU();
  struct Case {
    int64_t tq, tk, d, q_offset, k_offset;
    bool causal;
  };
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const double tol = dtype == DType::kF32 ? 1e-4 : 2e-2;
    for (Case c : {Case{150, 150, 64, 0, 0, true}, Case{33, 200, 80, 100, 0, true},
                   Case{17, 40, 16, 0, 30, true}, Case{70, 130, 32, 0, 0, false}}) {
      AttentionOptions opt;
      opt.causal = c.causal;
      opt.q_offset = c.q_offset;
      opt.k_offset = c.k_offset;
      Tensor q = RandomTensor({2, 3, c.tq, c.d}, 1, dtype),
             k = RandomTensor({2, 3, c.tk, c.d}, 2, dtype),
             v = RandomTensor({2, 3, c.tk, c.d}, 3, dtype),
             dout = RandomTensor(q.shape(), 4, dtype);
      Tensor o = ZerosTensor(q.shape(), dtype), lse = ZerosTensor({2, 3, c.tq});
      ASSERT_TRUE(AttentionForward(q, k, v, opt, o, lse).ok());
      Tensor dq = ZerosTensor(q.shape(), dtype), dk = ZerosTensor(k.shape(), dtype),
             dv = ZerosTensor(k.shape(), dtype);
      ASSERT_TRUE(AttentionBackward(q, k, v, o, lse, dout, opt, dq, dk, dv).ok());

      Tensor gq = ToGpu(q), gk = ToGpu(k), gv = ToGpu(v);
      Tensor go = ToGpu(ZerosTensor(q.shape(), dtype)), glse = ToGpu(ZerosTensor({2, 3, c.tq}));
      ASSERT_TRUE(AttentionForward(gq, gk, gv, opt, go, glse).ok());
      EXPECT_TRUE(MatchesCpu(go, o, tol, tol)) << c.tq << "x" << c.tk;
      EXPECT_TRUE(MatchesCpu(glse, lse, 1e-4, 1e-4)) << c.tq << "x" << c.tk;
      // Backward from the CPU forward results so both sides see the same o, lse.
      Tensor gdq = ToGpu(ZerosTensor(q.shape(), dtype)), gdk = ToGpu(ZerosTensor(k.shape(), dtype)),
             gdv = ToGpu(ZerosTensor(k.shape(), dtype));
      ASSERT_TRUE(
          AttentionBackward(gq, gk, gv, ToGpu(o), ToGpu(lse), ToGpu(dout), opt, gdq, gdk, gdv)
              .ok());
      EXPECT_TRUE(MatchesCpu(gdq, dq, tol, tol)) << c.tq << "x" << c.tk;
      EXPECT_TRUE(MatchesCpu(gdk, dk, tol, tol)) << c.tq << "x" << c.tk;
      EXPECT_TRUE(MatchesCpu(gdv, dv, tol, tol)) << c.tq << "x" << c.tk;
      // Merge with itself in place: o unchanged, lse + log 2.
      Tensor mo = ZerosTensor(q.shape(), dtype), mlse = ZerosTensor({2, 3, c.tq});
      ASSERT_TRUE(AttentionMerge(o, lse, o, lse, mo, mlse).ok());
      ASSERT_TRUE(AttentionMerge(go, glse, go, glse, go, glse).ok());
      EXPECT_TRUE(MatchesCpu(go, mo, tol, tol));
      EXPECT_TRUE(MatchesCpu(glse, mlse, 1e-4, 1e-4));
    }
  }
}

}  // namespace
}  // namespace braid::kernels
