#include "nn/transformer.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/testing/gradcheck.h"
#include "nn/context.h"
#include "nn/testing/layer_testing.h"

namespace braid::nn {
namespace {

using kernels::testing::RandomTensor;
using kernels::testing::RandomValues;
using kernels::testing::Values;
using runtime::Tensor;

constexpr int64_t kB = 2, kT = 5, kD = 8, kH = 2;

// Fills every parameter with values uniform in [center - scale, center +
// scale) (norm gains around 1), so the gradient check sees every path.
void Randomize(Layer& layer, uint32_t seed, float scale = 0.4f) {
  for (const NamedParameter& p : layer.NamedParameters()) {
    const bool gain =
        p.name.find("norm") != std::string::npos && p.name.find("weight") != std::string::npos;
    const float center = gain ? 1.0f : 0.0f;
    std::vector<float> v =
        RandomValues(p.parameter->value.numel(), seed++, center - scale, center + scale);
    std::memcpy(p.parameter->value.raw_data(), v.data(), v.size() * sizeof(float));
  }
}

struct BlockCase {
  NormKind norm;
  MlpActivation activation;
  std::string name;
};

class TransformerBlockTest : public ::testing::TestWithParam<BlockCase> {
 protected:
  std::unique_ptr<TransformerBlock> MakeBlock(uint32_t seed = 3, float dropout = 0.0f) {
    absl::StatusOr<std::unique_ptr<TransformerBlock>> block =
        TransformerBlock::Create({.dim = kD,
                                  .num_heads = kH,
                                  .mlp_hidden = 12,
                                  .activation = GetParam().activation,
                                  .norm = GetParam().norm,
                                  .dropout = dropout});
    EXPECT_TRUE(block.ok()) << block.status();
    if (!block.ok()) return nullptr;
    Randomize(**block, seed);
    return std::move(*block);
  }
};

TEST_P(TransformerBlockTest, ParameterNamesInOrder) {
  std::unique_ptr<TransformerBlock> block = MakeBlock();
  std::vector<std::string> names;
  for (const NamedParameter& p : block->NamedParameters()) names.push_back(p.name);
  std::vector<std::string> want;
  const bool ln = GetParam().norm == NormKind::kLayerNorm;
  want.push_back("norm1.weight");
  if (ln) want.push_back("norm1.bias");
  for (const char* n :
       {"attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias", "norm2.weight"}) {
    want.push_back(n);
  }
  if (ln) want.push_back("norm2.bias");
  for (const char* n : {"mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"}) {
    want.push_back(n);
  }
  EXPECT_EQ(names, want);
}

TEST_P(TransformerBlockTest, GradientsMatchFiniteDifferences) {
  std::unique_ptr<TransformerBlock> block = MakeBlock();
  testing::ExpectFiniteDifferences(*block, RandomTensor({kB, kT, kD}, 31), 32);
}

TEST_P(TransformerBlockTest, SplitBackwardEqualsWhole) {
  std::unique_ptr<TransformerBlock> block = MakeBlock();
  testing::ExpectSplitEqualsWhole(*block, RandomTensor({kB, kT, kD}, 33), 34);
}

TEST_P(TransformerBlockTest, TwoMicrobatchesInFlight) {
  std::unique_ptr<TransformerBlock> block = MakeBlock();
  testing::ExpectMicrobatchesAccumulate(*block, RandomTensor({kB, kT, kD}, 35),
                                        RandomTensor({kB, kT, kD}, 36), 37);
}

TEST_P(TransformerBlockTest, TwoMicrobatchesInFlightWithDropout) {
  std::unique_ptr<TransformerBlock> block = MakeBlock(3, 0.25f);
  testing::ExpectMicrobatchesAccumulate(*block, RandomTensor({kB, kT, kD}, 35),
                                        RandomTensor({kB, kT, kD}, 36), 37);
}

TEST_P(TransformerBlockTest, BackwardOrderCheckedAndEveryGradientReported) {
  std::unique_ptr<TransformerBlock> block = MakeBlock();
  testing::ExpectBackwardOrderChecked(*block, RandomTensor({kB, kT, kD}, 38));
  testing::ExpectEveryGradientReported(*block, RandomTensor({kB, kT, kD}, 39));
}

TEST_P(TransformerBlockTest, IsCausal) {
  std::unique_ptr<TransformerBlock> block = MakeBlock();
  Tensor x = RandomTensor({kB, kT, kD}, 40);
  absl::StatusOr<Tensor> x2 = x.Clone();
  ASSERT_TRUE(x2.ok());
  constexpr int64_t kChanged = 2;
  for (int64_t b = 0; b < kB; ++b) {
    // Not a constant shift, which LayerNorm would remove.
    for (int64_t e = 0; e < kD; ++e) {
      x2->data<float>()[(b * kT + kChanged) * kD + e] += 0.1f * static_cast<float>(e) - 0.3f;
    }
  }
  Context c1({.training = false}), c2({.training = false});
  absl::StatusOr<Tensor> y1 = block->Forward(c1, x), y2 = block->Forward(c2, *x2);
  ASSERT_TRUE(y1.ok() && y2.ok());
  std::vector<double> v1 = Values(*y1), v2 = Values(*y2);
  for (int64_t b = 0; b < kB; ++b) {
    for (int64_t t = 0; t < kT; ++t) {
      double diff = 0.0;
      for (int64_t e = 0; e < kD; ++e) {
        diff = std::max(diff, std::fabs(v1[(b * kT + t) * kD + e] - v2[(b * kT + t) * kD + e]));
      }
      if (t < kChanged) {
        EXPECT_LE(diff, 1e-6) << "position " << t;
      } else {
        EXPECT_GT(diff, 1e-4) << "position " << t;
      }
    }
  }
}

TEST_P(TransformerBlockTest, DropoutReproducibleAndOffInInference) {
  std::unique_ptr<TransformerBlock> drop = MakeBlock(3, 0.3f), plain = MakeBlock(3, 0.0f);
  Tensor x = RandomTensor({kB, kT, kD}, 41);
  Context a({.rng_seed = 2, .rng_stream = 9}), b({.rng_seed = 2, .rng_stream = 9});
  Context c({.rng_seed = 2, .rng_stream = 10});
  absl::StatusOr<Tensor> ya = drop->Forward(a, x), yb = drop->Forward(b, x),
                         yc = drop->Forward(c, x);
  ASSERT_TRUE(ya.ok() && yb.ok() && yc.ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*ya, *yb));
  EXPECT_FALSE(runtime::BitwiseEqual(*ya, *yc));
  Context i1({.training = false}), i2({.training = false});
  absl::StatusOr<Tensor> yi = drop->Forward(i1, x), yp = plain->Forward(i2, x);
  ASSERT_TRUE(yi.ok() && yp.ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*yi, *yp));
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, TransformerBlockTest,
    ::testing::Values(BlockCase{NormKind::kLayerNorm, MlpActivation::kGelu, "LayerNormGelu"},
                      BlockCase{NormKind::kRMSNorm, MlpActivation::kSwiGLU, "RMSNormSwiGLU"}),
    [](const ::testing::TestParamInfo<BlockCase>& info) { return info.param.name; });

