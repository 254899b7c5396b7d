#include "tests/testing/run_ranks.h"

#include <signal.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace braid::testing {
namespace {

TEST(RunRanksTest, EveryRankRunsWithItsRank) {
  RankResults r = RunRanks(3, [](int rank, int world_size) {
    EXPECT_EQ(world_size, 3);
    EXPECT_GE(rank, 0);
    EXPECT_LT(rank, 3);
  });
  EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
  ASSERT_EQ(r.ranks.size(), 3u);
}

TEST(RunRanksTest, FailureInOneRankIsReported) {
  RankResults r = RunRanks(2, [](int rank, int) { EXPECT_NE(rank, 1) << "rank 1 fails on purpose"; });
  ASSERT_EQ(r.ranks.size(), 2u);
  EXPECT_TRUE(r.ranks[0].ok());
  EXPECT_FALSE(r.ranks[1].ok());
  EXPECT_EQ(r.ranks[1].exit_code, 1);
}

TEST(RunRanksTest, HungRankIsKilledAtTheDeadline) {
  RunRanksOptions options;
  options.timeout = absl::Milliseconds(500);
  RankResults r = RunRanks(
      2,
      [](int rank, int) {
        if (rank == 1) pause();  // never returns on its own
      },
      options);
  EXPECT_TRUE(r.ranks[0].ok()) << r.Summary();
  EXPECT_TRUE(r.ranks[1].timed_out) << r.Summary();
}

}  // namespace
}  // namespace braid::testing
