// Single-process save and resume: round trips, corrupt / truncated /
// uncommitted steps falling back to the previous one, retention, and the
// helpers that move tensors into a model.
#include "elastic/checkpoint/checkpointer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <type_traits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "elastic/checkpoint/file_util.h"
#include "elastic/checkpoint/format.h"
#include "elastic/checkpoint/test_dir.h"
#include "gtest/gtest.h"

namespace braid::elastic::checkpoint {
namespace {

using runtime::DType;
using runtime::Tensor;

Tensor Iota(runtime::Shape shape, DType dtype, double start) {
  Tensor t = *Tensor::Empty(shape, dtype);
  runtime::VisitDType(dtype, [&]<typename T>() {
    T* p = t.data<T>();
    // Unsigned types wrap explicitly: a negative start is a valid pattern too.
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double v = start + static_cast<double>(i);
      if constexpr (std::is_unsigned_v<T>) {
        p[i] = static_cast<T>(static_cast<int64_t>(v));
      } else {
        p[i] = static_cast<T>(static_cast<float>(v));
      }
    }
  });
  return t;
}

// A checkpoint whose contents depend on `step`, covering every dtype, a 0-d
// and an empty tensor.
Checkpoint MakeCheckpoint(int64_t step) {
  Checkpoint c;
  c.step = step;
  double s = static_cast<double>(step);
  c.tensors.push_back({"model/w", Iota({3, 4}, DType::kF32, s)});
  c.tensors.push_back({"model/h", Iota({5}, DType::kF16, s)});
  c.tensors.push_back({"model/b", Iota({2, 2, 2}, DType::kBF16, s)});
  c.tensors.push_back({"optim/w/exp_avg", Iota({3, 4}, DType::kF32, -s)});
  c.tensors.push_back({"optim/step", Iota({}, DType::kI64, s)});
  c.tensors.push_back({"data/ids", Iota({7}, DType::kI32, s)});
  c.tensors.push_back({"data/bytes", Iota({9}, DType::kU8, s)});
  c.tensors.push_back({"empty", Iota({0, 3}, DType::kF32, 0)});
  c.values["rng/seed"] = 1234;
  c.values["rng/dropout_offset"] = static_cast<uint64_t>(step) * 1000 + 0xffffffff00ull;
  c.config["dim"] = "64";
  c.config["name"] = "gpt \xe2\x9c\x93";
  return c;
}

void ExpectSame(const Checkpoint& want, const Checkpoint& got) {
  EXPECT_EQ(got.step, want.step);
  EXPECT_EQ(got.values, want.values);
  EXPECT_EQ(got.config, want.config);
  ASSERT_EQ(got.tensors.size(), want.tensors.size());
  for (size_t i = 0; i < want.tensors.size(); ++i) {
    EXPECT_EQ(got.tensors[i].name, want.tensors[i].name);
    EXPECT_TRUE(runtime::BitwiseEqual(got.tensors[i].tensor, want.tensors[i].tensor))
        << want.tensors[i].name << ": " << got.tensors[i].tensor.DebugString() << " vs "
        << want.tensors[i].tensor.DebugString();
  }
}

std::unique_ptr<Checkpointer> Make(const std::string& dir, int keep_last = 0) {
  auto c = Checkpointer::Create({.directory = dir, .keep_last = keep_last});
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

void FlipByte(const std::string& path, off_t offset) {
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  if (offset < 0) offset += ::lseek(fd, 0, SEEK_END);
  char b = 0;
  ASSERT_EQ(::pread(fd, &b, 1, offset), 1);
  b ^= 0x10;
  ASSERT_EQ(::pwrite(fd, &b, 1, offset), 1);
  ::close(fd);
}

std::string Shard(const std::string& dir, int64_t step, int rank = 0) {
  return absl::StrCat(StepDirectory(dir, step), "/rank-", rank, ".bin");
}

TEST(CheckpointerTest, RoundTripEveryDTypeShapeAndMetadata) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path());
  const Checkpoint saved = MakeCheckpoint(7);
  ASSERT_TRUE(ckptr->Save(saved).ok());
  auto loaded = ckptr->LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSame(saved, loaded->checkpoint);
  EXPECT_EQ(loaded->world_size, 1);
  EXPECT_EQ(loaded->shard_rank, 0);
  EXPECT_TRUE(loaded->refused.empty());
  EXPECT_EQ(*ReadSmallFile(dir.path() + "/latest", 100), "7\n");
  EXPECT_EQ(*ckptr->CommittedSteps(), std::vector<int64_t>{7});
}

