// ZeRO-1/2 against the unsharded data parallelism, and deterministic mode's
// bit-identity across data-parallel sizes, over real tcp communicators.
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "collectives/tcp/test_util.h"
#include "gtest/gtest.h"
#include "nn/adamw.h"
#include "parallelism/data_parallel.h"
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
using runtime::DType;
using runtime::Tensor;
using Params = std::map<std::string, std::vector<float>>;

constexpr int64_t kFeatures = 7;
// Two layers per bucket: 28 floats, padded to 30 on 3 ranks.
constexpr size_t kBucketBytes = 4 * kFeatures * sizeof(float);

enum class Opt { kSgd, kAdamW };

std::unique_ptr<nn::Optimizer> NewOptimizer(Opt opt) {
  if (opt == Opt::kSgd) return std::make_unique<TestSgd>(0.9f, 0.1f);
  auto adam = nn::AdamW::Create({.beta1 = 0.9f, .beta2 = 0.95f, .weight_decay = 0.1f});
  EXPECT_TRUE(adam.ok()) << adam.status();
  return std::move(*adam);
}

std::unique_ptr<TestModel> NewZeroModel() { return NewModel({.layers = 4, .features = kFeatures}); }

bool BitEqual(const Params& a, const Params& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, v] : a) {
    const std::vector<float>& w = b.at(name);
    if (v.size() != w.size() || std::memcmp(v.data(), w.data(), v.size() * 4) != 0) return false;
  }
  return true;
}

struct ZeroCase {
  ZeroStage stage;
  Opt opt;
};

class ZeroTest : public ::testing::TestWithParam<ZeroCase> {};

