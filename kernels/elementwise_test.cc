// Tests for kernels/elementwise.h (CPU): each op and dtype against a plain
// float reference rounded once, in place, empty tensors and errors.
#include "kernels/elementwise.h"

#include <cstring>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/tensor.h"

namespace braid::kernels {
namespace {

using runtime::DType;
using runtime::Tensor;

// Host copy of every element (a named vector, so range-for never iterates a
// destroyed temporary).
std::vector<double> Values(const Tensor& t) {
  absl::StatusOr<std::vector<double>> v = runtime::ToDoubleVector(t);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : std::vector<double>{};
}

Tensor Random(int64_t n, DType dtype, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-10.0f, 10.0f);
  Tensor t = Tensor::Empty({n}, dtype).value();
  runtime::VisitDType(dtype, [&]<typename T>() {
    for (int64_t i = 0; i < n; ++i) t.data<T>()[i] = T(dist(rng));
  });
  return t;
}

// out[i] = T(f(float(x[i]), float(y[i]))) computed with plain scalar code.
template <typename F>
Tensor Reference(const Tensor& x, const Tensor& y, F f) {
  Tensor out = Tensor::Empty(x.shape(), x.dtype()).value();
  runtime::VisitDType(x.dtype(), [&]<typename T>() {
    for (int64_t i = 0; i < x.numel(); ++i) {
      out.data<T>()[i] =
          T(f(static_cast<float>(x.data<T>()[i]), static_cast<float>(y.data<T>()[i])));
    }
  });
  return out;
}

class ElementwiseTest : public ::testing::TestWithParam<std::tuple<DType, int64_t>> {};

TEST_P(ElementwiseTest, MatchesScalarReference) {
  const auto [dtype, n] = GetParam();
  const Tensor a = Random(n, dtype, 1);
  const Tensor b = Random(n, dtype, 2);
  const std::string name = absl::StrCat(runtime::ToString(dtype), " n=", n);

  Tensor out = Tensor::Empty({n}, dtype).value();
  ASSERT_TRUE(Add(a, b, out).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(out, Reference(a, b, [](float x, float y) { return x + y; })))
      << "Add " << name;
  ASSERT_TRUE(Mul(a, b, out).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(out, Reference(a, b, [](float x, float y) { return x * y; })))
      << "Mul " << name;
  ASSERT_TRUE(Scale(a, -0.3f, out).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(out, Reference(a, b, [](float x, float) { return -0.3f * x; })))
      << "Scale " << name;
  Tensor y = b.Clone().value();
  ASSERT_TRUE(Axpy(0.7f, a, y).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(y, Reference(a, b,
                                                 [](float x, float yv) {
                                                   const volatile float prod =
                                                       0.7f *
                                                       x;  // no fused multiply-add in the reference
                                                   return yv + prod;
                                                 })))
      << "Axpy " << name;

  // In place: out is an input.
  Tensor in_place = a.Clone().value();
  ASSERT_TRUE(Add(in_place, b, in_place).ok());
  EXPECT_TRUE(
      runtime::BitwiseEqual(in_place, Reference(a, b, [](float x, float y) { return x + y; })));
  in_place = a.Clone().value();
  ASSERT_TRUE(Scale(in_place, 2.0f, in_place).ok());
  EXPECT_TRUE(
      runtime::BitwiseEqual(in_place, Reference(a, b, [](float x, float) { return 2.0f * x; })));
}

INSTANTIATE_TEST_SUITE_P(FloatDTypes, ElementwiseTest,
                         ::testing::Combine(::testing::Values(DType::kF32, DType::kF16,
                                                              DType::kBF16),
                                            ::testing::Values<int64_t>(1, 13, 1000, 4099)),
                         [](const auto& info) {
                           return absl::StrCat(runtime::ToString(std::get<0>(info.param)), "_",
                                               std::get<1>(info.param));
                         });

TEST(ElementwiseTest, MultiDimensionalAndEmpty) {
  const Tensor a = Tensor::Full({2, 3, 4}, DType::kF32, 1.5).value();
  const Tensor b = Tensor::Full({2, 3, 4}, DType::kF32, 2.0).value();
  const Tensor out = Tensor::Empty({2, 3, 4}, DType::kF32).value();
  ASSERT_TRUE(Mul(a, b, out).ok());
  for (double v : Values(out)) EXPECT_EQ(v, 3.0);
  const Tensor empty = Tensor::Empty({0, 4}, DType::kBF16).value();
  EXPECT_TRUE(Add(empty, empty, empty).ok());
  EXPECT_TRUE(Axpy(1.0f, empty, empty).ok());
}

TEST(ElementwiseTest, RejectsMismatches) {
  const Tensor a = Tensor::Zeros({4}, DType::kF32).value();
  const Tensor b5 = Tensor::Zeros({5}, DType::kF32).value();
  const Tensor b16 = Tensor::Zeros({4}, DType::kF16).value();
  const Tensor i32 = Tensor::Zeros({4}, DType::kI32).value();
  const Tensor strided =
      Tensor::Zeros({8}, DType::kF32).value().View({4, 2}).value().Select(1, 0).value();
  EXPECT_EQ(Add(a, b5, a).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Add(a, b16, a).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Scale(i32, 2.0f, i32).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Axpy(1.0f, strided, a).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Mul(a, Tensor(), a).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::kernels