TEST(CheckpointerTest, SavesStridedViewsAsTheirElements) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path());
  Tensor base = Iota({4, 6}, DType::kF32, 0);
  Checkpoint c;
  c.step = 1;
  c.tensors.push_back({"t", *base.Transpose(0, 1)});
  c.tensors.push_back({"s", *base.Slice(1, 2, 5)});
  ASSERT_TRUE(ckptr->Save(c).ok());
  auto loaded = ckptr->LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(runtime::BitwiseEqual(loaded->checkpoint.tensors[0].tensor, *base.Transpose(0, 1)));
  EXPECT_TRUE(runtime::BitwiseEqual(loaded->checkpoint.tensors[1].tensor, *base.Slice(1, 2, 5)));
}

TEST(CheckpointerTest, NothingSavedIsNotFound) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path());
  auto loaded = ckptr->LoadLatest();
  EXPECT_TRUE(absl::IsNotFound(loaded.status())) << loaded.status();
}

TEST(CheckpointerTest, LoadsTheNewestOfSeveral) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path());
  for (int64_t step : {10, 2, 30}) ASSERT_TRUE(ckptr->Save(MakeCheckpoint(step)).ok());
  // Saving 2 after 10 abandoned 10's timeline; 30 is newest.
  auto loaded = ckptr->LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSame(MakeCheckpoint(30), loaded->checkpoint);
}

// A flipped byte in each region of the newest shard: refused, previous used.
TEST(CheckpointerTest, CorruptByteAnywhereFallsBackToThePreviousStep) {
  // Offsets: magic, version, first tensor, a later tensor, header, footer
  // length, footer CRC, end magic.
  for (off_t offset : {0, 9, 16, 100, -40, -16, -12, -1}) {
    SCOPED_TRACE(offset);
    ScopedTestDir dir;
    auto ckptr = Make(dir.path());
    ASSERT_TRUE(ckptr->Save(MakeCheckpoint(1)).ok());
    ASSERT_TRUE(ckptr->Save(MakeCheckpoint(2)).ok());
    FlipByte(Shard(dir.path(), 2), offset);
    auto loaded = ckptr->LoadLatest();
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ExpectSame(MakeCheckpoint(1), loaded->checkpoint);
    ASSERT_EQ(loaded->refused.size(), 1u);
    EXPECT_NE(loaded->refused[0].find("step-2"), std::string::npos) << loaded->refused[0];
    EXPECT_NE(loaded->refused[0].find("rank-0.bin"), std::string::npos) << loaded->refused[0];
  }
}

TEST(CheckpointerTest, TruncatedShardFallsBack) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path());
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(1)).ok());
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(2)).ok());
  ASSERT_EQ(::truncate(Shard(dir.path(), 2).c_str(), 50), 0);
  auto loaded = ckptr->LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->checkpoint.step, 1);
  ASSERT_EQ(loaded->refused.size(), 1u);
  EXPECT_NE(loaded->refused[0].find("size is 50 bytes"), std::string::npos) << loaded->refused[0];
}

TEST(CheckpointerTest, CorruptManifestFallsBack) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path());
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(1)).ok());
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(2)).ok());
  FlipByte(StepDirectory(dir.path(), 2) + "/MANIFEST", 20);
  auto loaded = ckptr->LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->checkpoint.step, 1);
  EXPECT_EQ(*ckptr->CommittedSteps(), std::vector<int64_t>{1});
}

// A crash before the commit leaves shards without a MANIFEST.
TEST(CheckpointerTest, MissingManifestFallsBack) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path());
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(1)).ok());
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(2)).ok());
  ASSERT_EQ(std::remove((StepDirectory(dir.path(), 2) + "/MANIFEST").c_str()), 0);
  auto loaded = ckptr->LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->checkpoint.step, 1);
  ASSERT_EQ(loaded->refused.size(), 1u);
  EXPECT_NE(loaded->refused[0].find("no MANIFEST"), std::string::npos) << loaded->refused[0];
}

