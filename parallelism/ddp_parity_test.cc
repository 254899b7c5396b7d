// DataParallel's PyTorch-DDP parity features over real tcp communicators in
// real rank processes: initial parameter broadcast / hash check, unused
// parameters with a rank-dependent skipped branch, communication hooks with
// bf16/f16 compression (accuracy and a loss curve), and the no-sync scope.
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/tcp/test_util.h"
#include "gtest/gtest.h"
#include "kernels/cast.h"
#include "nn/mixed_precision.h"
#include "parallelism/comm_hook.h"
#include "parallelism/data_parallel.h"
#include "parallelism/testing/dp_test_model.h"
#include "parallelism/testing/dp_test_util.h"
#include "runtime/status_macros.h"

namespace braid::parallelism {
namespace {

using namespace braid::parallelism::testing;  // NOLINT
using collectives::tcp::testing::Bound;
using collectives::tcp::testing::ConnectStore;
using collectives::tcp::testing::MakeComm;
using collectives::tcp::testing::StartStore;
using collectives::tcp::testing::StoreFixture;
using runtime::DType;
using runtime::Tensor;

constexpr int64_t kFeatures = 7;
constexpr size_t kLayerBytes = 2 * kFeatures * sizeof(float);  // one layer per bucket

// 0.5 * mean over rows of |model(x) - target|^2 on global microbatch g.
float Loss(TestModel& model, int64_t g) {
  nn::Context ctx({.training = false});
  auto y = model.Forward(ctx, MicrobatchInput(g, kFeatures));
  EXPECT_TRUE(y.ok()) << y.status();
  const Tensor t = MicrobatchTarget(g, kFeatures);
  double sum = 0;
  for (int64_t i = 0; i < y->numel(); ++i) {
    const double d = y->data<float>()[i] - t.data<float>()[i];
    sum += 0.5 * d * d;
  }
  return static_cast<float>(sum / y->dim(0));
}

// ---- Initial parameter agreement ------------------------------------------------

// Ranks initialised with different seeds hold rank 0's values after Create
// (the default), bit for bit; with kCheckHash they are refused, naming the
// first differing parameter; with equal values the check passes.
TEST(DdpParameterSyncTest, BroadcastFromRankZeroOrRefuseDifferentValues) {
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(3, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    const TestModelOptions mo{.layers = 3, .features = kFeatures};
    const auto want = Values(NewModel(mo, 42)->NamedParameters());

    std::unique_ptr<TestModel> a = NewModel(mo, 42 + rank);
    if (rank != 0) {
      EXPECT_NE(Values(a->NamedParameters()), want);
    }
    auto dp = DataParallel::Create(a->NamedParameters(), **comm, {.bucket_bytes = kLayerBytes});
    ASSERT_TRUE(dp.ok()) << dp.status();
    EXPECT_EQ(Values(a->NamedParameters()), want);

    // Separate bf16 compute copies follow the broadcast values.
    std::unique_ptr<TestModel> e = NewModel(mo, 42 + rank);
    ASSERT_TRUE(nn::EnableMixedPrecision(e->NamedParameters(), DType::kBF16).ok());
    dp = DataParallel::Create(e->NamedParameters(), **comm, {});
    ASSERT_TRUE(dp.ok()) << dp.status();
    for (const nn::NamedParameter& p : e->NamedParameters()) {
      ASSERT_EQ(p.parameter->compute.dtype(), DType::kBF16);
      auto back = Tensor::Empty(p.parameter->compute.shape(), DType::kF32);
      ASSERT_TRUE(back.ok());
      ASSERT_TRUE(kernels::Cast(p.parameter->compute, *back).ok());
      const std::vector<float>& v = want.at(p.name);
      for (size_t i = 0; i < v.size(); ++i) {
        EXPECT_NEAR(back->data<float>()[i], v[i], 1e-2f * std::abs(v[i])) << p.name << i;
      }
    }

    // Only rank 2's 'layers.1.bias' differs.
    std::unique_ptr<TestModel> b = NewModel(mo, 42);
    if (rank == 2) {
      for (const nn::NamedParameter& p : b->NamedParameters()) {
        if (p.name == "layers.1.bias") p.parameter->value.data<float>()[3] += 1e-6f;
      }
    }
    dp = DataParallel::Create(b->NamedParameters(), **comm,
                              {.parameter_sync = ParameterSync::kCheckHash});
    ASSERT_TRUE(absl::IsInvalidArgument(dp.status())) << dp.status();
    EXPECT_TRUE(absl::StrContains(dp.status().message(),
                                  "'layers.1.bias' differs between rank 0 and rank 2"))
        << dp.status();

    std::unique_ptr<TestModel> c = NewModel(mo, 42);
    dp = DataParallel::Create(c->NamedParameters(), **comm,
                              {.parameter_sync = ParameterSync::kCheckHash});
    EXPECT_TRUE(dp.ok()) << dp.status();

    // The sync mode itself must agree.
    std::unique_ptr<TestModel> d = NewModel(mo, 42);
    dp = DataParallel::Create(
        d->NamedParameters(), **comm,
        {.parameter_sync = rank == 1 ? ParameterSync::kNone : ParameterSync::kBroadcast});
    EXPECT_TRUE(absl::IsInvalidArgument(dp.status())) << dp.status();
    EXPECT_TRUE(absl::StrContains(dp.status().message(), "parameter_sync")) << dp.status();
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// ---- Unused parameters --------------------------------------------------------

std::unique_ptr<AffineLayer> NewBranch() {
  auto layer = AffineLayer::Create(kFeatures);
  EXPECT_TRUE(layer.ok()) << layer.status();
  EXPECT_TRUE((*layer)->Initialize(7).ok());
  return std::move(*layer);
}

// The branch's own loss on microbatch g: forward, 0.5*|y - t|^2 / rows, backward.
absl::Status TrainBranch(nn::Context& ctx, AffineLayer& branch, int64_t g) {
  BRAID_ASSIGN_OR_RETURN(Tensor y, branch.Forward(ctx, MicrobatchInput(g, kFeatures)));
  const Tensor t = MicrobatchTarget(g + 500, kFeatures);
  BRAID_ASSIGN_OR_RETURN(Tensor d, Tensor::Empty(y.shape(), DType::kF32));
  for (int64_t i = 0; i < y.numel(); ++i) {
    d.data<float>()[i] = (y.data<float>()[i] - t.data<float>()[i]) / static_cast<float>(kRows);
  }
  BRAID_ASSIGN_OR_RETURN(d, branch.BackwardInput(ctx, d));
  return branch.BackwardWeight(ctx);
}

std::vector<nn::NamedParameter> Prefixed(std::vector<nn::NamedParameter> params,
                                         absl::string_view prefix) {
  for (nn::NamedParameter& p : params) p.name = absl::StrCat(prefix, p.name);
  return params;
}

struct UnusedCase {
  bool mark_in_forward;
  bool deterministic;
};

class DdpUnusedTest : public ::testing::TestWithParam<UnusedCase> {};

// A branch that only one rank runs (which one alternates by step). Its
// parameters are registered last, so they fill bucket 0, the first to post.
// The skipping rank must still post every bucket in order: at EndBackward,
// or during the backward when it marked the branch unused in the forward.
// The branch's gradient is the user rank's contribution over all ranks'
// microbatches (the skipping rank adds zero), the rest the plain mean.
TEST_P(DdpUnusedTest, RankDependentSkippedBranchNeverStalls) {
  const bool mark = GetParam().mark_in_forward;
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    const TestModelOptions mo{.layers = 3, .features = kFeatures};
    std::unique_ptr<TestModel> model = NewModel(mo);
    std::unique_ptr<AffineLayer> branch = NewBranch();
    const std::vector<nn::NamedParameter> branch_params =
        Prefixed(branch->NamedParameters(), "branch.");
    std::vector<nn::NamedParameter> params = model->NamedParameters();
    params.insert(params.end(), branch_params.begin(), branch_params.end());
    auto dp = DataParallel::Create(
        params, **comm,
        {.bucket_bytes = kLayerBytes, .deterministic = GetParam().deterministic,
         .find_unused_parameters = true});
    ASSERT_TRUE(dp.ok()) << dp.status();
    ASSERT_EQ((*dp)->num_buckets(), 4);
    constexpr int kCount = 2;
    for (int step = 0; step < 3; ++step) {
      const int user = step % 2;
      const int64_t first = step * 100;
      for (int mb = 0; mb < kCount; ++mb) {
        auto hook = (*dp)->BeginMicrobatch(mb, kCount);
        ASSERT_TRUE(hook.ok()) << hook.status();
        nn::Context ctx({.gradient_hook = *hook});
        const int64_t g = first + rank * kCount + mb;
        if (rank == user) {
          ASSERT_TRUE(TrainBranch(ctx, *branch, g).ok());
        } else if (mark) {
          ASSERT_TRUE((*dp)->MarkUnused(branch_params).ok());
        }
        ASSERT_TRUE(model->TrainMicrobatch(ctx, MicrobatchInput(g, kFeatures),
                                           MicrobatchTarget(g, kFeatures))
                        .ok());
      }
      // Without marking, the skipping rank's bucket 0 waits, and the others
      // wait behind it (posting is in bucket order on every rank).
      EXPECT_EQ((*dp)->buckets_posted(), rank == user || mark ? 4 : 0) << "step " << step;
      const absl::Time start = absl::Now();
      ASSERT_TRUE((*dp)->EndBackward().ok());
      EXPECT_EQ((*dp)->buckets_posted(), 4);
      absl::Status s = (*dp)->FinishGradients(absl::Now() + kWait);
      ASSERT_TRUE(s.ok()) << s;
      EXPECT_LT(absl::Now() - start, Bound(absl::Seconds(5)));
      const DataParallelStats& stats = (*dp)->last_step_stats();
      // Deterministic mode adds an all-gather per bucket after its all-to-all.
      EXPECT_EQ(stats.collectives, GetParam().deterministic ? 8 : 4);
      EXPECT_EQ(stats.buckets_posted_in_backward, rank == user || mark ? 4 : 0);
      if (rank == user) {
        EXPECT_EQ(stats.unused_parameters, 0);
        EXPECT_TRUE((*dp)->UnusedParameters().empty());
      } else {
        EXPECT_EQ(stats.unused_parameters, 2);
        EXPECT_EQ((*dp)->UnusedParameters(),
                  (std::vector<std::string>{"branch.weight", "branch.bias"}));
      }
      ExpectNear(Grads(model->NamedParameters()), ReferenceMean(mo, first, n * kCount), 2e-6f);
      // Reference branch gradient: the user's microbatches, over n * kCount.
      std::unique_ptr<AffineLayer> ref = NewBranch();
      for (int mb = 0; mb < kCount; ++mb) {
        nn::Context ctx;
        ASSERT_TRUE(TrainBranch(ctx, *ref, first + user * kCount + mb).ok());
      }
      auto want = Grads(Prefixed(ref->NamedParameters(), "branch."));
      for (auto& [name, g] : want) {
        for (float& x : g) x /= static_cast<float>(n * kCount);
      }
      ExpectNear(Grads(branch_params), want, 2e-6f);
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

INSTANTIATE_TEST_SUITE_P(MarkInForward, DdpUnusedTest,
                         ::testing::Values(UnusedCase{false, false}, UnusedCase{true, false},
                                           UnusedCase{false, true}));

// EndBackward and MarkUnused need the option and the right moment; a
// gradient that arrives after EndBackward fails the step.
TEST(DdpUnusedMisuseTest, RefusedOutOfPlace) {
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(1, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    const absl::Time deadline = absl::Now() + kWait;
    std::unique_ptr<TestModel> plain = NewModel();
    auto off = DataParallel::Create(plain->NamedParameters(), **comm, {});
    ASSERT_TRUE(off.ok()) << off.status();
    ASSERT_TRUE(RunMicrobatches(**off, *plain, kFeatures, 0, rank, 1).ok());
    EXPECT_TRUE(absl::IsFailedPrecondition((*off)->EndBackward()));
    EXPECT_TRUE(absl::IsFailedPrecondition((*off)->MarkUnused(plain->NamedParameters())));
    EXPECT_TRUE((*off)->FinishGradients(deadline).ok());

    std::unique_ptr<TestModel> model = NewModel();
    auto dp = DataParallel::Create(model->NamedParameters(), **comm,
                                   {.bucket_bytes = kLayerBytes, .find_unused_parameters = true});
    ASSERT_TRUE(dp.ok()) << dp.status();
    std::unique_ptr<AffineLayer> stranger = NewBranch();
    EXPECT_TRUE(absl::IsInvalidArgument((*dp)->MarkUnused(stranger->NamedParameters())));
    ASSERT_TRUE((*dp)->BeginMicrobatch(0, 2).ok());
    EXPECT_TRUE(absl::IsFailedPrecondition((*dp)->EndBackward()));  // not the last microbatch
    auto hook = (*dp)->BeginMicrobatch(1, 2);
    ASSERT_TRUE(hook.ok());
    ASSERT_TRUE((*dp)->EndBackward().ok());  // nothing reported: all unused
    EXPECT_TRUE(absl::IsFailedPrecondition((*dp)->EndBackward()));  // twice
    EXPECT_EQ((*dp)->UnusedParameters().size(), 6u);
    // A gradient after the backward was declared over.
    nn::Context ctx({.gradient_hook = *hook});
    ASSERT_TRUE(model->TrainMicrobatch(ctx, MicrobatchInput(0, kFeatures),
                                       MicrobatchTarget(0, kFeatures))
                    .ok());
    absl::Status s = (*dp)->FinishGradients(deadline);
    EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
    // The next step works.
    ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, 0, rank, 1).ok());
    EXPECT_TRUE((*dp)->FinishGradients(deadline).ok());
    EXPECT_TRUE((*dp)->UnusedParameters().empty());
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// ---- Communication hooks ------------------------------------------------------

struct CompressionCase {
  GradientCompression compression;
  ZeroStage zero;
  float tolerance;
};

class DdpCompressionTest : public ::testing::TestWithParam<CompressionCase> {};

// Compressed reductions give the mean within the wire dtype's precision,
// post half the bytes of f32 and say so in the stats.
TEST_P(DdpCompressionTest, MeanWithinWirePrecisionAndHalfTheBytes) {
  const CompressionCase c = GetParam();
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    const TestModelOptions mo{.layers = 4, .features = kFeatures};
    std::unique_ptr<TestModel> model = NewModel(mo);
    const auto initial = Values(model->NamedParameters());
    auto dp = DataParallel::Create(
        model->NamedParameters(), **comm,
        {.bucket_bytes = 2 * kLayerBytes, .zero = c.zero, .compression = c.compression});
    ASSERT_TRUE(dp.ok()) << dp.status();
    ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, 0, rank, 2).ok());
    EXPECT_EQ((*dp)->buckets_posted(), 2);
    ASSERT_TRUE((*dp)->FinishGradients(absl::Now() + kWait).ok());
    const DataParallelStats& stats = (*dp)->last_step_stats();
    const int64_t f32_bytes = 4 * 2 * kFeatures * 4;  // 4 layers, w + b, 2 ranks: no padding
    EXPECT_EQ(stats.bytes, f32_bytes / 2);
    EXPECT_EQ(stats.bytes_saved, f32_bytes / 2);
    const auto want = ReferenceMean(mo, 0, 2 * n);
    if (c.zero == ZeroStage::kNone) {
      ExpectNear(Grads(model->NamedParameters()), want, c.tolerance);
    } else {
      // ZeRO-2 holds only a shard of the gradient: compare the step's result.
      TestSgd sgd(0.0f, 0.0f);
      ASSERT_TRUE((*dp)->Step(sgd, 1.0f, absl::Now() + kWait).ok());
      std::map<std::string, std::vector<float>> moved;
      for (const auto& [name, v] : Values(model->NamedParameters())) {
        for (size_t i = 0; i < v.size(); ++i) moved[name].push_back(initial.at(name)[i] - v[i]);
      }
      ExpectNear(moved, want, c.tolerance);
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

INSTANTIATE_TEST_SUITE_P(
    Wire, DdpCompressionTest,
    ::testing::Values(CompressionCase{GradientCompression::kBf16, ZeroStage::kNone, 8e-3f},
                      CompressionCase{GradientCompression::kFp16, ZeroStage::kNone, 1e-3f},
                      CompressionCase{GradientCompression::kBf16, ZeroStage::kGradients, 8e-3f},
                      CompressionCase{GradientCompression::kFp16, ZeroStage::kOptimizerState,
                                      1e-3f}));

// A hook of one's own: called once per bucket in order, and the plain f32
// hook gives exactly DataParallel's own result.
class CountingHook : public CommHook {
 public:
  absl::string_view name() const override { return "counting-f32"; }
  absl::StatusOr<PostedReduction> Post(const GradientBucket& bucket,
                                       collectives::Communicator& communicator) override {
    order.push_back(bucket.index);
    return inner_->Post(bucket, communicator);
  }
  absl::Status Complete(const GradientBucket& bucket) override {
    ++completed;
    return inner_->Complete(bucket);
  }
  std::vector<int> order;
  int completed = 0;

 private:
  std::unique_ptr<CommHook> inner_ = MakeCompressionHook(GradientCompression::kNone);
};

TEST(DdpCommHookTest, CustomHookRunsPerBucketInOrder) {
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    const TestModelOptions mo{.layers = 3, .features = kFeatures};
    std::unique_ptr<TestModel> a = NewModel(mo);
    std::unique_ptr<TestModel> b = NewModel(mo);
    CountingHook hook;
    auto plain = DataParallel::Create(a->NamedParameters(), **comm, {.bucket_bytes = kLayerBytes});
    ASSERT_TRUE(plain.ok()) << plain.status();
    auto hooked = DataParallel::Create(b->NamedParameters(), **comm,
                                       {.bucket_bytes = kLayerBytes, .comm_hook = &hook});
    ASSERT_TRUE(hooked.ok()) << hooked.status();
    ASSERT_TRUE(RunMicrobatches(**plain, *a, kFeatures, 0, rank, 2).ok());
    ASSERT_TRUE((*plain)->FinishGradients(absl::Now() + kWait).ok());
    ASSERT_TRUE(RunMicrobatches(**hooked, *b, kFeatures, 0, rank, 2).ok());
    ASSERT_TRUE((*hooked)->FinishGradients(absl::Now() + kWait).ok());
    EXPECT_EQ(hook.order, (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(hook.completed, 3);
    EXPECT_EQ(Grads(b->NamedParameters()), Grads(a->NamedParameters()));
    EXPECT_EQ((*hooked)->last_step_stats().bytes_saved, 0);

    // Hooks that differ across ranks are refused; so is a hook with
    // deterministic mode.
    std::unique_ptr<TestModel> c = NewModel(mo);
    auto mixed = DataParallel::Create(
        c->NamedParameters(), **comm,
        {.compression = rank == 0 ? GradientCompression::kBf16 : GradientCompression::kFp16});
    EXPECT_TRUE(absl::IsInvalidArgument(mixed.status())) << mixed.status();
    EXPECT_TRUE(absl::StrContains(mixed.status().message(), "comm_hook")) << mixed.status();
    auto det = DataParallel::Create(
        c->NamedParameters(), **comm,
        {.deterministic = true, .compression = GradientCompression::kBf16});
    EXPECT_TRUE(absl::IsInvalidArgument(det.status())) << det.status();
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// 50 steps of training with bf16 (and f16) compression follow the f32 loss
// curve within a few per cent. Both runs share ranks and data; the loss is
// measured on a held-out microbatch after every step.
TEST(DdpCompressionLossCurveTest, FiftyStepsStayCloseToF32) {
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    const TestModelOptions mo{.layers = 3, .features = kFeatures};
    const GradientCompression kinds[] = {GradientCompression::kNone, GradientCompression::kBf16,
                                         GradientCompression::kFp16};
    std::vector<std::unique_ptr<TestModel>> models;
    std::vector<std::unique_ptr<DataParallel>> dps;
    std::vector<TestSgd> sgds;
    for (GradientCompression kind : kinds) {
      models.push_back(NewModel(mo));
      auto dp = DataParallel::Create(models.back()->NamedParameters(), **comm,
                                     {.bucket_bytes = kLayerBytes, .compression = kind});
      ASSERT_TRUE(dp.ok()) << dp.status();
      dps.push_back(std::move(*dp));
      sgds.emplace_back(0.9f, 0.0f);
    }
    constexpr int kSteps = 50;
    constexpr int kCount = 2;
    constexpr int64_t kHeldOut = 100000;
    const float initial = Loss(*models[0], kHeldOut);
    float worst[3] = {0, 0, 0};
    float final_loss[3] = {0, 0, 0};
    for (int step = 0; step < kSteps; ++step) {
      for (size_t k = 0; k < dps.size(); ++k) {
        ASSERT_TRUE(RunMicrobatches(*dps[k], *models[k], kFeatures, step * n * kCount, rank,
                                    kCount)
                        .ok());
        ASSERT_TRUE(dps[k]->FinishGradients(absl::Now() + kWait).ok());
        ASSERT_TRUE(dps[k]->Step(sgds[k], 0.02f, absl::Now() + kWait).ok());
        final_loss[k] = Loss(*models[k], kHeldOut);
      }
      for (size_t k = 1; k < dps.size(); ++k) {
        worst[k] = std::max(worst[k], std::abs(final_loss[k] - final_loss[0]) / final_loss[0]);
      }
    }
    if (rank == 0) {
      std::printf("loss curve over %d steps: initial %.5f, final f32 %.5f bf16 %.5f fp16 %.5f; "
                  "worst relative gap bf16 %.4f%% fp16 %.4f%%\n",
                  kSteps, initial, final_loss[0], final_loss[1], final_loss[2],
                  100 * worst[1], 100 * worst[2]);
    }
    EXPECT_LT(final_loss[0], 0.8f * initial) << "the model must learn for the curve to mean much";
    EXPECT_LT(worst[1], 0.03f);
    EXPECT_LT(worst[2], 0.01f);
    EXPECT_EQ(dps[1]->last_step_stats().bytes_saved, dps[1]->last_step_stats().bytes);
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// ---- No-sync scope ----------------------------------------------------------------

class DdpNoSyncTest : public ::testing::TestWithParam<bool /*deterministic*/> {};

// Steps under NoSync only accumulate (no collective); the next synced step
// reduces the mean over every accumulated microbatch; the step after that
// starts from zero. NoSync composes with several microbatches per step.
TEST_P(DdpNoSyncTest, AccumulatesLocallyThenReducesEverything) {
  const bool deterministic = GetParam();
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    const TestModelOptions mo{.layers = 3, .features = kFeatures};
    std::unique_ptr<TestModel> model = NewModel(mo);
    auto dp = DataParallel::Create(model->NamedParameters(), **comm,
                                   {.bucket_bytes = kLayerBytes, .deterministic = deterministic});
    ASSERT_TRUE(dp.ok()) << dp.status();
    const absl::Time deadline = absl::Now() + kWait;
    const float tol = 2e-6f;
    {
      auto no_sync = (*dp)->NoSync();
      for (int i = 0; i < 2; ++i) {
        ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, i * n, rank, 1).ok());
        EXPECT_EQ((*dp)->buckets_posted(), 0);
        EXPECT_EQ((*dp)->last_step_stats().collectives, 0);
      }
      EXPECT_TRUE(absl::IsFailedPrecondition((*dp)->FinishGradients(deadline)));
    }
    EXPECT_TRUE(absl::IsFailedPrecondition((*dp)->FinishGradients(deadline)));
    ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, 2 * n, rank, 1).ok());
    EXPECT_EQ((*dp)->buckets_posted(), 3);  // during the synced backward
    ASSERT_TRUE((*dp)->FinishGradients(deadline).ok());
    EXPECT_EQ((*dp)->last_step_stats().accumulated_microbatches, 3);
    ExpectNear(Grads(model->NamedParameters()), ReferenceMean(mo, 0, 3 * n), tol);

    // The next step starts from zero.
    ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, 100, rank, 2).ok());
    ASSERT_TRUE((*dp)->FinishGradients(deadline).ok());
    ExpectNear(Grads(model->NamedParameters()), ReferenceMean(mo, 100, 2 * n), tol);

    // Two microbatches under NoSync, then two synced: g = 200 .. 207.
    {
      auto no_sync = (*dp)->NoSync();
      ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, 200, rank, 2).ok());
    }
    ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, 204, rank, 2).ok());
    ASSERT_TRUE((*dp)->FinishGradients(deadline).ok());
    EXPECT_EQ((*dp)->last_step_stats().accumulated_microbatches, 4);
    ExpectNear(Grads(model->NamedParameters()), ReferenceMean(mo, 200, 4 * n), tol);
    TestSgd sgd(0.0f, 0.0f);
    EXPECT_TRUE((*dp)->Step(sgd, 0.1f, deadline).ok());
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

INSTANTIATE_TEST_SUITE_P(Modes, DdpNoSyncTest, ::testing::Values(false, true));

}  // namespace
}  // namespace braid::parallelism
