// Tests for kernels/topk.h (CPU): against a full stable sort, ties by lower
// index, NaN ordering, 16-bit inputs, batching, k edge cases and errors.
#include "kernels/topk.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/tensor.h"

namespace braid::kernels {
namespace {

using runtime::DType;
using runtime::Tensor;

// Reference: stable sort of positions by descending value (NaN first).
std::vector<int64_t> ReferenceOrder(const std::vector<float>& row) {
  std::vector<int64_t> order(row.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const bool na = std::isnan(row[a]), nb = std::isnan(row[b]);
    if (na || nb) return na && !nb;
    return row[a] > row[b];
  });
  return order;
}

TEST(TopKTest, MatchesStableSortWithManyTies) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    std::mt19937 rng(42);
    const int64_t rows = 7, n = 301;
    // Values from a small set so ties are common.
    std::vector<float> values(rows * n);
    for (float& v : values) v = static_cast<float>(static_cast<int>(rng() % 17) - 8) * 0.25f;
    Tensor xf = Tensor::FromVector(values, {rows, n}).value();
    Tensor x = Tensor::Empty({rows, n}, dtype).value();
    runtime::VisitDType(dtype, [&]<typename T>() {
      for (int64_t i = 0; i < rows * n; ++i) x.data<T>()[i] = T(values[i]);
    });
    for (int64_t k : {int64_t{1}, int64_t{2}, int64_t{8}, n}) {
      TopKResult r = TopK(x, k).value();
      ASSERT_EQ(r.values.dtype(), dtype);
      ASSERT_EQ(r.indices.dtype(), DType::kI64);
      ASSERT_EQ(r.values.shape(), (runtime::Shape{rows, k}));
      std::vector<double> got_v = runtime::ToDoubleVector(r.values).value();
      for (int64_t row = 0; row < rows; ++row) {
        std::vector<float> rv(values.begin() + row * n, values.begin() + (row + 1) * n);
        const std::vector<int64_t> want = ReferenceOrder(rv);
        for (int64_t j = 0; j < k; ++j) {
          ASSERT_EQ(r.indices.data<int64_t>()[row * k + j], want[j])
              << runtime::ToString(dtype) << " row " << row << " rank " << j << " k " << k;
          EXPECT_EQ(got_v[row * k + j], rv[want[j]]);
        }
      }
    }
  }
}

TEST(TopKTest, NaNRanksFirstAndSignedZerosTie) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = Tensor::FromVector<float>({1.0f, nan, 3.0f, -0.0f, 0.0f, nan}, {6}).value();
  TopKResult r = TopK(x, 6).value();
  const int64_t* idx = r.indices.data<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(idx, idx + 6), (std::vector<int64_t>{1, 5, 2, 0, 3, 4}));
  EXPECT_TRUE(std::isnan(r.values.data<float>()[0]));
}

TEST(TopKTest, LeadingDimensionsAndEdgeCases) {
  Tensor x = Tensor::FromVector<float>({1, 5, 2, 9, 0, 4, 4, 3}, {2, 2, 2}).value();
  TopKResult r = TopK(x, 1).value();
  EXPECT_EQ(r.values.shape(), (runtime::Shape{2, 2, 1}));
  const int64_t* idx = r.indices.data<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(idx, idx + 4), (std::vector<int64_t>{1, 1, 1, 0}));
  EXPECT_TRUE(TopK(x, 0).ok());
  EXPECT_EQ(TopK(x, 3).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TopK(x, -1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TopK(Tensor::Zeros({4}, DType::kI32).value(), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  Tensor bad_values = Tensor::Zeros({2, 2, 1}, DType::kF16).value();
  Tensor indices = Tensor::Zeros({2, 2, 1}, DType::kI64).value();
  EXPECT_EQ(TopK(x, 1, bad_values, indices).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::kernels
