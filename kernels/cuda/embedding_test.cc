// CUDA embedding against the CPU implementation (skipped without a GPU).
#include "kernels/embedding.h"

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

TEST(CudaEmbeddingTest, MatchesCpu) {
  BRAID_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (DType id_dtype : {DType::kI32, DType::kI64}) {
      const int64_t vocab = 97, cols = 300, n = 250;
      std::vector<float> idv = testing::RandomValues(n, 1, 0.0f, static_cast<float>(vocab));
      for (float& v : idv) v = static_cast<float>(static_cast<int64_t>(v));
      Tensor ids = testing::TensorOf(idv, {10, 25}, id_dtype);
      Tensor weight = RandomTensor({vocab, cols}, 2, dtype);
      Tensor dout = RandomTensor({10, 25, cols}, 3, dtype);
      Tensor out = ZerosTensor({10, 25, cols}, dtype), dweight = RandomTensor({vocab, cols}, 4);
      Tensor dweight_t = testing::Cast(dweight, dtype);
      Tensor gdweight = ToGpu(dweight_t);
      ASSERT_TRUE(EmbeddingForward(weight, ids, out).ok());
      ASSERT_TRUE(EmbeddingBackward(ids, dout, dweight_t).ok());
      Tensor gout = ToGpu(ZerosTensor({10, 25, cols}, dtype));
      ASSERT_TRUE(EmbeddingForward(ToGpu(weight), ToGpu(ids), gout).ok());
      ASSERT_TRUE(EmbeddingBackward(ToGpu(ids), ToGpu(dout), gdweight).ok());
      EXPECT_TRUE(MatchesCpu(gout, out, 0.0, 0.0));
      const double tol = dtype == DType::kF32 ? 1e-5 : 3e-2;
      EXPECT_TRUE(MatchesCpu(gdweight, dweight_t, tol, tol));
    }
  }
}

TEST(CudaEmbeddingTest, OutOfRangeIdsGiveZeroRowsAndAreSkipped) {
  BRAID_SKIP_WITHOUT_GPU();
  Tensor weight = ToGpu(RandomTensor({4, 3}, 5));
  Tensor ids = ToGpu(testing::TensorOf({1, 9, -2}, {3}, DType::kI64));
  Tensor out = ToGpu(RandomTensor({3, 3}, 6));
  ASSERT_TRUE(EmbeddingForward(weight, ids, out).ok());
  std::vector<double> o = testing::Values(out);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(o[3 + c], 0.0);
    EXPECT_EQ(o[6 + c], 0.0);
  }
  Tensor dweight = ToGpu(ZerosTensor({4, 3}));
  ASSERT_TRUE(EmbeddingBackward(ids, ToGpu(RandomTensor({3, 3}, 7)), dweight).ok());
  std::vector<double> d = testing::Values(dweight);
  for (int r : {0, 2, 3}) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(d[r * 3 + c], 0.0);
  }
}

}  // namespace
}  // namespace braid::kernels
