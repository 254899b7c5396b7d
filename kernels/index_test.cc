// Tests for kernels/index.h (CPU): gather and scatter-add rows against plain
// loops, -1 "no row", repeated destinations, i32 indices, 16-bit rounding
// and errors that leave the output untouched.
#include "kernels/index.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/tensor.h"

namespace braid::kernels {
namespace {

using runtime::DType;
using runtime::Tensor;

Tensor Random(runtime::Shape shape, DType dtype, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
  Tensor t = Tensor::Empty(shape, dtype).value();
  runtime::VisitDType(dtype, [&]<typename T>() {
    for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = T(dist(rng));
  });
  return t;
}

TEST(IndexTest, GatherRowsEveryDType) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    const Tensor in = Random({5, 2, 3}, dtype, 1);
    const Tensor idx = Tensor::FromVector<int64_t>({4, 0, -1, 4, 2}, {5}).value();
    const Tensor out = Tensor::Full({5, 2, 3}, dtype, 7.0).value();
    ASSERT_TRUE(GatherRows(in, idx, out).ok());
    const std::vector<double> vin = runtime::ToDoubleVector(in).value();
    const std::vector<double> vout = runtime::ToDoubleVector(out).value();
    const int64_t order[] = {4, 0, -1, 4, 2};
    for (int64_t i = 0; i < 5; ++i) {
      for (int64_t j = 0; j < 6; ++j) {
        EXPECT_EQ(vout[i * 6 + j], order[i] < 0 ? 0.0 : vin[order[i] * 6 + j])
            << runtime::ToString(dtype) << " row " << i;
      }
    }
  }
}

TEST(IndexTest, ScatterAddRowsSumsRepeatsInOrder) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (DType index_dtype : {DType::kI64, DType::kI32}) {
      const Tensor in = Random({6, 4}, dtype, 2);
      Tensor idx = Tensor::Empty({6}, index_dtype).value();
      const int64_t order[] = {1, 1, -1, 0, 1, 2};
      for (int i = 0; i < 6; ++i) {
        if (index_dtype == DType::kI64)
          idx.data<int64_t>()[i] = order[i];
        else
          idx.data<int32_t>()[i] = static_cast<int32_t>(order[i]);
      }
      const Tensor out = Random({3, 4}, dtype, 3);
      // Reference: add in index order, rounding to dtype after each add.
      Tensor want = out.Clone().value();
      runtime::VisitDType(dtype, [&]<typename T>() {
        for (int i = 0; i < 6; ++i) {
          if (order[i] < 0) continue;
          for (int j = 0; j < 4; ++j) {
            T& d = want.data<T>()[order[i] * 4 + j];
            d = T(static_cast<float>(d) + static_cast<float>(in.data<T>()[i * 4 + j]));
          }
        }
      });
      ASSERT_TRUE(ScatterAddRows(in, idx, out).ok());
      EXPECT_TRUE(runtime::BitwiseEqual(out, want)) << runtime::ToString(dtype);
    }
  }
}

TEST(IndexTest, GatherThenScatterIsAPermutationRoundTrip) {
  // MoE shape: permute tokens to expert order and back.
  const Tensor tokens = Random({8, 16}, DType::kF32, 4);
  const Tensor perm = Tensor::FromVector<int64_t>({3, 7, 0, 5, 1, 6, 2, 4}, {8}).value();
  const Tensor rows = Tensor::Empty({8, 16}, DType::kF32).value();
  ASSERT_TRUE(GatherRows(tokens, perm, rows).ok());
  const Tensor back = Tensor::Zeros({8, 16}, DType::kF32).value();
  ASSERT_TRUE(ScatterAddRows(rows, perm, back).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(back, tokens));
}

TEST(IndexTest, RejectsBadIndicesWithoutWriting) {
  const Tensor in = Random({3, 2}, DType::kF32, 5);
  const Tensor out = Tensor::Full({2, 2}, DType::kF32, 9.0).value();
  const Tensor before = out.Clone().value();
  EXPECT_EQ(GatherRows(in, Tensor::FromVector<int64_t>({0, 3}, {2}).value(), out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GatherRows(in, Tensor::FromVector<int64_t>({-2, 0}, {2}).value(), out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(runtime::BitwiseEqual(out, before));
  EXPECT_EQ(ScatterAddRows(in, Tensor::FromVector<int64_t>({0, 1, 2}, {3}).value(), out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(runtime::BitwiseEqual(out, before));
  // Shape and dtype mistakes.
  EXPECT_EQ(GatherRows(in, Tensor::FromVector<int64_t>({0}, {1}).value(), out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GatherRows(in, Tensor::FromVector<float>({0, 1}, {2}).value(), out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GatherRows(Random({3, 3}, DType::kF32, 6),
                       Tensor::FromVector<int64_t>({0, 1}, {2}).value(), out)
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Empty index lists are no-ops.
  EXPECT_TRUE(GatherRows(in, Tensor::Empty({0}, DType::kI64).value(),
                         Tensor::Empty({0, 2}, DType::kF32).value())
                  .ok());
}

}  // namespace
}  // namespace braid::kernels
