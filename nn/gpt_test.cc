#include "nn/gpt.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cast.h"
#include "kernels/elementwise.h"
#include "kernels/testing/gradcheck.h"
#include "nn/adamw.h"
#include "nn/context.h"
#include "nn/loss.h"
#include "nn/mixed_precision.h"
#include "nn/optimizer.h"
#include "nn/testing/layer_testing.h"

namespace braid::nn {
namespace {

using kernels::testing::RandomValues;
using kernels::testing::Values;
using runtime::DType;
using runtime::Tensor;

GptOptions TinyOptions() {
  return {.vocab_size = 16, .context_length = 8, .dim = 16, .num_layers = 2, .num_heads = 2};
}

std::unique_ptr<Gpt> MakeGpt(const GptOptions& options, uint64_t seed = 1) {
  absl::StatusOr<std::unique_ptr<Gpt>> gpt = Gpt::Create(options);
  EXPECT_TRUE(gpt.ok()) << gpt.status();
  if (!gpt.ok()) return nullptr;
  EXPECT_TRUE((*gpt)->Initialize(seed).ok());
  return std::move(*gpt);
}

// Token ids uniform in [0, vocab) from a fixed seed, as i32 [batch, seq].
Tensor RandomTokens(int64_t batch, int64_t seq, int64_t vocab, uint32_t seed) {
  std::vector<float> u = RandomValues(batch * seq, seed, 0.0f, 1.0f);
  std::vector<int32_t> ids;
  for (float x : u) ids.push_back(static_cast<int32_t>(x * static_cast<float>(vocab)));
  return *Tensor::FromVector(ids, {batch, seq});
}

TEST(GptTest, ParameterNamesAndCount) {
  const GptOptions o = TinyOptions();
  std::unique_ptr<Gpt> gpt = MakeGpt(o);
  std::vector<std::string> names;
  for (const NamedParameter& p : gpt->NamedParameters()) names.push_back(p.name);
  std::vector<std::string> want = {"wte.weight", "wpe.weight"};
  for (int i = 0; i < o.num_layers; ++i) {
    for (const char* n : {"norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias",
                          "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
                          "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"}) {
      want.push_back("blocks." + std::to_string(i) + "." + n);
    }
  }
  want.push_back("norm_f.weight");
  want.push_back("norm_f.bias");
  want.push_back("lm_head.weight");
  EXPECT_EQ(names, want);
  const int64_t v = o.vocab_size, c = o.context_length, d = o.dim, l = o.num_layers;
  EXPECT_EQ(gpt->NumParameters(), 2 * v * d + c * d + l * (12 * d * d + 13 * d) + 2 * d);
  EXPECT_EQ(gpt->num_blocks(), 2);
  EXPECT_EQ(gpt->block(1).options().num_layers, 2);
  EXPECT_EQ(gpt->lm_head().options().bias, false);
  EXPECT_EQ(gpt->token_embedding().weight().value.shape(), runtime::Shape({v, d}));
  EXPECT_EQ(gpt->position_embedding().weight().value.shape(), runtime::Shape({c, d}));
  EXPECT_EQ(gpt->final_norm().kind(), "LayerNorm");
}

TEST(GptTest, ParameterNamesWithRMSNormAndSwiGLU) {
  GptOptions o = TinyOptions();
  o.norm = NormKind::kRMSNorm;
  o.activation = MlpActivation::kSwiGLU;
  o.mlp_hidden = 24;
  std::unique_ptr<Gpt> gpt = MakeGpt(o);
  std::vector<NamedParameter> params = gpt->NamedParameters();
  // wte, wpe, 2 x (norm1, qkv w/b, proj w/b, norm2, fc1 w/b, fc2 w/b), norm_f, lm_head.
  ASSERT_EQ(params.size(), 2u + 2 * 10 + 2);
  EXPECT_EQ(params[2].name, "blocks.0.norm1.weight");
  EXPECT_EQ(params[params.size() - 2].name, "norm_f.weight");
  const int64_t d = o.dim, h = o.mlp_hidden;
  int64_t block = d + 3 * d * d + 3 * d + d * d + d + d + 2 * h * d + 2 * h + h * d + d;
  EXPECT_EQ(gpt->NumParameters(), 2 * 16 * d + 8 * d + 2 * block + d);
}

TEST(GptTest, GradientsMatchFiniteDifferences) {
  std::unique_ptr<Gpt> gpt =
      MakeGpt({.vocab_size = 7, .context_length = 5, .dim = 8, .num_layers = 1, .num_heads = 2}, 3);
  // Larger weights than the 0.02 init so every path carries a visible gradient.
  uint32_t seed = 50;
  for (const NamedParameter& p : gpt->NamedParameters()) {
    const bool gain =
        p.name.find("norm") != std::string::npos && p.name.find("weight") != std::string::npos;
    std::vector<float> v =
        RandomValues(p.parameter->value.numel(), seed++, gain ? 0.6f : -0.4f, gain ? 1.4f : 0.4f);
    std::memcpy(p.parameter->value.raw_data(), v.data(), v.size() * sizeof(float));
  }
  testing::ExpectFiniteDifferences(*gpt, RandomTokens(2, 4, 7, 51), 52);
  testing::ExpectSplitEqualsWhole(*gpt, RandomTokens(2, 4, 7, 53), 54);
  testing::ExpectMicrobatchesAccumulate(*gpt, RandomTokens(2, 4, 7, 55), RandomTokens(2, 4, 7, 56),
                                        57);
  testing::ExpectBackwardOrderChecked(*gpt, RandomTokens(2, 4, 7, 58));
  testing::ExpectEveryGradientReported(*gpt, RandomTokens(2, 4, 7, 59));
}

// With dropout every microbatch's masks come from its Context (seed,
// stream), so the split backward and microbatches in flight stay exact.
TEST(GptTest, DropoutMicrobatchesInFlight) {
  GptOptions o = TinyOptions();
  o.dropout = 0.2f;
  std::unique_ptr<Gpt> gpt = MakeGpt(o, 4);
  testing::ExpectSplitEqualsWhole(*gpt, RandomTokens(2, 8, 16, 62), 63);
  testing::ExpectMicrobatchesAccumulate(*gpt, RandomTokens(2, 8, 16, 64),
                                        RandomTokens(2, 8, 16, 65), 66);
  Tensor tokens = RandomTokens(2, 8, 16, 67);
  Context a({.rng_seed = 3, .rng_stream = 1}), b({.rng_seed = 3, .rng_stream = 1});
  Context c({.rng_seed = 3, .rng_stream = 2}), infer({.training = false});
  absl::StatusOr<Tensor> ya = gpt->Forward(a, tokens), yb = gpt->Forward(b, tokens);
  absl::StatusOr<Tensor> yc = gpt->Forward(c, tokens), yi = gpt->Forward(infer, tokens);
  ASSERT_TRUE(ya.ok() && yb.ok() && yc.ok() && yi.ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*ya, *yb));
  EXPECT_FALSE(runtime::BitwiseEqual(*ya, *yc));
  EXPECT_FALSE(runtime::BitwiseEqual(*ya, *yi));
}

// One SGD step with plain Axpy: value -= lr * grad.
void SgdStep(Gpt& gpt, float lr) {
  for (const NamedParameter& p : gpt.NamedParameters()) {
    ASSERT_TRUE(kernels::Axpy(-lr, p.parameter->grad, p.parameter->value).ok()) << p.name;
  }
}

TEST(GptTest, OverfitsOneBatch) {
  std::unique_ptr<Gpt> gpt = MakeGpt(TinyOptions(), 5);
  // Next-token prediction on 4 fixed random sequences of 9 tokens.
  Tensor text = RandomTokens(4, 9, 16, 60);
  Tensor inputs = *(*text.Slice(1, 0, 8)).Contiguous();
  Tensor targets = *(*text.Slice(1, 1, 9)).Contiguous();
  CrossEntropyLoss loss_fn;
  float first = 0.0f, last = 0.0f;
  for (int step = 0; step < 100; ++step) {
    ASSERT_TRUE(ZeroGradients(gpt->NamedParameters()).ok());
    Context ctx;
    absl::StatusOr<Tensor> logits = gpt->Forward(ctx, inputs);
    ASSERT_TRUE(logits.ok()) << logits.status();
    absl::StatusOr<float> loss = loss_fn.Forward(ctx, *logits, targets);
    ASSERT_TRUE(loss.ok()) << loss.status();
    absl::StatusOr<Tensor> dlogits = loss_fn.Backward(ctx);
    ASSERT_TRUE(dlogits.ok()) << dlogits.status();
    ASSERT_TRUE(gpt->Backward(ctx, *dlogits).ok());
    EXPECT_EQ(ctx.num_saved(), 0u);
    if (step == 0) first = *loss;
    last = *loss;
    SgdStep(*gpt, 1.0f);
  }
  EXPECT_NEAR(first, std::log(16.0f), 0.1f);
  EXPECT_LT(last, 0.1f * first) << "start " << first << " end " << last;
}

// The training recipe end to end: bf16 compute copies (EnableMixedPrecision),
// f32 master weights and grads, AdamW, compute copies refreshed every step.
TEST(GptTest, OverfitsOneBatchInBf16WithAdamW) {
  std::unique_ptr<Gpt> gpt = MakeGpt(TinyOptions(), 6);
  std::vector<NamedParameter> params = gpt->NamedParameters();
  ASSERT_TRUE(EnableMixedPrecision(params, DType::kBF16).ok());
  absl::StatusOr<std::unique_ptr<AdamW>> adam = AdamW::Create({.weight_decay = 0.0f});
  ASSERT_TRUE(adam.ok());
  Tensor text = RandomTokens(4, 9, 16, 61);
  Tensor inputs = *(*text.Slice(1, 0, 8)).Contiguous();
  Tensor targets = *(*text.Slice(1, 1, 9)).Contiguous();
  CrossEntropyLoss loss_fn;
  float first = 0.0f, last = 0.0f;
  for (int step = 0; step < 100; ++step) {
    ASSERT_TRUE(ZeroGradients(params).ok());
    Context ctx;
    absl::StatusOr<Tensor> logits = gpt->Forward(ctx, inputs);
    ASSERT_TRUE(logits.ok()) << logits.status();
    ASSERT_EQ(logits->dtype(), DType::kBF16);
    absl::StatusOr<float> loss = loss_fn.Forward(ctx, *logits, targets);
    ASSERT_TRUE(loss.ok()) << loss.status();
    absl::StatusOr<Tensor> dlogits = loss_fn.Backward(ctx);
    ASSERT_TRUE(dlogits.ok()) << dlogits.status();
    ASSERT_TRUE(gpt->Backward(ctx, *dlogits).ok());
    if (step == 0) first = *loss;
    last = *loss;
    ASSERT_TRUE((*adam)->Step(SlotsOf(params), 1e-2f).ok());
    ASSERT_TRUE(RefreshComputeCopies(params).ok());
  }
  EXPECT_NEAR(first, std::log(16.0f), 0.1f);
  EXPECT_LT(last, 0.1f * first) << "start " << first << " end " << last;
}

TEST(GptTest, GenerateIsDeterministicAndGreedyIsArgmax) {
  std::unique_ptr<Gpt> gpt = MakeGpt(TinyOptions(), 7);
  // Larger weights so the logits are far from uniform.
  uint32_t seed = 70;
  for (const NamedParameter& p : gpt->NamedParameters()) {
    if (p.name.find("norm") != std::string::npos) continue;
    std::vector<float> v = RandomValues(p.parameter->value.numel(), seed++, -0.5f, 0.5f);
    std::memcpy(p.parameter->value.raw_data(), v.data(), v.size() * sizeof(float));
  }
  const std::vector<int32_t> prompt = {3, 1, 4, 1, 5};
  absl::StatusOr<std::vector<int32_t>> a = gpt->Generate(prompt, 12, 1.0f, 42);
  absl::StatusOr<std::vector<int32_t>> b = gpt->Generate(prompt, 12, 1.0f, 42);
  absl::StatusOr<std::vector<int32_t>> c = gpt->Generate(prompt, 12, 1.0f, 43);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << a.status();
  ASSERT_EQ(a->size(), 12u);
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  for (int32_t id : *a) EXPECT_TRUE(id >= 0 && id < 16) << id;

  // Greedy: every token is the argmax of the logits at the last position
  // (the window slides past the context length of 8).
  absl::StatusOr<std::vector<int32_t>> g = gpt->Generate(prompt, 6, 0.0f, 1);
  absl::StatusOr<std::vector<int32_t>> g2 = gpt->Generate(prompt, 6, 0.0f, 2);
  ASSERT_TRUE(g.ok() && g2.ok());
  EXPECT_EQ(*g, *g2) << "greedy decoding must not depend on the seed";
  std::vector<int32_t> text = prompt;
  for (int32_t next : *g) {
    const int64_t seq = std::min<int64_t>(text.size(), 8);
    std::vector<int32_t> window(text.end() - seq, text.end());
    Context ctx({.training = false});
    absl::StatusOr<Tensor> logits = gpt->Forward(ctx, *Tensor::FromVector(window, {1, seq}));
    ASSERT_TRUE(logits.ok());
    std::vector<double> v = Values(*logits);
    const double* row = v.data() + (seq - 1) * 16;
    int32_t best = 0;
    for (int32_t k = 1; k < 16; ++k) {
      if (row[k] > row[best]) best = k;
    }
    EXPECT_EQ(next, best);
    text.push_back(next);
  }
  absl::StatusOr<std::vector<int32_t>> none = gpt->Generate(prompt, 0, 1.0f, 1);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(GptTest, Errors) {
  EXPECT_EQ(Gpt::Create(
                {.vocab_size = 0, .context_length = 8, .dim = 16, .num_layers = 1, .num_heads = 2})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Gpt::Create(
                {.vocab_size = 16, .context_length = 8, .dim = 16, .num_layers = 0, .num_heads = 2})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  std::unique_ptr<Gpt> gpt = MakeGpt(TinyOptions());
  Context ctx;
  EXPECT_EQ(gpt->Forward(ctx, RandomTokens(1, 9, 16, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);  // T > context_length
  EXPECT_EQ(gpt->Forward(ctx, kernels::testing::RandomTensor({1, 4}, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);  // not i32
  EXPECT_EQ(gpt->Forward(ctx, *Tensor::FromVector(std::vector<int32_t>{1, 2, 16}, {1, 3}))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);  // id >= vocab
  EXPECT_EQ(gpt->Generate({}, 3, 1.0f, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gpt->Generate({1, 16}, 3, 1.0f, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gpt->Generate({1}, 3, -1.0f, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gpt->Generate({1}, -1, 1.0f, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

// bf16 compute copies of every parameter: the logits and the f32 gradients
// stay close to the f32 model's.
TEST(GptTest, Bf16ComputeCloseToF32) {
  std::unique_ptr<Gpt> f32 = MakeGpt(TinyOptions(), 9), bf16 = MakeGpt(TinyOptions(), 9);
  for (const NamedParameter& p : bf16->NamedParameters()) {
    absl::StatusOr<Tensor> c = Tensor::Empty(p.parameter->value.shape(), DType::kBF16);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(kernels::Cast(p.parameter->value, *c).ok());
    p.parameter->compute = *c;
  }
  Tensor tokens = RandomTokens(2, 8, 16, 80);
  Tensor dlogits = kernels::testing::RandomTensor({2, 8, 16}, 81);
  ASSERT_TRUE(ZeroGradients(f32->NamedParameters()).ok());
  ASSERT_TRUE(ZeroGradients(bf16->NamedParameters()).ok());
  Context c32, c16;
  absl::StatusOr<Tensor> y32 = f32->Forward(c32, tokens), y16 = bf16->Forward(c16, tokens);
  ASSERT_TRUE(y32.ok() && y16.ok()) << y16.status();
  EXPECT_EQ(y16->dtype(), DType::kBF16);
  EXPECT_TRUE(kernels::testing::ValuesClose(Values(*y16), Values(*y32), 2e-2, 5e-2));
  ASSERT_TRUE(f32->Backward(c32, dlogits).ok());
  ASSERT_TRUE(bf16->Backward(c16, kernels::testing::Cast(dlogits, DType::kBF16)).ok());
  std::vector<NamedParameter> p32 = f32->NamedParameters(), p16 = bf16->NamedParameters();
  for (size_t i = 0; i < p32.size(); ++i) {
    std::vector<double> a = Values(p16[i].parameter->grad), b = Values(p32[i].parameter->grad);
    double scale = 0.0;
    for (double x : b) scale = std::max(scale, std::fabs(x));
    EXPECT_TRUE(kernels::testing::ValuesClose(a, b, 0.05 * scale + 1e-6, 0.05)) << p32[i].name;
  }
}

}  // namespace
}  // namespace braid::nn
