// Save and resume across real rank processes joined by the tcp backend: each
// rank's shard round trip, agreement on a fallback step when one rank's shard
// is corrupt, and ranks dying in the middle of a save.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/tcp/tcp_communicator.h"
#include "elastic/checkpoint/checkpointer.h"
#include "elastic/checkpoint/file_util.h"
#include "elastic/checkpoint/test_dir.h"
#include "gtest/gtest.h"
#include "tests/testing/run_ranks.h"
#include "tests/testing/test_store.h"

namespace braid::elastic::checkpoint {
namespace {

using runtime::DType;
using runtime::Tensor;

const absl::Duration kWait = absl::Seconds(60);

// What a parent hands its rank processes: the store, a key prefix and the
// checkpoint directory.
struct Fixture {
  std::unique_ptr<braid::testing::TestStoreServer> server;
  braid::testing::RunRanksOptions run;
};

Fixture Start(const std::string& directory) {
  Fixture f;
  f.run.timeout = absl::Seconds(90);
  if (braid::testing::IsRankProcess()) return f;
  auto server = braid::testing::TestStoreServer::Start();
  if (!server.ok()) {
    ADD_FAILURE() << server.status();
    return f;
  }
  f.server = *std::move(server);
  f.run.env["CKPT_TEST_STORE"] = f.server->address();
  f.run.env["CKPT_TEST_DIR"] = directory;
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  f.run.env["CKPT_TEST_PREFIX"] =
      absl::StrCat("ckpt/", info->test_suite_name(), ".", info->name(), "/", getpid(), "/");
  return f;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// The world communicator of a rank process (the store client stays alive
// with it).
struct World {
  std::unique_ptr<runtime::Store> store;
  std::unique_ptr<collectives::Communicator> comm;
};

World Connect(int rank, int size) {
  World w;
  auto store = braid::testing::ConnectTestStore(Env("CKPT_TEST_STORE"));
  EXPECT_TRUE(store.ok()) << store.status();
  if (!store.ok()) return w;
  w.store = *std::move(store);
  collectives::CommunicatorOptions o;
  o.rank = rank;
  o.size = size;
  o.store = w.store.get();
  o.store_prefix = Env("CKPT_TEST_PREFIX");
  o.connect_timeout = absl::Seconds(30) * braid::testing::TimeoutScale();
  o.op_timeout = absl::Seconds(30) * braid::testing::TimeoutScale();
  o.backend_options.emplace("host", "127.0.0.1");
  auto comm = collectives::tcp::TcpCommunicator::Create(o);
  EXPECT_TRUE(comm.ok()) << comm.status();
  if (comm.ok()) w.comm = *std::move(comm);
  return w;
}

// Rank `rank`'s shard of step `step`: a replicated tensor, a rank-sized one
// (ZeRO-like: shards differ in shape), and per-rank RNG values.
Checkpoint ShardOf(int64_t step, int rank) {
  Checkpoint c;
  c.step = step;
  Tensor w = *Tensor::Empty({4, 5}, DType::kF32);
  for (int i = 0; i < 20; ++i) w.data<float>()[i] = static_cast<float>(step * 100 + i);
  c.tensors.push_back({"model/w", w});
  Tensor shard = *Tensor::Full({rank + 1, 3}, DType::kBF16, static_cast<double>(rank + step));
  c.tensors.push_back({absl::StrCat("optim/shard", rank), shard});
  c.tensors.push_back({"step", *Tensor::Full({}, DType::kI64, static_cast<double>(step))});
  c.values["rng/offset"] = static_cast<uint64_t>(rank) << 40 | static_cast<uint64_t>(step);
  c.config["world"] = "saved";
  return c;
}

void ExpectShard(const LoadedCheckpoint& loaded, int64_t step, int rank) {
  const Checkpoint want = ShardOf(step, rank);
  EXPECT_EQ(loaded.checkpoint.step, step);
  EXPECT_EQ(loaded.shard_rank, rank);
  EXPECT_EQ(loaded.checkpoint.values, want.values);
  EXPECT_EQ(loaded.checkpoint.config, want.config);
  ASSERT_EQ(loaded.checkpoint.tensors.size(), want.tensors.size());
  for (size_t i = 0; i < want.tensors.size(); ++i) {
    EXPECT_EQ(loaded.checkpoint.tensors[i].name, want.tensors[i].name);
    EXPECT_TRUE(runtime::BitwiseEqual(loaded.checkpoint.tensors[i].tensor, want.tensors[i].tensor))
        << want.tensors[i].name;
  }
}

class CheckpointMultirankTest : public ::testing::TestWithParam<int> {};

TEST_P(CheckpointMultirankTest, EachRankSavesAndLoadsItsShard) {
  const int n = GetParam();
  ScopedTestDir dir;
  Fixture f = Start(dir.path());
  auto r = braid::testing::RunRanks(
      n,
      [&](int rank, int size) {
        World w = Connect(rank, size);
        ASSERT_NE(w.comm, nullptr);
        auto ckptr = Checkpointer::Create({.directory = Env("CKPT_TEST_DIR"), .keep_last = 2});
        ASSERT_TRUE(ckptr.ok()) << ckptr.status();
        auto none = (*ckptr)->LoadLatest(*w.comm, absl::Now() + kWait);
        EXPECT_TRUE(absl::IsNotFound(none.status())) << none.status();
        for (int64_t step : {5, 10, 15}) {
          absl::Status s = (*ckptr)->Save(ShardOf(step, rank), *w.comm, absl::Now() + kWait);
          ASSERT_TRUE(s.ok()) << s;
        }
        auto loaded = (*ckptr)->LoadLatest(*w.comm, absl::Now() + kWait);
        ASSERT_TRUE(loaded.ok()) << loaded.status();
        EXPECT_EQ(loaded->world_size, size);
        ExpectShard(*loaded, 15, rank);
        // Every rank can read rank 0's shard (replicated state saved once).
        auto zero = (*ckptr)->LoadLatest(*w.comm, absl::Now() + kWait, {.shard_rank = 0});
        ASSERT_TRUE(zero.ok()) << zero.status();
        ExpectShard(*zero, 15, 0);
        // Retention kept 2 steps.
        EXPECT_EQ(*(*ckptr)->CommittedSteps(), (std::vector<int64_t>{10, 15}));
      },
      f.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
  // A single process reads any shard of the multi-rank checkpoint.
  auto ckptr = Checkpointer::Create({.directory = dir.path()});
  ASSERT_TRUE(ckptr.ok());
  auto all = (*ckptr)->LoadLatest({.shard_rank = n - 1, .verify_all_shards = true});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->world_size, n);
  ExpectShard(*all, 15, n - 1);
}

INSTANTIATE_TEST_SUITE_P(Ranks, CheckpointMultirankTest, ::testing::Values(2, 4));

// Loaders may be more (or fewer) than the ranks that saved: each loader
// gets its own shard when the saved world had its rank, none otherwise, or
// the shard it asks for.
TEST(CheckpointMultirankWorldChangeTest, ThreeRanksLoadWhatTwoSaved) {
  ScopedTestDir dir;
  Fixture f = Start(dir.path());
  // A rank process runs the first RunRanks it reaches, so the loaders (which
  // see CKPT_TEST_PHASE) skip the saving phase.
  if (Env("CKPT_TEST_PHASE") != "load") {
    auto saved = braid::testing::RunRanks(
        2,
        [&](int rank, int size) {
          World w = Connect(rank, size);
          ASSERT_NE(w.comm, nullptr);
          auto ckptr = Checkpointer::Create({.directory = Env("CKPT_TEST_DIR")});
          ASSERT_TRUE(ckptr.ok());
          ASSERT_TRUE((*ckptr)->Save(ShardOf(8, rank), *w.comm, absl::Now() + kWait).ok());
        },
        f.run);
    ASSERT_TRUE(saved.AllSucceeded()) << saved.Summary();
  }
  f.run.env["CKPT_TEST_PREFIX"] += "load/";  // a fresh communicator namespace
  f.run.env["CKPT_TEST_PHASE"] = "load";
  auto loaded = braid::testing::RunRanks(
      3,
      [&](int rank, int size) {
        World w = Connect(rank, size);
        ASSERT_NE(w.comm, nullptr);
        auto ckptr = Checkpointer::Create({.directory = Env("CKPT_TEST_DIR")});
        ASSERT_TRUE(ckptr.ok());
        auto own = (*ckptr)->LoadLatest(*w.comm, absl::Now() + kWait);
        ASSERT_TRUE(own.ok()) << own.status();
        EXPECT_EQ(own->world_size, 2);
        EXPECT_EQ(own->checkpoint.step, 8);
        if (rank < 2) {
          ExpectShard(*own, 8, rank);
        } else {
          EXPECT_EQ(own->shard_rank, -1);
          EXPECT_TRUE(own->checkpoint.tensors.empty());
          EXPECT_EQ(own->checkpoint.config, ShardOf(8, 0).config);
        }
        auto one = (*ckptr)->LoadLatest(*w.comm, absl::Now() + kWait, {.shard_rank = 1});
        ASSERT_TRUE(one.ok()) << one.status();
        ExpectShard(*one, 8, 1);
      },
      f.run);
  EXPECT_TRUE(loaded.AllSucceeded()) << loaded.Summary();
}

// Ranks that disagree on the step commit nothing and say so on every rank.
TEST(CheckpointMultirankFaultTest, DifferentStepsAreInvalidArgumentEverywhere) {
  ScopedTestDir dir;
  Fixture f = Start(dir.path());
  auto r = braid::testing::RunRanks(
      2,
      [&](int rank, int size) {
        World w = Connect(rank, size);
        ASSERT_NE(w.comm, nullptr);
        auto ckptr = Checkpointer::Create({.directory = Env("CKPT_TEST_DIR")});
        ASSERT_TRUE(ckptr.ok());
        absl::Status s = (*ckptr)->Save(ShardOf(3 + rank, rank), *w.comm, absl::Now() + kWait);
        EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
        EXPECT_TRUE((*ckptr)->CommittedSteps()->empty());
      },
      f.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// Rank 1's newest shard is damaged: every rank falls back to the same step.
TEST(CheckpointMultirankFaultTest, CorruptShardOfOneRankMakesAllRanksFallBack) {
  ScopedTestDir dir;
  Fixture f = Start(dir.path());
  auto r = braid::testing::RunRanks(
      3,
      [&](int rank, int size) {
        World w = Connect(rank, size);
        ASSERT_NE(w.comm, nullptr);
        auto ckptr = Checkpointer::Create({.directory = Env("CKPT_TEST_DIR"), .keep_last = 0});
        ASSERT_TRUE(ckptr.ok());
        for (int64_t step : {1, 2}) {
          ASSERT_TRUE((*ckptr)->Save(ShardOf(step, rank), *w.comm, absl::Now() + kWait).ok());
        }
        if (rank == 1) {
          const std::string path = StepDirectory(Env("CKPT_TEST_DIR"), 2) + "/rank-1.bin";
          const int fd = ::open(path.c_str(), O_RDWR);
          ASSERT_GE(fd, 0);
          char b = 0;
          ASSERT_EQ(::pread(fd, &b, 1, 30), 1);
          b ^= 1;
          ASSERT_EQ(::pwrite(fd, &b, 1, 30), 1);
          ::close(fd);
        }
        ASSERT_TRUE(w.comm->Barrier()->Wait(absl::Now() + kWait).ok());
        auto loaded = (*ckptr)->LoadLatest(*w.comm, absl::Now() + kWait);
        ASSERT_TRUE(loaded.ok()) << loaded.status();
        ExpectShard(*loaded, 1, rank);
        ASSERT_EQ(loaded->refused.size(), 1u);
        EXPECT_NE(loaded->refused[0].find("step-2"), std::string::npos) << loaded->refused[0];
        if (rank == 1) {
          EXPECT_NE(loaded->refused[0].find("CRC-32C mismatch"), std::string::npos)
              << loaded->refused[0];
        } else {
          EXPECT_NE(loaded->refused[0].find("rank(s) 1"), std::string::npos) << loaded->refused[0];
        }
      },
      f.run);
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
}

// Rank 2 of 4 dies while writing its shard of step 2, or right after it is
// durable: the others get kAborted promptly, no MANIFEST is written and step
// 1 stays the latest.
TEST(CheckpointMultirankFaultTest, RankDyingMidShardAbortsTheOthersAndCommitsNothing) {
  for (const char* point : {"shard_partial", "shard_durable"}) {
    SCOPED_TRACE(point);
    ScopedTestDir dir;
    Fixture f = Start(dir.path());
    f.run.rank_env.resize(4);
    f.run.rank_env[2]["CKPT_TEST_DIE_AT"] = point;
    auto r = braid::testing::RunRanks(
        4,
        [&](int rank, int size) {
          World w = Connect(rank, size);
          ASSERT_NE(w.comm, nullptr);
          const std::string die_at = Env("CKPT_TEST_DIE_AT");
          auto ckptr = Checkpointer::Create({.directory = Env("CKPT_TEST_DIR"), .keep_last = 0});
          ASSERT_TRUE(ckptr.ok());
          ASSERT_TRUE((*ckptr)->Save(ShardOf(1, rank), *w.comm, absl::Now() + kWait).ok());
          auto dying = Checkpointer::Create({.directory = Env("CKPT_TEST_DIR"),
                                             .keep_last = 0,
                                             .fault_hook = [&die_at](absl::string_view p) {
                                               if (p == die_at) _exit(7);
                                             }});
          ASSERT_TRUE(dying.ok());
          const absl::Time start = absl::Now();
          absl::Status s = (*dying)->Save(ShardOf(2, rank), *w.comm, absl::Now() + kWait);
          EXPECT_TRUE(absl::IsAborted(s)) << s;
          EXPECT_LT(absl::Now() - start, absl::Seconds(20) * braid::testing::TimeoutScale());
        },
        f.run);
    ASSERT_EQ(r.ranks.size(), 4u);
    for (const braid::testing::RankExit& e : r.ranks) {
      if (e.rank == 2) {
        EXPECT_TRUE(e.exited && e.exit_code == 7) << r.Summary();
      } else {
        EXPECT_TRUE(e.ok()) << r.Summary();
      }
    }
    EXPECT_NE(access((StepDirectory(dir.path(), 2) + "/MANIFEST").c_str(), F_OK), 0);
    auto ckptr = Checkpointer::Create({.directory = dir.path()});
    ASSERT_TRUE(ckptr.ok());
    EXPECT_EQ(*(*ckptr)->CommittedSteps(), std::vector<int64_t>{1});
    EXPECT_EQ(*ReadSmallFile(dir.path() + "/latest", 100), "1\n");
    auto loaded = (*ckptr)->LoadLatest({.verify_all_shards = true});
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->checkpoint.step, 1);
    EXPECT_EQ(loaded->world_size, 4);
  }
}

// Rank 0 dies just before writing the manifest: the others are waiting for
// its verdict and get kAborted; nothing is committed.
TEST(CheckpointMultirankFaultTest, RankZeroDyingBeforeTheManifestCommitsNothing) {
  ScopedTestDir dir;
  Fixture f = Start(dir.path());
  f.run.rank_env.resize(3);
  f.run.rank_env[0]["CKPT_TEST_DIE_AT"] = "manifest_before";
  auto r = braid::testing::RunRanks(
      3,
      [&](int rank, int size) {
        World w = Connect(rank, size);
        ASSERT_NE(w.comm, nullptr);
        const std::string die_at = Env("CKPT_TEST_DIE_AT");
        auto ckptr = Checkpointer::Create({.directory = Env("CKPT_TEST_DIR"), .keep_last = 0});
        ASSERT_TRUE(ckptr.ok());
        ASSERT_TRUE((*ckptr)->Save(ShardOf(1, rank), *w.comm, absl::Now() + kWait).ok());
        auto dying = Checkpointer::Create({.directory = Env("CKPT_TEST_DIR"),
                                           .keep_last = 0,
                                           .fault_hook = [&die_at](absl::string_view p) {
                                             if (p == die_at) _exit(7);
                                           }});
        ASSERT_TRUE(dying.ok());
        absl::Status s = (*dying)->Save(ShardOf(2, rank), *w.comm, absl::Now() + kWait);
        EXPECT_TRUE(absl::IsAborted(s)) << s;
      },
      f.run);
  ASSERT_EQ(r.ranks.size(), 3u);
  EXPECT_TRUE(r.ranks[0].exited && r.ranks[0].exit_code == 7) << r.Summary();
  EXPECT_TRUE(r.ranks[1].ok() && r.ranks[2].ok()) << r.Summary();
  auto ckptr = Checkpointer::Create({.directory = dir.path()});
  ASSERT_TRUE(ckptr.ok());
  EXPECT_EQ(*(*ckptr)->CommittedSteps(), std::vector<int64_t>{1});
  // The uncommitted step's shards are all there, yet it is not loaded.
  EXPECT_EQ(access((StepDirectory(dir.path(), 2) + "/rank-2.bin").c_str(), F_OK), 0);
  auto loaded = (*ckptr)->LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->checkpoint.step, 1);
}

}  // namespace
}  // namespace braid::elastic::checkpoint