TEST(CheckpointerTest, ShardReplacedByAnotherSaveIsRefused) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path());
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(1)).ok());
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(2)).ok());
  // A complete, self-consistent shard of the same size whose bytes the
  // manifest did not commit.
  Checkpoint other = MakeCheckpoint(2);
  other.tensors[0].tensor = Iota({3, 4}, DType::kF32, 99);
  std::vector<NamedTensor> t = other.tensors;
  ASSERT_TRUE(WriteShardFile(Shard(dir.path(), 2), 2, 0, 1, t, other.values, false, {}).ok());
  auto loaded = ckptr->LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->checkpoint.step, 1);
  EXPECT_NE(loaded->refused[0].find("differs from the manifest"), std::string::npos)
      << loaded->refused[0];
}

TEST(CheckpointerTest, EveryCommittedStepCorruptIsDataLoss) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path());
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(1)).ok());
  FlipByte(Shard(dir.path(), 1), 20);
  auto loaded = ckptr->LoadLatest();
  EXPECT_TRUE(absl::IsDataLoss(loaded.status())) << loaded.status();
  EXPECT_NE(loaded.status().message().find("inspect or remove"), std::string::npos);
}

TEST(CheckpointerTest, RetentionKeepsTheLastK) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path(), /*keep_last=*/2);
  for (int64_t step = 1; step <= 5; ++step) {
    ASSERT_TRUE(ckptr->Save(MakeCheckpoint(step)).ok());
  }
  EXPECT_EQ(*ListStepDirectories(dir.path()), (std::vector<int64_t>{4, 5}));
  // An uncommitted newer-than-kept directory of an older step is removed too.
  ASSERT_TRUE(MakeDirectories(StepDirectory(dir.path(), 3)).ok());
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(6)).ok());
  EXPECT_EQ(*ListStepDirectories(dir.path()), (std::vector<int64_t>{5, 6}));
}

TEST(CheckpointerTest, RetentionSkipsUncommittedWhenCounting) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path(), /*keep_last=*/2);
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(1)).ok());
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(2)).ok());
  ASSERT_TRUE(std::remove((StepDirectory(dir.path(), 2) + "/MANIFEST").c_str()) == 0);
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(3)).ok());
  EXPECT_EQ(*ListStepDirectories(dir.path()), (std::vector<int64_t>{1, 3}));
}

TEST(CheckpointerTest, ReadShardAndErrors) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path());
  ASSERT_TRUE(ckptr->Save(MakeCheckpoint(4)).ok());
  auto shard = ckptr->ReadShard(4, 0);
  ASSERT_TRUE(shard.ok()) << shard.status();
  ExpectSame(MakeCheckpoint(4), shard->checkpoint);
  EXPECT_TRUE(absl::IsInvalidArgument(ckptr->ReadShard(4, 1).status()));
  EXPECT_TRUE(absl::IsNotFound(ckptr->ReadShard(5, 0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ckptr->LoadLatest({.shard_rank = 3}).status()));
}

TEST(CheckpointerTest, BadSavesAreInvalidArgumentAndCommitNothing) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path());
  Checkpoint dup = MakeCheckpoint(1);
  dup.tensors.push_back(dup.tensors[0]);
  absl::Status s = ckptr->Save(dup);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("model/w"), std::string::npos) << s;
  Checkpoint undefined = MakeCheckpoint(1);
  undefined.tensors.push_back({"x", Tensor()});
  EXPECT_TRUE(absl::IsInvalidArgument(ckptr->Save(undefined)));
  Checkpoint unnamed = MakeCheckpoint(1);
  unnamed.tensors[0].name.clear();
  EXPECT_TRUE(absl::IsInvalidArgument(ckptr->Save(unnamed)));
  EXPECT_TRUE(absl::IsInvalidArgument(ckptr->Save(MakeCheckpoint(-1))));
  EXPECT_TRUE(absl::IsNotFound(ckptr->LoadLatest().status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Checkpointer::Create({}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      Checkpointer::Create({.directory = dir.path(), .keep_last = -1}).status()));
}

