// The shard and manifest file formats: round trip, every truncation and
// framing damage refused with kDataLoss naming the file.
#include "elastic/checkpoint/format.h"

#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "elastic/checkpoint/file_util.h"
#include "elastic/checkpoint/test_dir.h"
#include "gtest/gtest.h"

namespace braid::elastic::checkpoint {
namespace {

using runtime::DType;
using runtime::Tensor;

std::vector<NamedTensor> Tensors() {
  return {{"a", *Tensor::FromVector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3})},
          {"b", *Tensor::FromVector(std::vector<int64_t>{-7}, {})},
          {"c", *Tensor::Full({33}, DType::kBF16, 0.5)}};
}

TEST(ShardFileTest, RoundTripAndHeader) {
  ScopedTestDir dir;
  ASSERT_TRUE(MakeDirectories(dir.path()).ok());
  const std::string path = dir.path() + "/rank-2.bin";
  auto written = WriteShardFile(path, 12, 2, 4, Tensors(), {{"seed", 99}}, true, {});
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->num_tensors, 3u);
  EXPECT_NE(access((path + ".tmp").c_str(), F_OK), 0) << "temporary file left behind";

  checkpointpb::ShardEntry entry;
  entry.set_file_bytes(written->file_bytes);
  entry.set_header_crc32c(written->header_crc32c);
  auto read = ReadShardFile(path, &entry, true);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->header.step(), 12);
  EXPECT_EQ(read->header.rank(), 2);
  EXPECT_EQ(read->header.world_size(), 4);
  EXPECT_EQ(read->header.values().at("seed"), 99u);
  EXPECT_EQ(read->header.tensors(0).offset(), 16u);
  EXPECT_EQ(read->header.tensors(1).offset(), 16u + 24u);
  EXPECT_EQ(read->header.tensors(2).dtype(), "bf16");
  ASSERT_EQ(read->tensors.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(runtime::BitwiseEqual(read->tensors[i].tensor, Tensors()[i].tensor)) << i;
  }
  // Without read_tensors only the index is read.
  auto index = ReadShardFile(path, &entry, false);
  ASSERT_TRUE(index.ok());
  EXPECT_TRUE(index->tensors.empty());
  entry.set_file_bytes(written->file_bytes + 1);
  EXPECT_TRUE(absl::IsDataLoss(ReadShardFile(path, &entry, false).status()));
}

TEST(ShardFileTest, EveryTruncationIsDataLoss) {
  ScopedTestDir dir;
  ASSERT_TRUE(MakeDirectories(dir.path()).ok());
  const std::string path = dir.path() + "/rank-0.bin";
  auto written = WriteShardFile(path, 1, 0, 1, Tensors(), {}, false, {});
  ASSERT_TRUE(written.ok());
  const std::string whole = *ReadSmallFile(path, 1 << 20);
  for (size_t n = 0; n < whole.size(); ++n) {
    ASSERT_TRUE(WriteFileDurably(path, absl::string_view(whole).substr(0, n), false).ok());
    absl::StatusOr<ShardContents> r = ReadShardFile(path, nullptr, true);
    ASSERT_TRUE(absl::IsDataLoss(r.status())) << n << ": " << r.status();
    EXPECT_NE(r.status().message().find(path), std::string::npos);
  }
  EXPECT_TRUE(absl::IsNotFound(ReadShardFile(dir.path() + "/none", nullptr, true).status()));
}

TEST(ShardFileTest, EveryFlippedByteIsDataLoss) {
  ScopedTestDir dir;
  ASSERT_TRUE(MakeDirectories(dir.path()).ok());
  const std::string path = dir.path() + "/rank-0.bin";
  ASSERT_TRUE(WriteShardFile(path, 1, 0, 1, Tensors(), {{"k", 1}}, false, {}).ok());
  const std::string whole = *ReadSmallFile(path, 1 << 20);
  for (size_t i = 0; i < whole.size(); ++i) {
    std::string bad = whole;
    bad[i] ^= 0x01;
    ASSERT_TRUE(WriteFileDurably(path, bad, false).ok());
    EXPECT_TRUE(absl::IsDataLoss(ReadShardFile(path, nullptr, true).status())) << "byte " << i;
  }
}

TEST(ManifestTest, RoundTripAndDamage) {
  ScopedTestDir dir;
  ASSERT_TRUE(MakeDirectories(dir.path()).ok());
  checkpointpb::Manifest m;
  m.set_format_version(kFormatVersion);
  m.set_step(5);
  m.set_world_size(2);
  for (int r = 0; r < 2; ++r) {
    auto* e = m.add_shards();
    e->set_rank(r);
    e->set_file(ShardFileName(r));
    e->set_file_bytes(100 + r);
  }
  (*m.mutable_config())["dim"] = "64";
  ASSERT_TRUE(WriteManifest(dir.path(), m, true).ok());
  auto read = ReadManifest(dir.path());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->SerializeAsString(), m.SerializeAsString());

  const std::string path = dir.path() + "/MANIFEST";
  const std::string whole = *ReadSmallFile(path, 1 << 20);
  for (size_t n = 0; n < whole.size(); ++n) {
    ASSERT_TRUE(WriteFileDurably(path, absl::string_view(whole).substr(0, n), false).ok());
    EXPECT_TRUE(absl::IsDataLoss(ReadManifest(dir.path()).status())) << n;
  }
  for (size_t i = 0; i < whole.size(); ++i) {
    std::string bad = whole;
    bad[i] ^= 0x40;
    ASSERT_TRUE(WriteFileDurably(path, bad, false).ok());
    EXPECT_TRUE(absl::IsDataLoss(ReadManifest(dir.path()).status())) << i;
  }
  // A well-formed manifest that lists the wrong shards.
  m.mutable_shards(1)->set_rank(0);
  ASSERT_TRUE(WriteManifest(dir.path(), m, false).ok());
  EXPECT_TRUE(absl::IsDataLoss(ReadManifest(dir.path()).status()));
}

TEST(StepDirectoriesTest, ListsOnlyStepDirectories) {
  ScopedTestDir dir;
  EXPECT_TRUE(ListStepDirectories(dir.path())->empty());
  for (const char* name :
       {"step-3", "step-20", "step-1", "step-0", "step-x", "step-", "step-07", "other"}) {
    ASSERT_TRUE(MakeDirectories(absl::StrCat(dir.path(), "/", name)).ok());
  }
  ASSERT_TRUE(WriteFileDurably(dir.path() + "/step-7", "file, not a directory", false).ok());
  EXPECT_EQ(*ListStepDirectories(dir.path()), (std::vector<int64_t>{0, 1, 3, 20}));
}

}  // namespace
}  // namespace braid::elastic::checkpoint
