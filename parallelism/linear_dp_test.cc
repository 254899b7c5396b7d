// DataParallel with braid's own layers (nn::Linear in nn::Sequential) and
// nn::AdamW: the layers' GradientReady calls drive the overlap, and the
// averaged gradients match one process training on all the data.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "collectives/tcp/test_util.h"
#include "gtest/gtest.h"
#include "nn/adamw.h"
#include "nn/linear.h"
#include "nn/sequential.h"
#include "parallelism/data_parallel.h"
#include "parallelism/testing/dp_test_model.h"

namespace braid::parallelism {
namespace {

using collectives::tcp::testing::Bound;
using collectives::tcp::testing::ConnectStore;
using collectives::tcp::testing::MakeComm;
using collectives::tcp::testing::StartStore;
using collectives::tcp::testing::StoreFixture;
using runtime::Tensor;
using testing::Grads;
using testing::MicrobatchInput;
using testing::MicrobatchTarget;
using testing::Values;

const absl::Duration kWait = absl::Seconds(60);
constexpr int64_t kIn = 8;
constexpr int64_t kHidden = 16;

std::unique_ptr<nn::Sequential> NewMlp() {
  auto mlp = std::make_unique<nn::Sequential>();
  EXPECT_TRUE(mlp->Append("fc1", *nn::Linear::Create({.in_features = kIn, .out_features = kHidden}))
                  .ok());
  EXPECT_TRUE(mlp->Append("fc2", *nn::Linear::Create({.in_features = kHidden, .out_features = kIn}))
                  .ok());
  EXPECT_TRUE(mlp->Initialize(5).ok());
  return mlp;
}

// Forward, 0.5 * mean squared error over rows, backward.
void TrainMicrobatch(nn::Layer& model, nn::Context& ctx, int64_t g) {
  const Tensor x = MicrobatchInput(g, kIn);
  const Tensor t = MicrobatchTarget(g, kIn);
  auto y = model.Forward(ctx, x);
  ASSERT_TRUE(y.ok()) << y.status();
  Tensor dy = *Tensor::Empty(y->shape(), runtime::DType::kF32);
  for (int64_t i = 0; i < dy.numel(); ++i) {
    dy.data<float>()[i] = (y->data<float>()[i] - t.data<float>()[i]) / y->dim(0);
  }
  auto dx = model.Backward(ctx, dy);
  ASSERT_TRUE(dx.ok()) << dx.status();
}

TEST(DataParallelLinearTest, LinearLayersAverageAndStepLikeOneProcess) {
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    std::unique_ptr<nn::Sequential> model = NewMlp();
    std::unique_ptr<nn::Sequential> ref = NewMlp();
    // fc2's weight and bias in one bucket, fc1's in another.
    auto dp = DataParallel::Create(model->NamedParameters(), **comm,
                                   {.bucket_bytes = (kHidden * kIn + kHidden) * 4});
    ASSERT_TRUE(dp.ok()) << dp.status();
    EXPECT_EQ((*dp)->num_buckets(), 2);
    auto adam = nn::AdamW::Create({});
    auto adam_ref = nn::AdamW::Create({});
    ASSERT_TRUE(adam.ok() && adam_ref.ok());
    constexpr int kCount = 2;
    const int global = n * kCount;
    for (int step = 0; step < 2; ++step) {
      for (int mb = 0; mb < kCount; ++mb) {
        auto hook = (*dp)->BeginMicrobatch(mb, kCount);
        ASSERT_TRUE(hook.ok()) << hook.status();
        nn::Context ctx({.gradient_hook = *hook});
        TrainMicrobatch(*model, ctx, step * global + rank * kCount + mb);
      }
      EXPECT_EQ((*dp)->last_step_stats().buckets_posted_in_backward, 2);
      ASSERT_TRUE((*dp)->FinishGradients(absl::Now() + kWait).ok());
      // The reference: every global microbatch in one process, mean.
      ASSERT_TRUE(nn::ZeroGradients(ref->NamedParameters()).ok());
      for (int g = 0; g < global; ++g) {
        nn::Context ctx;
        TrainMicrobatch(*ref, ctx, step * global + g);
      }
      auto want = Grads(ref->NamedParameters());
      auto got = Grads(model->NamedParameters());
      for (auto& [name, w] : want) {
        for (size_t i = 0; i < w.size(); ++i) {
          w[i] /= static_cast<float>(global);
          EXPECT_NEAR(got.at(name)[i], w[i], 1e-6f * (1.0f + std::abs(w[i]))) << name << i;
        }
      }
      // Apply the mean to the reference too, so both keep training alike.
      for (const nn::NamedParameter& p : ref->NamedParameters()) {
        ASSERT_TRUE(p.parameter->grad.Fill(0.0).ok());
        const std::vector<float>& w = want.at(p.name);
        std::copy(w.begin(), w.end(), p.parameter->grad.data<float>());
      }
      ASSERT_TRUE((*dp)->Step(**adam, 1e-2f, absl::Now() + kWait).ok());
      std::vector<nn::OptimizerSlot> slots;
      for (const nn::NamedParameter& p : ref->NamedParameters()) {
        slots.push_back({p.name, p.parameter->value, p.parameter->grad, p.parameter->weight_decay});
      }
      ASSERT_TRUE((*adam_ref)->Step(slots, 1e-2f).ok());
      auto values = Values(model->NamedParameters());
      for (const auto& [name, w] : Values(ref->NamedParameters())) {
        for (size_t i = 0; i < w.size(); ++i) {
          EXPECT_NEAR(values.at(name)[i], w[i], 1e-5f) << name << i << " step " << step;
        }
      }
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

}  // namespace
}  // namespace braid::parallelism
