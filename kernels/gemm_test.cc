// Tests for kernels/gemm.h (CPU): every transpose combination and dtype
// against a double-precision triple loop, alpha/beta, transposed and strided
// views, batched and broadcast batches, degenerate sizes and errors.
#include "kernels/gemm.h"

#include <cmath>
#include <limits>
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

Tensor Random(runtime::Shape shape, DType dtype, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor t = Tensor::Empty(shape, dtype).value();
  runtime::VisitDType(dtype, [&]<typename T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = T(dist(rng));
  });
  return t;
}

// Element [r, c] of a (possibly strided) 2-D tensor, or [b, r, c] of a 3-D one.
double At(const Tensor& t, int64_t b, int64_t r, int64_t c) {
  const int nd = t.ndim();
  int64_t offset = r * t.strides()[nd - 2] + c * t.strides()[nd - 1];
  if (nd == 3) offset += b * t.strides()[0];
  double v = 0;
  runtime::VisitDType(t.dtype(), [&]<typename T>() {
    v = static_cast<double>(static_cast<float>(t.data<T>()[offset]));
  });
  return v;
}

// Reference C = alpha op(A) op(B) + beta C0 in double, [batch][m][n].
std::vector<double> Reference(const Tensor& a, const Tensor& b, const Tensor& c0,
                              const GemmOptions& o) {
  const int64_t batch = c0.ndim() == 3 ? c0.dim(0) : 1;
  const int64_t m = c0.dim(-2), n = c0.dim(-1);
  const int64_t k = o.transpose_a ? a.dim(-2) : a.dim(-1);
  std::vector<double> out;
  for (int64_t bi = 0; bi < batch; ++bi) {
    const int64_t ab = a.ndim() == 3 ? bi : 0;
    const int64_t bb = b.ndim() == 3 ? bi : 0;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) {
          const double av = o.transpose_a ? At(a, ab, p, i) : At(a, ab, i, p);
          const double bv = o.transpose_b ? At(b, bb, j, p) : At(b, bb, p, j);
          acc += av * bv;
        }
        double v = o.alpha * acc;
        if (o.beta != 0.0f) v += o.beta * At(c0, bi, i, j);
        out.push_back(v);
      }
    }
  }
  return out;
}

double Tolerance(DType dtype, int64_t k) {
  switch (dtype) {
    case DType::kF32:
      return 1e-5 * (k + 1);
    case DType::kF16:
      return 2e-3 * (k + 1);
    case DType::kBF16:
      return 1.6e-2 * (k + 1);
    case DType::kI32:
    case DType::kI64:
    case DType::kU8:
      break;
  }
  return 0;
}

void ExpectNear(const Tensor& c, const std::vector<double>& want, double tol,
                const std::string& what) {
  std::vector<double> got = runtime::ToDoubleVector(c).value();
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::abs(got[i] - want[i]) <= tol * (1 + std::abs(want[i])))) {
      if (++bad <= 3)
        ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

struct Case {
  DType dtype;
  bool ta;
  bool tb;
};

class GemmTest : public ::testing::TestWithParam<Case> {};

TEST_P(GemmTest, MatchesReferenceWithAlphaBeta) {
  const Case cs = GetParam();
  for (auto [m, n, k] :
       {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {5, 7, 3}, {33, 17, 65}, {64, 48, 128}}) {
    for (auto [alpha, beta] : {std::pair<float, float>{1.0f, 0.0f}, {0.5f, -1.25f}}) {
      const Tensor a = cs.ta ? Random({k, m}, cs.dtype, 1) : Random({m, k}, cs.dtype, 1);
      const Tensor b = cs.tb ? Random({n, k}, cs.dtype, 2) : Random({k, n}, cs.dtype, 2);
      const Tensor c0 = Random({m, n}, cs.dtype, 3);
      const Tensor c = c0.Clone().value();
      const GemmOptions o{.transpose_a = cs.ta, .transpose_b = cs.tb, .alpha = alpha, .beta = beta};
      ASSERT_TRUE(Gemm(a, b, c, o).ok());
      ExpectNear(c, Reference(a, b, c0, o), Tolerance(cs.dtype, k),
                 absl::StrCat(runtime::ToString(cs.dtype), " ta=", cs.ta, " tb=", cs.tb, " ", m,
                              "x", n, "x", k, " alpha=", alpha, " beta=", beta));
    }
  }
}

TEST_P(GemmTest, BatchedAndBroadcast) {
  const Case cs = GetParam();
  const int64_t batch = 3, m = 6, n = 5, k = 9;
  const Tensor a = cs.ta ? Random({batch, k, m}, cs.dtype, 4) : Random({batch, m, k}, cs.dtype, 4);
  const Tensor b3 = cs.tb ? Random({batch, n, k}, cs.dtype, 5) : Random({batch, k, n}, cs.dtype, 5);
  const Tensor b2 = cs.tb ? Random({n, k}, cs.dtype, 6) : Random({k, n}, cs.dtype, 6);
  const Tensor c0 = Random({batch, m, n}, cs.dtype, 7);
  const GemmOptions o{.transpose_a = cs.ta, .transpose_b = cs.tb, .alpha = 1.5f, .beta = 0.5f};
  for (const Tensor* b : {&b3, &b2}) {
    const Tensor c = c0.Clone().value();
    ASSERT_TRUE(GemmBatched(a, *b, c, o).ok());
    ExpectNear(c, Reference(a, *b, c0, o), Tolerance(cs.dtype, k),
               absl::StrCat("batched ", runtime::ToString(cs.dtype), " b ", b->DebugString()));
  }
}

INSTANTIATE_TEST_SUITE_P(
    DTypesAndTransposes, GemmTest,
    ::testing::Values(Case{DType::kF32, false, false}, Case{DType::kF32, true, false},
                      Case{DType::kF32, false, true}, Case{DType::kF32, true, true},
                      Case{DType::kF16, false, false}, Case{DType::kF16, true, true},
                      Case{DType::kBF16, false, true}, Case{DType::kBF16, true, false}),
    [](const auto& info) {
      return absl::StrCat(runtime::ToString(info.param.dtype), info.param.ta ? "_ta" : "",
                          info.param.tb ? "_tb" : "");
    });

TEST(GemmTest, TransposedAndStridedViewsNeedNoCopy) {
  // a_view = (stored [k, m])^T is an [m, k] view with unit outer stride.
  const Tensor a_stored = Random({7, 4}, DType::kF32, 8);
  const Tensor a_view = a_stored.Transpose(0, 1).value();
  ASSERT_FALSE(a_view.is_contiguous());
  // b_view: columns 2..7 of a [5, 9] matrix (row stride 9, unit inner stride).
  const Tensor b_big = Random({7, 9}, DType::kF32, 9);
  const Tensor b_view = b_big.Slice(1, 2, 7).value();
  const Tensor c = Tensor::Zeros({4, 5}, DType::kF32).value();
  ASSERT_TRUE(Gemm(a_view, b_view, c).ok());
  ExpectNear(c, Reference(a_view, b_view, c, GemmOptions{}), 1e-5, "views");
  // The transposed view with transpose_a = true is the stored matrix itself.
  const Tensor c2 = Tensor::Zeros({7, 7}, DType::kF32).value();
  ASSERT_TRUE(
      Gemm(a_view, b_big.Slice(1, 0, 7).value().Slice(0, 0, 4).value(), c2, {.transpose_a = true})
          .ok());
  ExpectNear(c2,
             Reference(a_view, b_big.Slice(1, 0, 7).value().Slice(0, 0, 4).value(), c2,
                       {.transpose_a = true}),
             1e-5, "transposed view with transpose_a");
}

TEST(GemmTest, BetaZeroIgnoresNaNInC) {
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const Tensor a = Random({3, 4}, dtype, 10);
    const Tensor b = Random({4, 2}, dtype, 11);
    const Tensor c = Tensor::Full({3, 2}, dtype, std::numeric_limits<double>::quiet_NaN()).value();
    ASSERT_TRUE(Gemm(a, b, c).ok());
    for (double v : Values(c)) EXPECT_FALSE(std::isnan(v)) << runtime::ToString(dtype);
  }
}