// Several steps with clipping: ZeRO's sharded optimizer (and, for stage 2,
// reduce-scattered gradients) gives the parameters and norms of kNone.
TEST_P(ZeroTest, MatchesUnshardedAfterSeveralSteps) {
  const ZeroCase c = GetParam();
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(3, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto comm = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(comm.ok()) << comm.status();
    std::unique_ptr<TestModel> plain = NewZeroModel();
    std::unique_ptr<TestModel> sharded = NewZeroModel();
    auto dp_plain = DataParallel::Create(plain->NamedParameters(), **comm,
                                         {.bucket_bytes = kBucketBytes});
    ASSERT_TRUE(dp_plain.ok()) << dp_plain.status();
    auto dp_sharded = DataParallel::Create(sharded->NamedParameters(), **comm,
                                           {.bucket_bytes = kBucketBytes, .zero = c.stage});
    ASSERT_TRUE(dp_sharded.ok()) << dp_sharded.status();
    ASSERT_EQ((*dp_sharded)->num_buckets(), 2);
    std::unique_ptr<nn::Optimizer> opt_plain = NewOptimizer(c.opt);
    std::unique_ptr<nn::Optimizer> opt_sharded = NewOptimizer(c.opt);

    // This rank's slots are slices of its shards; together the ranks cover
    // every element once. Each layer's weight decays and its bias does not,
    // so shards are cut into runs.
    int64_t mine = 0;
    for (const nn::OptimizerSlot& s : (*dp_sharded)->OptimizerSlots()) {
      EXPECT_TRUE(absl::StartsWith(s.name, "bucket")) << s.name;
      mine += s.value.numel();
    }
    Tensor count = *Tensor::FromVector(std::vector<int64_t>{mine}, {1});
    ASSERT_TRUE((*comm)->AllReduce(count, count, collectives::ReduceOp::kSum)
                    ->Wait(absl::Now() + kWait).ok());
    EXPECT_EQ(count.data<int64_t>()[0], plain->NumParameters());

    const float lr = c.opt == Opt::kSgd ? 0.05f : 0.01f;
    int bit_equal_steps = 0;
    for (int step = 0; step < 3; ++step) {
      float norms[2] = {0, 0};
      int i = 0;
      for (auto [dp, model, opt] : {std::tuple{dp_plain->get(), plain.get(), opt_plain.get()},
                                    std::tuple{dp_sharded->get(), sharded.get(),
                                               opt_sharded.get()}}) {
        ASSERT_TRUE(RunMicrobatches(*dp, *model, kFeatures, step * 2 * n, rank, 2).ok());
        absl::Status s = dp->FinishGradients(absl::Now() + kWait);
        ASSERT_TRUE(s.ok()) << s;
        auto norm = dp->ClipGradients(0.5f, absl::Now() + kWait);
        ASSERT_TRUE(norm.ok()) << norm.status();
        norms[i++] = *norm;
        s = dp->Step(*opt, lr, absl::Now() + kWait);
        ASSERT_TRUE(s.ok()) << s;
      }
      EXPECT_GT(norms[0], 0.0f);
      EXPECT_NEAR(norms[1], norms[0], 1e-6f * norms[0]) << "step " << step;
      const Params a = Values(plain->NamedParameters());
      const Params b = Values(sharded->NamedParameters());
      for (const auto& [name, v] : a) {
        for (size_t k = 0; k < v.size(); ++k) {
          EXPECT_NEAR(b.at(name)[k], v[k], 1e-6f) << name << "[" << k << "] step " << step;
        }
      }
      bit_equal_steps += BitEqual(a, b) ? 1 : 0;
    }
    if (rank == 0) {
      std::printf("%s %s: parameters bit-identical to kNone after %d of 3 steps\n",
                  std::string(ToString(c.stage)).c_str(), c.opt == Opt::kSgd ? "sgd" : "adamw",
                  bit_equal_steps);
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

INSTANTIATE_TEST_SUITE_P(Stages, ZeroTest,
                         ::testing::Values(ZeroCase{ZeroStage::kOptimizerState, Opt::kSgd},
                                           ZeroCase{ZeroStage::kOptimizerState, Opt::kAdamW},
                                           ZeroCase{ZeroStage::kGradients, Opt::kSgd},
                                           ZeroCase{ZeroStage::kGradients, Opt::kAdamW}));

// Deterministic mode: 8 global microbatches per step as DP=1 x 4 (two
// steps of 4), DP=2 x 2 and DP=4 x 1, unsharded and with ZeRO: gradients
// and parameters are bit-identical.
TEST(DeterministicTest, BitIdenticalAcrossDataParallelSizes) {
  StoreFixture store = StartStore(Bound(absl::Seconds(60)));
  auto r = braid::testing::RunRanks(4, [&](int rank, int n) {
    auto client = ConnectStore();
    ASSERT_TRUE(client.ok()) << client.status();
    auto world = MakeComm(client->get(), rank, n);
    ASSERT_TRUE(world.ok()) << world.status();
    auto solo = (*world)->Split(rank, 0, absl::Now() + kWait);
    ASSERT_TRUE(solo.ok()) << solo.status();
    auto pairs = (*world)->Split(rank / 2, rank, absl::Now() + kWait);
    ASSERT_TRUE(pairs.ok()) << pairs.status();
    struct Config {
      const char* name;
      collectives::Communicator* comm;
      ZeroStage zero;
      bool overlap;
    };
    const Config configs[] = {
        {"dp1", solo->get(), ZeroStage::kNone, true},
        {"dp2", pairs->get(), ZeroStage::kNone, true},
        {"dp4", world->get(), ZeroStage::kNone, false},
        {"dp2-zero1", pairs->get(), ZeroStage::kOptimizerState, true},
        {"dp4-zero2", world->get(), ZeroStage::kGradients, true},
    };
    constexpr int kGlobal = 4;  // microbatches per step over the group
    std::vector<std::vector<Params>> grads;   // [config][step]
    std::vector<std::vector<Params>> values;  // [config][step]
    for (const Config& config : configs) {
      std::unique_ptr<TestModel> model = NewZeroModel();
      auto dp = DataParallel::Create(model->NamedParameters(), *config.comm,
                                     {.bucket_bytes = kBucketBytes, .overlap = config.overlap,
                                      .zero = config.zero, .deterministic = true});
      ASSERT_TRUE(dp.ok()) << config.name << ": " << dp.status();
      std::unique_ptr<nn::Optimizer> opt = NewOptimizer(Opt::kAdamW);
      const int count = kGlobal / config.comm->size();
      grads.emplace_back();
      values.emplace_back();
      for (int step = 0; step < 2; ++step) {
        ASSERT_TRUE(RunMicrobatches(**dp, *model, kFeatures, step * kGlobal,
                                    config.comm->rank(), count).ok());
        absl::Status s = (*dp)->FinishGradients(absl::Now() + kWait);
        ASSERT_TRUE(s.ok()) << config.name << ": " << s;
        grads.back().push_back(Grads(model->NamedParameters()));
        s = (*dp)->Step(*opt, 0.01f, absl::Now() + kWait);
        ASSERT_TRUE(s.ok()) << config.name << ": " << s;
        values.back().push_back(Values(model->NamedParameters()));
      }
    }
    for (size_t k = 1; k < std::size(configs); ++k) {
      for (int step = 0; step < 2; ++step) {
        // ZeRO-2 leaves only this rank's shards of the gradients defined.
        if (configs[k].zero != ZeroStage::kGradients) {
          EXPECT_TRUE(BitEqual(grads[k][step], grads[0][step]))
              << configs[k].name << " gradients differ from dp1 at step " << step;
        }
        EXPECT_TRUE(BitEqual(values[k][step], values[0][step]))
            << configs[k].name << " parameters differ from dp1 at step " << step;
      }
    }
  }, store.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

}  // namespace
}  // namespace braid::parallelism
