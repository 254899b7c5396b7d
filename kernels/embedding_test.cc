#include "kernels/embedding.h"

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

TEST(EmbeddingTest, ForwardGathersRows) {
  Tensor weight = RandomTensor({10, 3}, 1);
  for (DType id_dtype : {DType::kI32, DType::kI64}) {
    Tensor ids = testing::TensorOf({7, 0, 7, 9, 2, 5}, {2, 3}, id_dtype);
    Tensor out = ZerosTensor({2, 3, 3});
    ASSERT_TRUE(EmbeddingForward(weight, ids, out).ok());
    std::vector<double> w = Values(weight), o = Values(out);
    const int rows[] = {7, 0, 7, 9, 2, 5};
    for (int i = 0; i < 6; ++i) {
      for (int c = 0; c < 3; ++c) EXPECT_EQ(o[i * 3 + c], w[rows[i] * 3 + c]) << i << "," << c;
    }
  }
}

TEST(EmbeddingTest, BackwardMatchesFiniteDifferences) {
  Tensor weight = RandomTensor({5, 4}, 2);
  Tensor ids = testing::TensorOf({3, 1, 3, 0, 3}, {5}, DType::kI64);
  Tensor out = ZerosTensor({5, 4});
  std::vector<double> w = testing::RandomWeights(20, 3);
  Tensor dout = testing::TensorOf(std::vector<float>(w.begin(), w.end()), {5, 4});
  Tensor dweight = ZerosTensor({5, 4});
  ASSERT_TRUE(EmbeddingBackward(ids, dout, dweight).ok());
  std::vector<double> numeric = testing::NumericalGradient(weight, [&] {
    EXPECT_TRUE(EmbeddingForward(weight, ids, out).ok());
    return testing::WeightedSum(out, w);
  });
  EXPECT_TRUE(testing::GradientsClose(dweight, numeric, 1e-4, 1e-3));
  // Row 2 and 4 are never used: exactly zero. Backward accumulates.
  std::vector<double> once = Values(dweight);
  for (int c = 0; c < 4; ++c) EXPECT_EQ(once[2 * 4 + c], 0.0);
  ASSERT_TRUE(EmbeddingBackward(ids, dout, dweight).ok());
  for (double& v : once) v *= 2.0;
  EXPECT_TRUE(testing::ValuesClose(Values(dweight), once, 1e-6, 1e-6));
}

TEST(EmbeddingTest, Bf16RowsAreCopiedExactly) {
  Tensor weight = RandomTensor({6, 8}, 4, DType::kBF16);
  Tensor ids = testing::TensorOf({5, 5, 1}, {3}, DType::kI32);
  Tensor out = ZerosTensor({3, 8}, DType::kBF16);
  ASSERT_TRUE(EmbeddingForward(weight, ids, out).ok());
  absl::StatusOr<Tensor> row5 = weight.Select(0, 5);
  absl::StatusOr<Tensor> out0 = out.Select(0, 0);
  ASSERT_TRUE(row5.ok() && out0.ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*out0, *row5));
}

TEST(EmbeddingTest, OutOfRangeIdsAreRejectedBeforeWriting) {
  Tensor weight = RandomTensor({4, 2}, 5);
  Tensor out = ZerosTensor({3, 2});
  for (float bad : {4.0f, -1.0f}) {
    Tensor ids = testing::TensorOf({1, bad, 2}, {3}, DType::kI32);
    absl::Status s = EmbeddingForward(weight, ids, out);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_EQ(Values(out), std::vector<double>(6, 0.0));
    Tensor dweight = ZerosTensor({4, 2});
    s = EmbeddingBackward(ids, RandomTensor({3, 2}, 6), dweight);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_EQ(Values(dweight), std::vector<double>(8, 0.0));
  }
}

TEST(EmbeddingTest, RejectsBadArguments) {
  Tensor weight = RandomTensor({4, 2}, 7);
  Tensor ids = testing::TensorOf({1, 2}, {2}, DType::kI64);
  EXPECT_EQ(EmbeddingForward(weight, ids, ZerosTensor({2, 3})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EmbeddingForward(weight, testing::TensorOf({1, 2}, {2}), ZerosTensor({2, 2})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EmbeddingForward(ZerosTensor({8}), ids, ZerosTensor({2, 2})).code(),
            absl::StatusCode::kInvalidArgument);
}

// Without a usable GPU (or without CUDA in the build) CUDA operands fail with
// kFailedPrecondition and nothing is written.
TEST(EmbeddingTest, CudaOperandsWithoutGpuFailCleanly) {
  BRAID_SKIP_WITH_GPU();
  Tensor w = RandomTensor({4, 2}, 90), out = ZerosTensor({2, 2});
  Tensor ids = testing::TensorOf({1, 3}, {2}, DType::kI32);
  auto c = [](const Tensor& t) { return testing::FakeCudaView(t); };
  EXPECT_EQ(EmbeddingForward(c(w), c(ids), c(out)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(EmbeddingBackward(c(ids), c(out), c(w)).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace braid::kernels