TEST(GemmTest, DegenerateSizes) {
  // K == 0: C = beta * C.
  const Tensor a = Tensor::Empty({3, 0}, DType::kF32).value();
  const Tensor b = Tensor::Empty({0, 2}, DType::kF32).value();
  const Tensor c = Tensor::Full({3, 2}, DType::kF32, 4.0).value();
  ASSERT_TRUE(Gemm(a, b, c, {.beta = 0.5f}).ok());
  for (double v : Values(c)) EXPECT_EQ(v, 2.0);
  ASSERT_TRUE(Gemm(a, b, c).ok());
  for (double v : Values(c)) EXPECT_EQ(v, 0.0);
  // M == 0 and batch == 0 are no-ops.
  EXPECT_TRUE(Gemm(Tensor::Empty({0, 4}, DType::kF32).value(),
                   Tensor::Empty({4, 2}, DType::kF32).value(),
                   Tensor::Empty({0, 2}, DType::kF32).value())
                  .ok());
  EXPECT_TRUE(GemmBatched(Tensor::Empty({0, 2, 4}, DType::kF32).value(),
                          Tensor::Empty({0, 4, 2}, DType::kF32).value(),
                          Tensor::Empty({0, 2, 2}, DType::kF32).value())
                  .ok());
}

TEST(GemmTest, RejectsBadArguments) {
  const Tensor a = Random({3, 4}, DType::kF32, 12);
  const Tensor b = Random({5, 2}, DType::kF32, 13);
  const Tensor c = Tensor::Zeros({3, 2}, DType::kF32).value();
  EXPECT_EQ(Gemm(a, b, c).code(), absl::StatusCode::kInvalidArgument);  // K mismatch
  const Tensor b16 = Random({4, 2}, DType::kBF16, 14);
  EXPECT_EQ(Gemm(a, b16, c).code(), absl::StatusCode::kInvalidArgument);  // dtype mismatch
  const Tensor ai = Tensor::Zeros({3, 4}, DType::kI32).value();
  EXPECT_EQ(Gemm(ai, ai, ai).code(), absl::StatusCode::kInvalidArgument);
  // C must be row-major.
  const Tensor ct = Tensor::Zeros({2, 3}, DType::kF32).value().Transpose(0, 1).value();
  EXPECT_EQ(Gemm(a, Random({4, 2}, DType::kF32, 15), ct).code(),
            absl::StatusCode::kInvalidArgument);
  // Batched C must be 3-D and batches must agree.
  EXPECT_EQ(GemmBatched(a, Random({4, 2}, DType::kF32, 16), c).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GemmBatched(Random({2, 3, 4}, DType::kF32, 17), Random({3, 4, 2}, DType::kF32, 18),
                        Tensor::Zeros({2, 3, 2}, DType::kF32).value())
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Gemm(Tensor(), b, c).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::kernels
