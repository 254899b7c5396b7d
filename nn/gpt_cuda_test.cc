// GPU check of the GPT model: the same parameters on GPU 0 give the CPU's
// logits, gradients and greedy text. Its own binary so that, on machines
// without a GPU, ctest shows this (and only this) test as skipped.
#include <cstdint>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/gemm.h"
#include "kernels/testing/device.h"
#include "kernels/testing/gradcheck.h"
#include "nn/context.h"
#include "nn/gpt.h"

namespace braid::nn {
namespace {

using kernels::testing::RandomValues;
using runtime::Tensor;

GptOptions TinyOptions() {
  return {.vocab_size = 16, .context_length = 8, .dim = 16, .num_layers = 2, .num_heads = 2};
}

std::unique_ptr<Gpt> MakeGpt(const GptOptions& options, uint64_t seed) {
  absl::StatusOr<std::unique_ptr<Gpt>> gpt = Gpt::Create(options);
  EXPECT_TRUE(gpt.ok()) << gpt.status();
  if (!gpt.ok()) return nullptr;
  EXPECT_TRUE((*gpt)->Initialize(seed).ok());
  return std::move(*gpt);
}

Tensor RandomTokens(int64_t batch, int64_t seq, int64_t vocab, uint32_t seed) {
  std::vector<float> u = RandomValues(batch * seq, seed, 0.0f, 1.0f);
  std::vector<int32_t> ids;
  for (float x : u) ids.push_back(static_cast<int32_t>(x * static_cast<float>(vocab)));
  return *Tensor::FromVector(ids, {batch, seq});
}

// The same model on GPU 0 gives the CPU's logits and gradients.
TEST(GptTest, CudaMatchesCpu) {
  BRAID_SKIP_WITHOUT_GPU();
  GptOptions o = TinyOptions();
  std::unique_ptr<Gpt> cpu = MakeGpt(o, 11);
  o.device = runtime::Device::Cuda(0);
  std::unique_ptr<Gpt> gpu = MakeGpt(o, 11);
  std::vector<NamedParameter> pc = cpu->NamedParameters(), pg = gpu->NamedParameters();
  ASSERT_EQ(pc.size(), pg.size());
  for (size_t i = 0; i < pc.size(); ++i) {
    ASSERT_TRUE(pg[i].parameter->value.CopyFrom(pc[i].parameter->value).ok());
  }
  ASSERT_TRUE(ZeroGradients(pc).ok());
  ASSERT_TRUE(ZeroGradients(pg).ok());
  Tensor tokens = RandomTokens(2, 8, 16, 90);
  Tensor dlogits = kernels::testing::RandomTensor({2, 8, 16}, 91);
  kernels::GemmContext gemm;
  Context cc, cg({.gemm_context = &gemm});
  absl::StatusOr<Tensor> yc = cpu->Forward(cc, tokens);
  absl::StatusOr<Tensor> yg = gpu->Forward(cg, kernels::testing::ToGpu(tokens));
  ASSERT_TRUE(yc.ok() && yg.ok()) << yg.status();
  EXPECT_TRUE(kernels::testing::MatchesCpu(*yg, *yc, 1e-4, 1e-3));
  ASSERT_TRUE(cpu->Backward(cc, dlogits).ok());
  ASSERT_TRUE(gpu->Backward(cg, kernels::testing::ToGpu(dlogits)).ok());
  for (size_t i = 0; i < pc.size(); ++i) {
    EXPECT_TRUE(
        kernels::testing::MatchesCpu(pg[i].parameter->grad, pc[i].parameter->grad, 1e-4, 1e-3))
        << pc[i].name;
  }
  absl::StatusOr<std::vector<int32_t>> gc = cpu->Generate({1, 2, 3}, 4, 0.0f, 1);
  absl::StatusOr<std::vector<int32_t>> gg = gpu->Generate({1, 2, 3}, 4, 0.0f, 1);
  ASSERT_TRUE(gc.ok() && gg.ok()) << gg.status();
  EXPECT_EQ(*gc, *gg);
}

}  // namespace
}  // namespace braid::nn