TEST(TransformerBlockOptionsTest, ScaledInitAndErrors) {
  absl::StatusOr<std::unique_ptr<TransformerBlock>> block =
      TransformerBlock::Create({.dim = 32, .num_heads = 4, .init_std = 0.02f, .num_layers = 8});
  ASSERT_TRUE(block.ok()) << block.status();
  ASSERT_TRUE((*block)->Initialize(1).ok());
  auto stddev = [](const Tensor& t) {
    std::vector<double> v = Values(t);
    double s = 0.0;
    for (double x : v) s += x * x;
    return std::sqrt(s / static_cast<double>(v.size()));
  };
  // 4 * 32 * 32 = 4096 samples: the sample std is within a few % of the truth.
  EXPECT_NEAR(stddev((*block)->mlp().NamedParameters()[0].parameter->value), 0.02, 0.002);
  EXPECT_NEAR(stddev((*block)->attn().proj().weight().value), 0.02 / 4.0, 0.0008);
  EXPECT_NEAR(stddev((*block)->attn().qkv().weight().value), 0.02, 0.002);
  EXPECT_EQ(TransformerBlock::Create({.dim = 8, .num_heads = 3}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TransformerBlock::Create({.dim = 8, .num_heads = 2, .num_layers = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  Context ctx;
  absl::StatusOr<Tensor> bad = (*block)->Forward(ctx, RandomTensor({2, 3, 16}, 1));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("TransformerBlock"), std::string::npos);
  EXPECT_EQ(ToString(NormKind::kRMSNorm), "rmsnorm");
}

}  // namespace
}  // namespace braid::nn
