// CUDA SwiGLU against the CPU implementation (skipped without a GPU).
#include "kernels/swiglu.h"

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

TEST(CudaSwiGluTest, MatchesCpu) {
  BRAID_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const double tol = dtype == DType::kF32 ? 1e-5 : 1e-2;
    Tensor a = RandomTensor({3, 5000}, 3, dtype, -6.0f, 6.0f),
           b = RandomTensor({3, 5000}, 4, dtype);
    Tensor dout = RandomTensor({3, 5000}, 5, dtype);
    Tensor out = ZerosTensor(a.shape(), dtype), da = ZerosTensor(a.shape(), dtype),
           db = ZerosTensor(a.shape(), dtype);
    ASSERT_TRUE(SwiGluForward(a, b, out).ok());
    ASSERT_TRUE(SwiGluBackward(a, b, dout, da, db).ok());
    Tensor ga = ToGpu(a), gb = ToGpu(b), gdout = ToGpu(dout);
    Tensor gout = ToGpu(out), gda = ToGpu(ZerosTensor(a.shape(), dtype)),
           gdb = ToGpu(ZerosTensor(a.shape(), dtype));
    ASSERT_TRUE(SwiGluForward(ga, gb, gout).ok());
    ASSERT_TRUE(SwiGluBackward(ga, gb, gdout, gda, gdb).ok());
    EXPECT_TRUE(MatchesCpu(gout, out, tol, tol));
    EXPECT_TRUE(MatchesCpu(gda, da, tol, tol));
    EXPECT_TRUE(MatchesCpu(gdb, db, tol, tol));
  }
}

}  // namespace
}  // namespace braid::kernels
