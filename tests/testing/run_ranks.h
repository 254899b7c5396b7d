// RunRanks: runs a test body in N real rank processes, bounded in time.
//
// The parent (the test binary as ctest started it) re-executes itself N times
// (fork + exec of /proc/self/exe, never a bare fork of a threaded process) with
// a gtest filter selecting the current test and BRAID_TEST_RANK /
// BRAID_TEST_WORLD_SIZE set. In each child, the same RunRanks call runs `body`
// for that rank and exits; in the parent it waits for all children, killing
// (by pid, SIGKILL) any that outlive the deadline, and reports how each ended.
//
//   TEST(AllReduceTest, Sums) {
//     RankResults r = RunRanks(4, [](int rank, int world_size) {
//       ...                         // gtest EXPECT/ASSERT work here
//     });
//     EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
//   }
//
// A child fails when body returns with a gtest failure recorded, or crashes.
// Children get a fresh store/port namespace from `env` (extra variables), e.g.
// the address of a store the parent started before calling RunRanks.
#ifndef BRAID_TESTS_TESTING_RUN_RANKS_H_
#define BRAID_TESTS_TESTING_RUN_RANKS_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace braid::testing {

struct RankExit {
  int rank = -1;
  int pid = -1;
  bool exited = false;     // exited normally (see exit_code)
  int exit_code = -1;
  int signal = 0;          // terminated by this signal (0: none)
  bool timed_out = false;  // killed by RunRanks at the deadline
  absl::Duration elapsed;  // from spawn to reaping
  bool ok() const { return exited && exit_code == 0 && !timed_out; }
};

struct RankResults {
  std::vector<RankExit> ranks;
  bool AllSucceeded() const;
  // One line per rank: "rank 2 (pid 123): exit 1" / "killed by signal 9" / "timed out".
  std::string Summary() const;
};

struct RunRanksOptions {
  // Every child is killed at spawn + timeout (scaled by BRAID_TEST_TIMEOUT_SCALE
  // under sanitizers). Default 60 s.
  absl::Duration timeout = absl::Seconds(60);
  // Extra environment variables for every child.
  std::map<std::string, std::string> env;
  // Extra environment per rank (index = rank), e.g. to make one rank misbehave.
  std::vector<std::map<std::string, std::string>> rank_env;
  // Called in the parent after spawning, with the children's pids, before it
  // waits (e.g. to kill -9 one of them mid-run). Runs on the calling thread.
  std::function<void(const std::vector<int>& pids)> on_spawned;
};

// The body run in each rank process.
using RankBody = std::function<void(int rank, int world_size)>;

// In the parent: spawns `world_size` children and returns how they ended.
// In a child: runs `body` and _exit()s (never returns).
RankResults RunRanks(int world_size, const RankBody& body, const RunRanksOptions& options = {});

// True in a child process started by RunRanks.
bool IsRankProcess();

// Multiplier for timing bounds under sanitizers (BRAID_TEST_TIMEOUT_SCALE, >= 1).
int TimeoutScale();

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
int PickUnusedPort();

}  // namespace braid::testing

#endif  // BRAID_TESTS_TESTING_RUN_RANKS_H_
