#include "nn/embedding.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cast.h"
#include "nn/testing/layer_testing.h"

namespace braid::nn {
namespace {

using kernels::testing::Values;
using runtime::DType;
using runtime::Tensor;

std::unique_ptr<Embedding> MakeEmbedding(int64_t num, int64_t dim) {
  absl::StatusOr<std::unique_ptr<Embedding>> e =
      Embedding::Create({.num_embeddings = num, .dim = dim, .init_std = 0.5f});
  EXPECT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE((*e)->Initialize(5).ok());
  return std::move(*e);
}

Tensor Ids(const std::vector<int32_t>& ids, runtime::Shape shape) {
  absl::StatusOr<Tensor> t = Tensor::FromVector(ids, std::move(shape));
  EXPECT_TRUE(t.ok());
  return *t;
}

TEST(EmbeddingTest, ForwardGathersRows) {
  std::unique_ptr<Embedding> e = MakeEmbedding(5, 3);
  Context ctx({.training = false});
  absl::StatusOr<Tensor> y = e->Forward(ctx, Ids({4, 0, 4, 2}, {2, 2}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), runtime::Shape({2, 2, 3}));
  std::vector<double> w = Values(e->weight().value), v = Values(*y);
  const int ids[] = {4, 0, 4, 2};
  for (int s = 0; s < 4; ++s) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(v[s * 3 + c], w[ids[s] * 3 + c]);
  }
  EXPECT_EQ(e->NamedParameters().size(), 1u);
  EXPECT_EQ(e->NamedParameters()[0].name, "weight");
}

TEST(EmbeddingTest, FiniteDifferencesWithRepeatedIds) {
  std::unique_ptr<Embedding> e = MakeEmbedding(6, 4);
  testing::ExpectFiniteDifferences(*e, Ids({1, 5, 1, 0, 1, 3}, {2, 3}), 31);
}

TEST(EmbeddingTest, SplitAccumulateInterleave) {
  std::unique_ptr<Embedding> e = MakeEmbedding(7, 3);
  Tensor a = Ids({1, 2, 3, 1}, {4}), b = Ids({6, 2, 0, 0}, {4});
  testing::ExpectSplitEqualsWhole(*e, a, 32);
  testing::ExpectMicrobatchesAccumulate(*e, a, b, 33);
  testing::ExpectBackwardOrderChecked(*e, a);
  testing::ExpectEveryGradientReported(*e, a);
}

TEST(EmbeddingTest, BackwardInputIsUndefined) {
  std::unique_ptr<Embedding> e = MakeEmbedding(4, 2);
  Context ctx;
  absl::StatusOr<Tensor> y = e->Forward(ctx, Ids({0, 3}, {2}));
  ASSERT_TRUE(y.ok());
  absl::StatusOr<Tensor> dx = e->BackwardInput(ctx, *y);
  ASSERT_TRUE(dx.ok()) << dx.status();
  EXPECT_FALSE(dx->defined());
  EXPECT_TRUE(e->BackwardWeight(ctx).ok());
  EXPECT_EQ(ctx.num_saved(), 0u);
}

TEST(EmbeddingTest, BadInputsAreInvalidArgument) {
  std::unique_ptr<Embedding> e = MakeEmbedding(4, 2);
  Context ctx;
  absl::Status s = e->Forward(ctx, kernels::testing::RandomTensor({2}, 1)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Embedding"), absl::string_view::npos) << s;
  EXPECT_EQ(e->Forward(ctx, Ids({0, 4}, {2})).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e->Forward(ctx, Ids({-1}, {1})).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(e->Forward(ctx, Ids({0, 1}, {2})).ok());
  s = e->BackwardInput(ctx, kernels::testing::RandomTensor({2, 3}, 2)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Embedding"), absl::string_view::npos) << s;
  EXPECT_FALSE(Embedding::Create({.num_embeddings = 0, .dim = 3}).ok());
}

// With a bf16 compute table the output is bf16 and the f32 grad gets the
// bf16 output gradient cast to f32 (exact) and summed in f32.
TEST(EmbeddingTest, Bf16Compute) {
  std::unique_ptr<Embedding> e = MakeEmbedding(5, 4);
  absl::StatusOr<Tensor> c = Tensor::Empty({5, 4}, DType::kBF16);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(kernels::Cast(e->weight().value, *c).ok());
  e->weight().compute = *c;
  Context ctx;
  absl::StatusOr<Tensor> y = e->Forward(ctx, Ids({2, 2, 1}, {3}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->dtype(), DType::kBF16);
  Tensor dy = kernels::testing::RandomTensor({3, 4}, 9, DType::kBF16);
  ASSERT_TRUE(e->Backward(ctx, dy).ok());
  std::vector<double> g = Values(e->weight().grad), d = Values(dy);
  for (int col = 0; col < 4; ++col) {
    EXPECT_EQ(g[2 * 4 + col],
              static_cast<double>(static_cast<float>(d[col]) + static_cast<float>(d[4 + col])));
    EXPECT_EQ(g[1 * 4 + col], d[8 + col]);
    EXPECT_EQ(g[0 * 4 + col], 0.0);
  }
}

}  // namespace
}  // namespace braid::nn
