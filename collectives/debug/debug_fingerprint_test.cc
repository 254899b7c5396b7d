// CallFingerprint: its wire words and its description.
#include <array>

#include "collectives/debug/debug_communicator.h"
#include "gtest/gtest.h"
#include "runtime/dtype.h"

namespace braid::collectives {
namespace {

TEST(CallFingerprintTest, RoundTripsThroughWords) {
  CallFingerprint fp{.kind = CollectiveKind::kReduceScatterV, .seq = 17,
                     .dtype = static_cast<int>(runtime::DType::kBF16),
                     .reduce_op = static_cast<int>(ReduceOp::kAvg), .root = -1, .count = 1024,
                     .counts_hash = 0xfeedfacecafebeefull, .scale = 0.125};
  const std::array<int64_t, 8> words = fp.ToWords();
  auto back = CallFingerprint::FromWords(words.data());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->Matches(fp));
  EXPECT_EQ(back->ToString(), fp.ToString());
}

TEST(CallFingerprintTest, DescribesTheCall) {
  CallFingerprint fp{.kind = CollectiveKind::kAllReduce, .seq = 17,
                     .dtype = static_cast<int>(runtime::DType::kF32),
                     .reduce_op = static_cast<int>(ReduceOp::kSum), .count = 1024};
  EXPECT_EQ(fp.ToString(), "AllReduce(f32, count=1024, sum) #17");
  CallFingerprint g{.kind = CollectiveKind::kGather, .seq = 3,
                    .dtype = static_cast<int>(runtime::DType::kI64), .root = 2, .count = 5};
  EXPECT_EQ(g.ToString(), "Gather(i64, count=5, root=2) #3");
  EXPECT_EQ(CallFingerprint{.kind = CollectiveKind::kBarrier}.ToString(), "Barrier() #0");
}

TEST(CallFingerprintTest, AnyFieldDifferenceIsAMismatch) {
  const CallFingerprint base{.kind = CollectiveKind::kAllReduce, .seq = 4, .dtype = 0,
                             .reduce_op = 0, .count = 8};
  CallFingerprint other = base;
  EXPECT_TRUE(other.Matches(base));
  other.seq = 5;
  EXPECT_FALSE(other.Matches(base));
  other = base;
  other.count = 9;
  EXPECT_FALSE(other.Matches(base));
  other = base;
  other.kind = CollectiveKind::kAllReducePreMulSum;
  EXPECT_FALSE(other.Matches(base));
  other = base;
  other.dtype = 1;
  EXPECT_FALSE(other.Matches(base));
}

TEST(CallFingerprintTest, RejectsWordsWithoutTheMagic) {
  std::array<int64_t, 8> words{};
  EXPECT_EQ(CallFingerprint::FromWords(words.data()).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace braid::collectives