TEST(CheckpointerTest, FaultHookSeesEveryPointInOrder) {
  ScopedTestDir dir;
  std::vector<std::string> points;
  auto hooked =
      Checkpointer::Create({.directory = dir.path(),
                            .fault_hook = [&](absl::string_view p) { points.emplace_back(p); }});
  ASSERT_TRUE(hooked.ok());
  ASSERT_TRUE((*hooked)->Save(MakeCheckpoint(2)).ok());
  EXPECT_EQ(points, (std::vector<std::string>{"shard_partial", "shard_durable", "manifest_before",
                                              "manifest_durable"}));
}

TEST(AssignTensorsTest, CopiesByNameAndNamesTheFirstMismatch) {
  std::vector<NamedTensor> loaded = {{"model/a", Iota({2, 3}, DType::kF32, 1)},
                                     {"model/b", Iota({4}, DType::kBF16, 2)},
                                     {"optim/a/exp_avg", Iota({2, 3}, DType::kF32, 3)}};
  std::vector<NamedTensor> model = WithPrefix(loaded, "model/");
  ASSERT_EQ(model.size(), 2u);
  EXPECT_EQ(model[0].name, "a");
  EXPECT_EQ(FindTensor(loaded, "optim/a/exp_avg"), &loaded[2]);
  EXPECT_EQ(FindTensor(loaded, "nope"), nullptr);

  std::vector<NamedTensor> targets = {{"a", *Tensor::Zeros({2, 3}, DType::kF32)},
                                      {"b", *Tensor::Zeros({4}, DType::kBF16)}};
  ASSERT_TRUE(AssignTensors(model, targets).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(targets[0].tensor, loaded[0].tensor));
  EXPECT_TRUE(runtime::BitwiseEqual(targets[1].tensor, loaded[1].tensor));
  EXPECT_TRUE(AssignTensors(model, {targets[0]}).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(AssignTensors(model, {targets[0]}, /*exact=*/true)));

  std::vector<NamedTensor> bad_shape = {{"a", *Tensor::Zeros({3, 2}, DType::kF32)}};
  absl::Status s = AssignTensors(model, bad_shape);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("'a'"), std::string::npos) << s;
  EXPECT_NE(s.message().find("[3, 2]"), std::string::npos) << s;
  std::vector<NamedTensor> bad_dtype = {{"b", *Tensor::Zeros({4}, DType::kF32)}};
  EXPECT_TRUE(absl::IsInvalidArgument(AssignTensors(model, bad_dtype)));
  std::vector<NamedTensor> missing = {{"c", *Tensor::Zeros({4}, DType::kF32)}};
  s = AssignTensors(model, missing);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("'c'"), std::string::npos) << s;
}

}  // namespace
}  // namespace braid::elastic::checkpoint

namespace braid::elastic::checkpoint {
namespace {

// Throughput of one process saving and loading 256 MiB in 64 f32 tensors
// (fsync on). A measurement, not a check: run it by hand with
//   checkpoint_checkpointer_test --gtest_also_run_disabled_tests --gtest_filter=*Throughput*
TEST(CheckpointerThroughput, DISABLED_SaveAndLoad256MiB) {
  ScopedTestDir dir;
  auto ckptr = Make(dir.path(), 1);
  Checkpoint c;
  for (int i = 0; i < 64; ++i) {
    c.tensors.push_back({absl::StrCat("t", i), Iota({1 << 20}, DType::kF32, i)});
  }
  const double mib = 256.0;
  for (int round = 0; round < 3; ++round) {
    c.step = round;
    absl::Time t0 = absl::Now();
    ASSERT_TRUE(ckptr->Save(c).ok());
    const double save_s = absl::ToDoubleSeconds(absl::Now() - t0);
    t0 = absl::Now();
    auto loaded = ckptr->LoadLatest();
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const double load_s = absl::ToDoubleSeconds(absl::Now() - t0);
    std::printf("round %d: save %.0f MiB/s (%.3f s), load %.0f MiB/s (%.3f s)\n", round,
                mib / save_s, save_s, mib / load_s, load_s);
  }
}

}  // namespace
}  // namespace braid::elastic::checkpoint
