// Every layer of nn/ on a GPU against the same layer on the CPU: forward,
// input gradient and parameter gradients, through the same code (the layers
// dispatch on the parameters' device). Skipped without a usable GPU.
#include <functional>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/gemm.h"
#include "kernels/testing/device.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/mlp.h"
#include "nn/norm.h"
#include "nn/sequential.h"

namespace braid::nn {
namespace {

using kernels::testing::MatchesCpu;
using kernels::testing::RandomTensor;
using kernels::testing::ToGpu;
using kernels::testing::ToHost;
using runtime::Device;
using runtime::DType;
using runtime::Tensor;

using MakeLayer = std::function<std::unique_ptr<Layer>(Device)>;

template <typename T>
std::unique_ptr<Layer> Must(absl::StatusOr<std::unique_ptr<T>> layer) {
  EXPECT_TRUE(layer.ok()) << layer.status();
  return layer.ok() ? std::move(*layer) : nullptr;
}

// Runs Forward and Backward of the layer made on the CPU and on GPU 0 with
// the same parameters, input x and output gradient, and compares.
void ExpectGpuMatchesCpu(const MakeLayer& make, const Tensor& x, double tol = 1e-4) {
  std::unique_ptr<Layer> cpu = make(Device::Cpu());
  std::unique_ptr<Layer> gpu = make(Device::Cuda(0));
  ASSERT_TRUE(cpu != nullptr && gpu != nullptr);
  ASSERT_TRUE(cpu->Initialize(5).ok());
  ASSERT_TRUE(gpu->Initialize(5).ok());
  kernels::GemmContext gemm;
  Context cc({.rng_seed = 1, .rng_stream = 2});
  Context gc({.rng_seed = 1, .rng_stream = 2, .gemm_context = &gemm});
  absl::StatusOr<Tensor> yc = cpu->Forward(cc, x);
  absl::StatusOr<Tensor> yg = gpu->Forward(gc, ToGpu(x));
  ASSERT_TRUE(yc.ok()) << yc.status();
  ASSERT_TRUE(yg.ok()) << yg.status();
  EXPECT_TRUE(yg->device().is_cuda());
  EXPECT_TRUE(MatchesCpu(*yg, *yc, tol, tol)) << cpu->kind() << " forward";
  Tensor dy = RandomTensor(yc->shape(), 9, yc->dtype());
  absl::StatusOr<Tensor> dxc = cpu->Backward(cc, dy);
  absl::StatusOr<Tensor> dxg = gpu->Backward(gc, ToGpu(dy));
  ASSERT_TRUE(dxc.ok()) << dxc.status();
  ASSERT_TRUE(dxg.ok()) << dxg.status();
  EXPECT_EQ(dxc->defined(), dxg->defined());
  if (dxc->defined()) {
    EXPECT_TRUE(MatchesCpu(*dxg, *dxc, tol, tol)) << cpu->kind() << " dx";
  }
  std::vector<NamedParameter> pc = cpu->NamedParameters(), pg = gpu->NamedParameters();
  ASSERT_EQ(pc.size(), pg.size());
  for (size_t i = 0; i < pc.size(); ++i) {
    EXPECT_TRUE(MatchesCpu(pg[i].parameter->grad, pc[i].parameter->grad, tol, tol))
        << cpu->kind() << " " << pc[i].name;
  }
  EXPECT_EQ(gc.num_saved(), 0u);
}

TEST(LayersCudaTest, Linear) {
  BRAID_SKIP_WITHOUT_GPU();
  ExpectGpuMatchesCpu(
      [](Device d) {
        return Must(
            Linear::Create({.in_features = 24, .out_features = 40, .init_std = 0.2f, .device = d}));
      },
      RandomTensor({3, 5, 24}, 1));
}

TEST(LayersCudaTest, Embedding) {
  BRAID_SKIP_WITHOUT_GPU();
  absl::StatusOr<Tensor> ids = Tensor::FromVector(std::vector<int32_t>{3, 1, 3, 0, 7, 7}, {2, 3});
  ASSERT_TRUE(ids.ok());
  ExpectGpuMatchesCpu(
      [](Device d) {
        return Must(Embedding::Create({.num_embeddings = 8, .dim = 16, .device = d}));
      },
      *ids);
}

TEST(LayersCudaTest, Norms) {
  BRAID_SKIP_WITHOUT_GPU();
  ExpectGpuMatchesCpu([](Device d) { return Must(LayerNorm::Create({.dim = 48, .device = d})); },
                      RandomTensor({7, 48}, 2));
  ExpectGpuMatchesCpu([](Device d) { return Must(RMSNorm::Create({.dim = 48, .device = d})); },
                      RandomTensor({7, 48}, 3));
}

TEST(LayersCudaTest, MlpBothActivations) {
  BRAID_SKIP_WITHOUT_GPU();
  for (MlpActivation act : {MlpActivation::kGelu, MlpActivation::kSwiGLU}) {
    ExpectGpuMatchesCpu(
        [act](Device d) {
          return Must(Mlp::Create(
              {.dim = 32, .hidden = 48, .activation = act, .init_std = 0.2f, .device = d}));
        },
        RandomTensor({2, 9, 32}, 4));
  }
}

// Same (seed, stream): the same mask on the GPU as on the CPU.
TEST(LayersCudaTest, DropoutInSequential) {
  BRAID_SKIP_WITHOUT_GPU();
  ExpectGpuMatchesCpu(
      [](Device d) {
        auto seq = std::make_unique<Sequential>();
        EXPECT_TRUE(seq->Append("fc", Must(Linear::Create(
                                          {.in_features = 16, .out_features = 16, .device = d})))
                        .ok());
        EXPECT_TRUE(seq->Append("drop", Must(Dropout::Create({.p = 0.3f}))).ok());
        return std::unique_ptr<Layer>(std::move(seq));
      },
      RandomTensor({4, 16}, 5));
}

TEST(LayersCudaTest, CrossEntropyLoss) {
  BRAID_SKIP_WITHOUT_GPU();
  CrossEntropyLoss loss;
  Tensor logits = RandomTensor({2, 3, 50}, 6, DType::kF32, -3, 3);
  absl::StatusOr<Tensor> targets =
      Tensor::FromVector(std::vector<int32_t>{0, 49, -100, 7, 7, 20}, {2, 3});
  ASSERT_TRUE(targets.ok());
  Context cc, gc;
  absl::StatusOr<float> lc = loss.Forward(cc, logits, *targets);
  absl::StatusOr<float> lg = loss.Forward(gc, ToGpu(logits), ToGpu(*targets));
  ASSERT_TRUE(lc.ok() && lg.ok()) << lg.status();
  EXPECT_NEAR(*lg, *lc, 1e-5);
  absl::StatusOr<Tensor> dc = loss.Backward(cc, 0.5f), dg = loss.Backward(gc, 0.5f);
  ASSERT_TRUE(dc.ok() && dg.ok()) << dg.status();
  EXPECT_TRUE(MatchesCpu(*dg, *dc, 1e-6, 1e-4));
}

}  // namespace
}  // namespace braid::nn
