// CUDA cross-entropy against the CPU implementation (skipped without a GPU).
#include "kernels/cross_entropy.h"

#include <cmath>

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

TEST(CudaCrossEntropyTest, MatchesCpu) {
  BRAID_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (int64_t normalizer : {0, 1000}) {
      const int64_t rows = 45, vocab = 5000;
      std::vector<float> tv = testing::RandomValues(rows, 1, 0.0f, static_cast<float>(vocab));
      for (float& v : tv) v = static_cast<float>(static_cast<int64_t>(v));
      tv[3] = tv[17] = -100.0f;  // ignored rows
      Tensor targets = testing::TensorOf(tv, {rows}, DType::kI64);
      Tensor logits = RandomTensor({rows, vocab}, 2, dtype, -6.0f, 6.0f);
      CrossEntropyOptions options;
      options.normalizer = normalizer;
      Tensor losses = ZerosTensor({rows}), lse = ZerosTensor({rows}), mean = ZerosTensor({1});
      Tensor dlogits = ZerosTensor(logits.shape(), dtype);
      ASSERT_TRUE(CrossEntropyForward(logits, targets, options, losses, lse, mean).ok());
      ASSERT_TRUE(CrossEntropyBackward(logits, targets, lse, options, 0.5f, dlogits).ok());

      Tensor glogits = ToGpu(logits), gtargets = ToGpu(targets);
      Tensor glosses = ToGpu(ZerosTensor({rows})), glse = ToGpu(ZerosTensor({rows})),
             gmean = ToGpu(ZerosTensor({1})), gd = ToGpu(ZerosTensor(logits.shape(), dtype));
      ASSERT_TRUE(CrossEntropyForward(glogits, gtargets, options, glosses, glse, gmean).ok());
      ASSERT_TRUE(CrossEntropyBackward(glogits, gtargets, glse, options, 0.5f, gd).ok());
      EXPECT_TRUE(MatchesCpu(glosses, losses, 1e-4, 1e-5));
      EXPECT_TRUE(MatchesCpu(glse, lse, 1e-4, 1e-5));
      EXPECT_TRUE(MatchesCpu(gmean, mean, 1e-4, 1e-5));
      const double tol = dtype == DType::kF32 ? 1e-6 : 1e-2;
      EXPECT_TRUE(MatchesCpu(gd, dlogits, tol, tol));
    }
  }
}

TEST(CudaCrossEntropyTest, BadTargetGivesNan) {
  BRAID_SKIP_WITHOUT_GPU();
  Tensor logits = ToGpu(RandomTensor({2, 4}, 3));
  Tensor targets = ToGpu(testing::TensorOf({1, 7}, {2}, DType::kI32));
  Tensor losses = ToGpu(ZerosTensor({2})), lse = ToGpu(ZerosTensor({2})),
         mean = ToGpu(ZerosTensor({}));
  ASSERT_TRUE(CrossEntropyForward(logits, targets, {}, losses, lse, mean).ok());
  std::vector<double> l = testing::Values(losses);
  EXPECT_FALSE(std::isnan(l[0]));
  EXPECT_TRUE(std::isnan(l[1]));
  EXPECT_TRUE(std::isnan(testing::Values(mean)[0]));
}

}  // namespace
}  // namespace braid::kernels
