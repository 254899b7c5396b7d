#include "kernels/swiglu.h"

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

double SwiGluRef(double a, double b) { return a / (1.0 + std::exp(-a)) * b; }

TEST(SwiGluTest, ForwardMatchesDoubleReference) {
  Tensor a = RandomTensor({5, 11}, 1, DType::kF32, -8.0f, 8.0f);
  Tensor b = RandomTensor({5, 11}, 2, DType::kF32, -2.0f, 2.0f);
  Tensor out = ZerosTensor({5, 11});
  ASSERT_TRUE(SwiGluForward(a, b, out).ok());
  std::vector<double> va = Values(a), vb = Values(b), ref;
  for (size_t i = 0; i < va.size(); ++i) ref.push_back(SwiGluRef(va[i], vb[i]));
  EXPECT_TRUE(testing::ValuesClose(Values(out), ref, 1e-6, 1e-5));
}

TEST(SwiGluTest, BackwardMatchesFiniteDifferences) {
  Tensor a = RandomTensor({3, 8}, 3, DType::kF32, -4.0f, 4.0f);
  Tensor b = RandomTensor({3, 8}, 4, DType::kF32, -2.0f, 2.0f);
  Tensor out = ZerosTensor({3, 8});
  std::vector<double> w = testing::RandomWeights(24, 5);
  Tensor dout = testing::TensorOf(std::vector<float>(w.begin(), w.end()), {3, 8});
  Tensor da = ZerosTensor({3, 8}), db = ZerosTensor({3, 8});
  ASSERT_TRUE(SwiGluBackward(a, b, dout, da, db).ok());
  auto loss = [&] {
    EXPECT_TRUE(SwiGluForward(a, b, out).ok());
    return testing::WeightedSum(out, w);
  };
  EXPECT_TRUE(testing::GradientsClose(da, testing::NumericalGradient(a, loss)));
  EXPECT_TRUE(testing::GradientsClose(db, testing::NumericalGradient(b, loss)));
}

TEST(SwiGluTest, BackwardMayOverwriteDout) {
  Tensor a = RandomTensor({40}, 6), b = RandomTensor({40}, 7), dout = RandomTensor({40}, 8);
  Tensor da = ZerosTensor({40}), db = ZerosTensor({40});
  ASSERT_TRUE(SwiGluBackward(a, b, dout, da, db).ok());
  Tensor g1 = dout.Clone().value(), g2 = dout.Clone().value();
  Tensor db2 = ZerosTensor({40}), da2 = ZerosTensor({40});
  ASSERT_TRUE(SwiGluBackward(a, b, g1, g1, db2).ok());
  ASSERT_TRUE(SwiGluBackward(a, b, g2, da2, g2).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(g1, da));
  EXPECT_TRUE(runtime::BitwiseEqual(db2, db));
  EXPECT_TRUE(runtime::BitwiseEqual(g2, db));
  EXPECT_TRUE(runtime::BitwiseEqual(da2, da));
}

TEST(SwiGluTest, Bf16MatchesF32) {
  Tensor a = RandomTensor({2, 33}, 9, DType::kBF16, -3.0f, 3.0f);
  Tensor b = RandomTensor({2, 33}, 10, DType::kBF16);
  Tensor out = ZerosTensor({2, 33}, DType::kBF16), out32 = ZerosTensor({2, 33});
  ASSERT_TRUE(SwiGluForward(a, b, out).ok());
  ASSERT_TRUE(
      SwiGluForward(testing::Cast(a, DType::kF32), testing::Cast(b, DType::kF32), out32).ok());
  EXPECT_TRUE(testing::ValuesClose(Values(out), Values(out32), 8e-3, 8e-3));
}

TEST(SwiGluTest, RejectsBadArguments) {
  Tensor a = RandomTensor({4}, 11);
  EXPECT_EQ(SwiGluForward(a, ZerosTensor({5}), ZerosTensor({4})).code(),
            absl::StatusCode::kInvalidArgument);
  Tensor g = ZerosTensor({4});
  EXPECT_EQ(SwiGluBackward(a, a, g, g, g).code(), absl::StatusCode::kInvalidArgument);
}

// Without a usable GPU (or without CUDA in the build) CUDA operands fail with
// kFailedPrecondition and nothing is written.
TEST(SwiGluTest, CudaOperandsWithoutGpuFailCleanly) {
  BRAID_SKIP_WITH_GPU();
  Tensor a = RandomTensor({8}, 90), out = ZerosTensor({8});
  auto c = [](const Tensor& t) { return testing::FakeCudaView(t); };
  EXPECT_EQ(SwiGluForward(c(a), c(a), c(out)).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace braid::kernels
