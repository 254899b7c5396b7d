// DataParallel over real tcp communicators in real rank processes: averaged
// gradients, overlap with the backward, accumulation, unused parameters,
// misuse, mismatched models and a killed peer.
#include "parallelism/data_parallel.h"

#include <signal.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/status_payload.h"
#include "collectives/tcp/test_util.h"
#include "gtest/gtest.h"
#include "parallelism/testing/dp_test_model.h"
#include "parallelism/testing/dp_test_util.h"

namespace braid::parallelism {
namespace {

using namespace braid::parallelism::testing;  // NOLINT
using collectives::tcp::testing::Bound;
using collectives::tcp::testing::ConnectStore;
using collectives::tcp::testing::MakeComm;
using collectives::tcp::testing::StartStore;
using collectives::tcp::testing::StoreFixture;
using runtime::Tensor;

constexpr int64_t kFeatures = 7;
// One layer (weight + bias of 7 floats) per bucket.
constexpr size_t kLayerBytes = 2 * kFeatures * sizeof(float);

struct MeanCase {
  int ranks;
  int microbatches;
  bool overlap;
  size_t bucket_bytes;
};

class DataParallelMeanTest : public ::testing::TestWithParam<MeanCase> {};

// After FinishGradients every rank holds the mean over all ranks'
// microbatches, equal to one process training on the union of the data.
TEST_P(DataParallelMeanTest, GradientsAreTheMeanOverTheUnionOfTheData) {
  const MeanCase c = GetParam();
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(c.ranks, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    const TestModelOptions mo{.layers = 4, .features = kFeatures};
    std::unique_ptr<TestModel> model = NewModel(mo);
    const auto initial = Values(model->NamedParameters());
    auto dp = DataParallel::Create(model->NamedParameters(), **comm,
                                   {.bucket_bytes = c.bucket_bytes, .overlap = c.overlap});
    ASSERT_TRUE(dp.ok()) << dp.status();
    // Re-homing kept the values, and compute follows value.
    EXPECT_EQ(Values(model->NamedParameters()), initial);
    for (const nn::NamedParameter& p : model->NamedParameters()) {
      EXPECT_EQ(p.parameter->compute.raw_data(), p.parameter->value.raw_data()) << p.name;
    }
    const int global = n * c.microbatches;
    for (int step = 0; step < 2; ++step) {
      ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, step * global, rank, c.microbatches)
                      .ok());
      absl::Status s = (*dp)->FinishGradients(absl::Now() + kWait);
      ASSERT_TRUE(s.ok()) << s;
      ExpectNear(Grads(model->NamedParameters()), ReferenceMean(mo, step * global, global), 2e-6f);
      const DataParallelStats& stats = (*dp)->last_step_stats();
      EXPECT_EQ(stats.collectives, (*dp)->num_buckets());
      EXPECT_GT(stats.bytes, 0);
      EXPECT_GE(stats.communication, absl::ZeroDuration());
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, DataParallelMeanTest,
    ::testing::Values(MeanCase{2, 2, true, kLayerBytes}, MeanCase{3, 1, false, kLayerBytes},
                      MeanCase{3, 3, true, 3 * kLayerBytes}, MeanCase{4, 2, true, 25u << 20}));

// A bucket is posted during the last microbatch's backward as soon as its
// layer is done (buckets hold one layer each, in reverse order); earlier
// microbatches post nothing, and each bucket is reduced once per step.
TEST(DataParallelOverlapTest, BucketsArePostedDuringTheLastBackwardOnly) {
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    for (bool overlap : {true, false}) {
      auto tracer = runtime::Tracer::Create(
          {.dir = absl::StrCat(::testing::TempDir(), "dp_trace_", getpid()), .rank = rank});
      ASSERT_TRUE(tracer.ok()) << tracer.status();
      std::unique_ptr<TestModel> model = NewModel({.layers = 4, .features = kFeatures});
      auto dp = DataParallel::Create(
          model->NamedParameters(), **comm,
          {.bucket_bytes = kLayerBytes, .overlap = overlap, .tracer = tracer->get()});
      ASSERT_TRUE(dp.ok()) << dp.status();
      ASSERT_EQ((*dp)->num_buckets(), 4);
      std::vector<int> posted_after_layer;
      ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, 0, rank, 4, [&](int mb, int layer) {
        if (mb < 3) {
          EXPECT_EQ((*dp)->buckets_posted(), 0) << "microbatch " << mb << " layer " << layer;
        } else {
          posted_after_layer.push_back((*dp)->buckets_posted());
        }
      }).ok());
      if (overlap) {
        // Layer 3 is backwarded first and fills bucket 0: one more bucket
        // per layer, each before the backward is over.
        EXPECT_EQ(posted_after_layer, (std::vector<int>{1, 2, 3, 4}));
      } else {
        EXPECT_EQ(posted_after_layer, (std::vector<int>{0, 0, 0, 0}));
      }
      ASSERT_TRUE((*dp)->FinishGradients(absl::Now() + kWait).ok());
      const DataParallelStats& stats = (*dp)->last_step_stats();
      EXPECT_EQ(stats.collectives, 4);
      EXPECT_EQ(stats.buckets_posted_in_backward, overlap ? 4 : 0);
      EXPECT_EQ(stats.bytes, 4 * 2 * kFeatures * 4) << "(2 ranks: no padding)";
      // One async span ("dp bucket i allreduce") per bucket: begin and end.
      EXPECT_EQ((*tracer)->num_events(), 8u);
      EXPECT_TRUE((*tracer)->Close().ok());
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// A parameter that never gets a gradient does not stall the step: its bucket
// is posted by FinishGradients, and its gradient stays zero.
TEST(DataParallelUnusedTest, UnusedParameterDoesNotStall) {
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    const TestModelOptions mo{.layers = 3, .features = kFeatures, .unused_parameter = true};
    std::unique_ptr<TestModel> model = NewModel(mo);
    auto dp = DataParallel::Create(model->NamedParameters(), **comm,
                                   {.bucket_bytes = kLayerBytes});
    ASSERT_TRUE(dp.ok()) << dp.status();
    EXPECT_EQ((*dp)->num_buckets(), 4);  // 3 layers, then "unused" (registered first)
    ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, 0, rank, 2).ok());
    EXPECT_EQ((*dp)->buckets_posted(), 3);
    const absl::Time start = absl::Now();
    ASSERT_TRUE((*dp)->FinishGradients(absl::Now() + kWait).ok());
    EXPECT_LT(absl::Now() - start, Bound(absl::Seconds(5)));
    EXPECT_EQ((*dp)->last_step_stats().collectives, 4);
    EXPECT_EQ(Grads(model->NamedParameters()).at("unused"), std::vector<float>(5, 0.0f));
    ExpectNear(Grads(model->NamedParameters()), ReferenceMean(mo, 0, 2 * n), 2e-6f);
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// Calls out of order are refused with a clear code and change nothing.
TEST(DataParallelMisuseTest, OutOfOrderCallsAreRefused) {
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(1, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    std::unique_ptr<TestModel> model = NewModel();
    auto dp = DataParallel::Create(model->NamedParameters(), **comm, {});
    ASSERT_TRUE(dp.ok()) << dp.status();
    TestSgd sgd(0.0f, 0.0f);
    const absl::Time deadline = absl::Now() + kWait;
    EXPECT_TRUE(absl::IsFailedPrecondition((*dp)->FinishGradients(deadline)));
    EXPECT_TRUE(absl::IsFailedPrecondition((*dp)->Step(sgd, 0.1f, deadline)));
    EXPECT_TRUE(absl::IsFailedPrecondition((*dp)->ClipGradients(1.0f, deadline).status()));
    EXPECT_TRUE(absl::IsInvalidArgument((*dp)->BeginMicrobatch(2, 2).status()));
    EXPECT_TRUE(absl::IsFailedPrecondition((*dp)->BeginMicrobatch(1, 2).status()));
    ASSERT_TRUE((*dp)->BeginMicrobatch(0, 2).ok());
    EXPECT_TRUE(absl::IsFailedPrecondition((*dp)->FinishGradients(deadline)));  // 1 of 2
    ASSERT_TRUE((*dp)->BeginMicrobatch(1, 2).ok());
    ASSERT_TRUE((*dp)->FinishGradients(deadline).ok());
    EXPECT_TRUE(absl::IsInvalidArgument((*dp)->ClipGradients(0.0f, deadline).status()));
    ASSERT_TRUE((*dp)->Step(sgd, 0.1f, deadline).ok());
    EXPECT_TRUE(absl::IsFailedPrecondition((*dp)->Step(sgd, 0.1f, deadline)));  // twice

    // Parameters must be f32 with a grad.
    auto bad = nn::MakeParameter({3}, runtime::Device::Cpu());
    ASSERT_TRUE(bad.ok());
    bad->grad = Tensor();
    auto refused = DataParallel::Create({{"bad", &*bad}}, **comm, {});
    EXPECT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// A tied parameter (listed twice) is reduced once, after both of its
// owners reported it; a third report in one microbatch fails the step.
TEST(DataParallelHookTest, TiedParameterWaitsForEveryOwner) {
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    auto p = nn::MakeParameter({3}, runtime::Device::Cpu());
    ASSERT_TRUE(p.ok());
    auto dp = DataParallel::Create({{"embed.weight", &*p}, {"head.weight", &*p}}, **comm, {});
    ASSERT_TRUE(dp.ok()) << dp.status();
    EXPECT_EQ((*dp)->num_buckets(), 1);
    for (int step = 0; step < 2; ++step) {
      auto hook = (*dp)->BeginMicrobatch(0, 1);
      ASSERT_TRUE(hook.ok()) << hook.status();
      ASSERT_TRUE(p->grad.Fill(rank + 1.0).ok());
      (*hook)->OnGradientReady(*p);
      EXPECT_EQ((*dp)->buckets_posted(), 0);
      (*hook)->OnGradientReady(*p);
      EXPECT_EQ((*dp)->buckets_posted(), 1);
      if (step == 1) (*hook)->OnGradientReady(*p);  // one report too many
      absl::Status s = (*dp)->FinishGradients(absl::Now() + kWait);
      if (step == 0) {
        ASSERT_TRUE(s.ok()) << s;
        EXPECT_EQ(Grads({{"p", &*p}}).at("p"), std::vector<float>(3, 1.5f));
      } else {
        EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
        EXPECT_TRUE(absl::StrContains(s.message(), "embed.weight")) << s;
      }
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// Ranks whose models or options differ are told so, naming the difference.
TEST(DataParallelCreateTest, MismatchedParametersAreInvalidArgument) {
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(2, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    // A different shape on rank 1.
    std::unique_ptr<TestModel> a = NewModel({.features = rank == 1 ? 8 : 7});
    auto dp = DataParallel::Create(a->NamedParameters(), **comm, {});
    EXPECT_TRUE(absl::IsInvalidArgument(dp.status())) << dp.status();
    EXPECT_TRUE(absl::StrContains(dp.status().message(), "'layers.0.weight' [")) << dp.status();
    // An extra parameter on rank 0.
    std::unique_ptr<TestModel> b = NewModel({.unused_parameter = rank == 0});
    dp = DataParallel::Create(b->NamedParameters(), **comm, {});
    EXPECT_TRUE(absl::IsInvalidArgument(dp.status())) << dp.status();
    EXPECT_TRUE(absl::StrContains(dp.status().message(), "parameter #0")) << dp.status();
    // Different options.
    std::unique_ptr<TestModel> c = NewModel();
    dp = DataParallel::Create(
        c->NamedParameters(), **comm,
        {.zero = rank == 0 ? ZeroStage::kNone : ZeroStage::kOptimizerState});
    EXPECT_TRUE(absl::IsInvalidArgument(dp.status())) << dp.status();
    EXPECT_TRUE(absl::StrContains(dp.status().message(), "option zero")) << dp.status();
    // And the same model still works on this communicator afterwards.
    std::unique_ptr<TestModel> d = NewModel();
    dp = DataParallel::Create(d->NamedParameters(), **comm, {});
    EXPECT_TRUE(dp.ok()) << dp.status();
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// kill -9 of a rank while the others' buckets are in flight: FinishGradients
// returns kAborted naming it, promptly, and the next step is refused by the
// broken communicator instead of hanging.
TEST(DataParallelFaultTest, KilledPeerAbortsTheStep) {
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  constexpr int kVictim = 2;
  auto r = braid::testing::RunRanks(3, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    const std::string prefix = std::getenv("BRAID_TCP_TEST_PREFIX");
    std::unique_ptr<TestModel> model = NewModel({.layers = 4, .features = kFeatures});
    auto dp = DataParallel::Create(model->NamedParameters(), **comm,
                                   {.bucket_bytes = kLayerBytes});
    ASSERT_TRUE(dp.ok()) << dp.status();
    // One good step.
    ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, 0, rank, 1).ok());
    ASSERT_TRUE((*dp)->FinishGradients(absl::Now() + kWait).ok());
    if (rank == kVictim) {
      // Die once both survivors have posted every bucket of step 2.
      ASSERT_TRUE((*client)->Wait({prefix + "posted/0", prefix + "posted/1"},
                                  absl::Now() + kWait).ok());
      kill(getpid(), SIGKILL);
    }
    ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, 100, rank, 1).ok());
    EXPECT_EQ((*dp)->buckets_posted(), 4);
    ASSERT_TRUE(
        (*client)->Set(absl::StrCat(prefix, "posted/", rank), "1", absl::Now() + kWait).ok());
    const absl::Time start = absl::Now();
    absl::Status s = (*dp)->FinishGradients(absl::Now() + kWait);
    const absl::Duration took = absl::Now() - start;
    // Neither survivor exits (which its peer would see as a second failure)
    // before both have their result.
    ASSERT_TRUE(
        (*client)->Set(absl::StrCat(prefix, "done/", rank), "1", absl::Now() + kWait).ok());
    ASSERT_TRUE(
        (*client)->Wait({prefix + "done/0", prefix + "done/1"}, absl::Now() + kWait).ok());
    EXPECT_TRUE(absl::IsAborted(s)) << s;
    EXPECT_EQ(collectives::FailedRanks(s), std::vector<int>{kVictim}) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "DataParallel::FinishGradients")) << s;
    EXPECT_LT(took, Bound(absl::Seconds(5)));
    // The next step starts (nothing in flight) and fails fast on the broken
    // communicator.
    ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, 200, rank, 1).ok());
    s = (*dp)->FinishGradients(absl::Now() + kWait);
    EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  }, store.run);
  for (const auto& e : r.ranks) {
    if (e.rank == kVictim) {
      EXPECT_EQ(e.signal, SIGKILL) << r.Summary();
    } else {
      EXPECT_TRUE(e.ok()) << r.Summary();
    }
  }
}

}  // namespace
}  // namespace braid::parallelism
