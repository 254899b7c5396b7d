#include "elastic/rendezvous/round_state.h"

#include "gtest/gtest.h"

namespace braid::elastic {
namespace {

NodeInfo Node(const std::string& id, int requested_rank = -1) {
  NodeInfo n;
  n.node_id = id;
  n.host = "10.0.0.1";
  n.local_world_size = 2;
  n.port = 1234;
  n.requested_rank = requested_rank;
  return n;
}

TEST(RoundStateTest, EncodeDecodeRoundTrip) {
  RoundState s;
  s.generation = 7;
  s.phase = RoundPhase::kClosed;
  s.min_nodes = 1;
  s.max_nodes = 3;
  s.members = {Node("a"), Node("b", 1)};
  s.members[1].first_generation = 3;
  s.members[1].first_rank = 2;
  absl::StatusOr<RoundState> d = DecodeRoundState(EncodeRoundState(s));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, s);
  EXPECT_EQ(d->MemberList(), "a,b");
  EXPECT_EQ(d->IndexOf("b"), 1);
  EXPECT_EQ(d->IndexOf("zz"), -1);
}

TEST(RoundStateTest, RejectsGarbage) {
  EXPECT_EQ(DecodeRoundState("hello").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeRoundState("braid-rdzv 1\ngeneration 0\nphase open\nnodes 1 1\n").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeRoundState("braid-rdzv 1\ngeneration 1\nphase shut\nnodes 1 1\n").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeRoundState("braid-rdzv 1\ngeneration 1\nphase open\nnodes 2 1\n").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeRoundState("braid-rdzv 1\ngeneration 1\nphase open\n").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeRoundState("braid-rdzv 1\ngeneration 1\nphase open\nnodes 1 2\n"
                             "member a h 1 0 -1 0 -1\nmember a h 1 0 -1 0 -1\n")
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeRoundState("braid-rdzv 1\ngeneration 1\nphase open\nnodes 1 2\nmember a/b h 1 0 -1 0 -1\n")
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

TEST(RoundStateTest, OrderBySeniority) {
  RoundState s;
  s.members = {Node("new1"), Node("old2"), Node("new2"), Node("old1"), Node("mid")};
  s.members[1].first_generation = 1;  // old2: rank 1 in generation 1
  s.members[1].first_rank = 1;
  s.members[3].first_generation = 1;  // old1: rank 0 in generation 1
  s.members[3].first_rank = 0;
  s.members[4].first_generation = 4;  // mid: joined in generation 4
  s.members[4].first_rank = 0;
  ASSERT_TRUE(OrderForClose(&s).ok());
  EXPECT_EQ(s.MemberList(), "old1,old2,mid,new1,new2");
}

TEST(RoundStateTest, OrderByRequestedRank) {
  RoundState s;
  s.members = {Node("x", 2), Node("y", 0), Node("z", 1)};
  ASSERT_TRUE(OrderForClose(&s).ok());
  EXPECT_EQ(s.MemberList(), "y,z,x");
  s.members = {Node("x", 0), Node("y", 0)};
  EXPECT_EQ(OrderForClose(&s).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RoundStateTest, ValidIds) {
  EXPECT_TRUE(IsValidId("host-1_2.x"));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId("a b"));
  EXPECT_FALSE(IsValidId("a/b"));
  EXPECT_FALSE(IsValidId(std::string(129, 'a')));
}

}  // namespace
}  // namespace braid::elastic
