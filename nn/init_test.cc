#include "nn/init.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/testing/gradcheck.h"
#include "runtime/philox.h"

namespace braid::nn {
namespace {

using kernels::testing::Values;
using runtime::DType;
using runtime::Tensor;

Tensor Zeros(runtime::Shape shape, DType dtype = DType::kF32) {
  absl::StatusOr<Tensor> t = Tensor::Zeros(std::move(shape), dtype);
  EXPECT_TRUE(t.ok());
  return *t;
}

TEST(InitTest, NormalIsPhiloxAndHasTheStddev) {
  Tensor t = Zeros({100, 100});
  ASSERT_TRUE(InitNormal(t, 0.02f, 42, 7).ok());
  std::vector<double> v = Values(t);
  EXPECT_FLOAT_EQ(v[5], 0.02f * runtime::PhiloxNormalAt(42, 7, 0, 5));
  double sum = 0, sq = 0;
  for (double x : v) sum += x, sq += x * x;
  EXPECT_NEAR(sum / 1e4, 0.0, 0.001);
  EXPECT_NEAR(std::sqrt(sq / 1e4), 0.02, 0.001);
  Tensor same = Zeros({100, 100}), other = Zeros({100, 100});
  ASSERT_TRUE(InitNormal(same, 0.02f, 42, 7).ok());
  ASSERT_TRUE(InitNormal(other, 0.02f, 42, 8).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(t, same));
  EXPECT_FALSE(runtime::BitwiseEqual(t, other));
}

TEST(InitTest, UniformRangeAndConstant) {
  Tensor t = Zeros({1000});
  ASSERT_TRUE(InitUniform(t, -0.5f, 0.25f, 1, 2).ok());
  for (double x : Values(t)) {
    EXPECT_GE(x, -0.5);
    EXPECT_LE(x, 0.25);
  }
  ASSERT_TRUE(InitConstant(t, 1.5).ok());
  for (double x : Values(t)) EXPECT_EQ(x, 1.5);
}

TEST(InitTest, SlicesAndLowPrecision) {
  // A non-contiguous view is filled in its own row-major order.
  Tensor t = Zeros({4, 6});
  absl::StatusOr<Tensor> tt = t.Transpose(0, 1);
  ASSERT_TRUE(tt.ok());
  ASSERT_TRUE(InitNormal(*tt, 1.0f, 3, 4).ok());
  Tensor ref = Zeros({6, 4});
  ASSERT_TRUE(InitNormal(ref, 1.0f, 3, 4).ok());
  absl::StatusOr<Tensor> back = tt->Contiguous();
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*back, ref));
  Tensor b = Zeros({6, 4}, DType::kBF16);
  ASSERT_TRUE(InitNormal(b, 1.0f, 3, 4).ok());
  EXPECT_TRUE(runtime::AllClose(b, ref, 1e-2, 1e-2));
}

TEST(InitTest, Errors) {
  EXPECT_EQ(InitNormal(Tensor(), 1.0f, 1, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InitNormal(Zeros({2}, DType::kI32), 1.0f, 1, 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InitNormal(Zeros({2}), -1.0f, 1, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InitUniform(Zeros({2}), 1.0f, 0.0f, 1, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InitConstant(Tensor(), 0.0).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::nn
