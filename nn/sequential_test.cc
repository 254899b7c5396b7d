#include "nn/sequential.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/testing/layer_testing.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/norm.h"

namespace braid::nn {
namespace {

using kernels::testing::RandomTensor;
using kernels::testing::Values;
using runtime::Tensor;

template <typename T>
std::unique_ptr<Layer> Must(absl::StatusOr<std::unique_ptr<T>> layer) {
  EXPECT_TRUE(layer.ok()) << layer.status();
  return std::move(*layer);
}

// ln -> mlp -> linear: a small stack with every kind of parameter.
std::unique_ptr<Sequential> MakeStack() {
  auto seq = std::make_unique<Sequential>();
  EXPECT_TRUE(seq->Append("ln", Must(LayerNorm::Create({.dim = 4}))).ok());
  EXPECT_TRUE(
      seq->Append("mlp", Must(Mlp::Create({.dim = 4, .hidden = 6, .init_std = 0.4f}))).ok());
  EXPECT_TRUE(seq->Append("head", Must(Linear::Create(
                                      {.in_features = 4, .out_features = 3, .init_std = 0.4f})))
                  .ok());
  EXPECT_TRUE(seq->Initialize(17).ok());
  return seq;
}

TEST(SequentialTest, NamesAndOrder) {
  std::unique_ptr<Sequential> seq = MakeStack();
  EXPECT_EQ(seq->size(), 3u);
  EXPECT_EQ(seq->layer(1).kind(), "Mlp");
  EXPECT_EQ(seq->name(2), "head");
  std::vector<std::string> names;
  for (const NamedParameter& p : seq->NamedParameters()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"ln.weight", "ln.bias", "mlp.fc1.weight",
                                             "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
                                             "head.weight", "head.bias"}));
  EXPECT_EQ(seq->Append("ln", Must(LayerNorm::Create({.dim = 4}))).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(seq->Append("a.b", Must(LayerNorm::Create({.dim = 4}))).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(seq->Append("x", nullptr).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SequentialTest, ForwardChainsChildren) {
  std::unique_ptr<Sequential> seq = MakeStack();
  Tensor x = RandomTensor({2, 4}, 1);
  Context a({.training = false}), b({.training = false});
  absl::StatusOr<Tensor> y = seq->Forward(a, x);
  ASSERT_TRUE(y.ok()) << y.status();
  Tensor h = x;
  for (size_t i = 0; i < seq->size(); ++i) {
    absl::StatusOr<Tensor> out = seq->layer(i).Forward(b, h);
    ASSERT_TRUE(out.ok());
    h = *out;
  }
  EXPECT_TRUE(runtime::BitwiseEqual(*y, h));
}

TEST(SequentialTest, FiniteDifferences) {
  std::unique_ptr<Sequential> seq = MakeStack();
  testing::ExpectFiniteDifferences(*seq, RandomTensor({3, 4}, 2), 81);
}

TEST(SequentialTest, SplitAccumulateInterleaveOrder) {
  std::unique_ptr<Sequential> seq = MakeStack();
  testing::ExpectSplitEqualsWhole(*seq, RandomTensor({3, 4}, 3), 82);
  testing::ExpectMicrobatchesAccumulate(*seq, RandomTensor({3, 4}, 4), RandomTensor({3, 4}, 5), 83);
  testing::ExpectBackwardOrderChecked(*seq, RandomTensor({3, 4}, 6));
  testing::ExpectEveryGradientReported(*seq, RandomTensor({3, 4}, 6));
}

TEST(SequentialTest, EmbeddingFirstAndDropout) {
  Sequential seq;
  ASSERT_TRUE(
      seq.Append("wte", Must(Embedding::Create({.num_embeddings = 10, .dim = 4, .init_std = 0.5f})))
          .ok());
  ASSERT_TRUE(seq.Append("drop", Must(Dropout::Create({.p = 0.2f}))).ok());
  ASSERT_TRUE(seq.Append("head", Must(Linear::Create(
                                     {.in_features = 4, .out_features = 10, .init_std = 0.5f})))
                  .ok());
  ASSERT_TRUE(seq.Initialize(3).ok());
  absl::StatusOr<Tensor> ids = Tensor::FromVector(std::vector<int32_t>{1, 4, 4, 9, 0, 2}, {2, 3});
  ASSERT_TRUE(ids.ok());
  testing::ExpectSplitEqualsWhole(seq, *ids, 84);
  testing::ExpectMicrobatchesAccumulate(seq, *ids, *ids, 85);
  testing::ExpectBackwardOrderChecked(seq, *ids);
}

TEST(SequentialTest, ErrorsNameTheChild) {
  std::unique_ptr<Sequential> seq = MakeStack();
  Context ctx;
  absl::Status s = seq->Forward(ctx, RandomTensor({2, 5}, 1)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'ln'"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("LayerNorm"), absl::string_view::npos) << s;
}

TEST(SequentialTest, EmptyIsIdentity) {
  Sequential seq;
  Context ctx;
  Tensor x = RandomTensor({2, 2}, 1);
  absl::StatusOr<Tensor> y = seq.Forward(ctx, x);
  ASSERT_TRUE(y.ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*y, x));
  absl::StatusOr<Tensor> dx = seq.Backward(ctx, x);
  ASSERT_TRUE(dx.ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*dx, x));
}

}  // namespace
}  // namespace braid::nn
