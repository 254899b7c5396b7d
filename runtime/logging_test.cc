#include "runtime/logging.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

// Under ThreadSanitizer: glibc's mktime/localtime_r (glog's timestamps)
// serialise time-zone setup with glibc's internal lock, which TSan cannot see.
extern "C" const char* __tsan_default_suppressions() { return "race:tzset_internal\n"; }

namespace braid::runtime {
namespace {

using ::testing::internal::CaptureStderr;
using ::testing::internal::GetCapturedStderr;

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override { InitLogging({.rank = 3, .level = LogLevel::kInfo}); }
  void TearDown() override { InitLogging({.rank = -1, .level = LogLevel::kInfo}); }
};

int CountCalls(int* n) {
  ++*n;
  return *n;
}

TEST_F(LoggingTest, LineHasRankSeverityTimeFileAndLine) {
  CaptureStderr();
  BRAID_LOG(INFO) << "hello " << 42;
  const int line = __LINE__ - 1;
  const std::string out = GetCapturedStderr();
  // [rank3] I1123 15:26:01.123 logging_test.cc:29] hello 42
  ASSERT_TRUE(absl::StartsWith(out, "[rank3] I")) << out;
  const std::vector<std::string> parts = absl::StrSplit(out, ' ');
  ASSERT_GE(parts.size(), 6u) << out;
  EXPECT_EQ(parts[1].size(), 5u) << out;                           // I + MMDD
  EXPECT_EQ(parts[2].size(), std::string("15:26:01.123").size()) << out;
  EXPECT_EQ(parts[3], "logging_test.cc:" + std::to_string(line) + "]") << out;
  EXPECT_TRUE(absl::EndsWith(out, "hello 42\n")) << out;
}

TEST_F(LoggingTest, SeveritiesAndLevelFilter) {
  CaptureStderr();
  BRAID_LOG(WARNING) << "w";
  BRAID_LOG(ERROR) << "e";
  std::string out = GetCapturedStderr();
  EXPECT_TRUE(absl::StrContains(out, "[rank3] W")) << out;
  EXPECT_TRUE(absl::StrContains(out, "[rank3] E")) << out;

  InitLogging({.rank = 5, .level = LogLevel::kWarning});
  int evaluated = 0;
  CaptureStderr();
  BRAID_LOG(INFO) << "hidden " << CountCalls(&evaluated);
  BRAID_LOG(WARNING) << "shown";
  out = GetCapturedStderr();
  EXPECT_FALSE(absl::StrContains(out, "hidden")) << out;
  EXPECT_TRUE(absl::StrContains(out, "[rank5] W")) << out;
  EXPECT_EQ(evaluated, 0) << "a filtered message must not be formatted";

  InitLogging({.rank = 5, .level = LogLevel::kError});
  CaptureStderr();
  BRAID_LOG(WARNING) << "hidden";
  BRAID_LOG(ERROR) << "shown";
  out = GetCapturedStderr();
  EXPECT_FALSE(absl::StrContains(out, "hidden")) << out;
  EXPECT_TRUE(absl::StrContains(out, "shown")) << out;
}

TEST_F(LoggingTest, VlogOnlyInDebug) {
  int evaluated = 0;
  CaptureStderr();
  BRAID_VLOG(1) << "v1 " << CountCalls(&evaluated);
  std::string out = GetCapturedStderr();
  EXPECT_EQ(out, "");
  EXPECT_EQ(evaluated, 0);

  InitLogging({.rank = 0, .level = LogLevel::kDebug, .vlog_level = 2});
  CaptureStderr();
  BRAID_VLOG(1) << "v1";
  BRAID_VLOG(2) << "v2";
  BRAID_VLOG(3) << "v3";
  out = GetCapturedStderr();
  EXPECT_TRUE(absl::StrContains(out, "[rank0] I")) << out;
  EXPECT_TRUE(absl::StrContains(out, "v1")) << out;
  EXPECT_TRUE(absl::StrContains(out, "v2")) << out;
  EXPECT_FALSE(absl::StrContains(out, "v3")) << out;
}

TEST_F(LoggingTest, NoRankPrefixWhenRankUnknownAndSetLogRank) {
  InitLogging({.rank = -1});
  CaptureStderr();
  BRAID_LOG(INFO) << "x";
  std::string out = GetCapturedStderr();
  EXPECT_TRUE(absl::StartsWith(out, "I")) << out;
  SetLogRank(7);
  CaptureStderr();
  BRAID_LOG(INFO) << "y";
  out = GetCapturedStderr();
  EXPECT_TRUE(absl::StartsWith(out, "[rank7] I")) << out;
}

TEST_F(LoggingTest, LinesFromThreadsStayWhole) {
  CaptureStderr();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 50; ++i) BRAID_LOG(INFO) << "thread" << t << "-line" << i << "-end";
    });
  }
  for (std::thread& t : threads) t.join();
  const std::string out = GetCapturedStderr();
  int lines = 0;
  for (absl::string_view l : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    ++lines;
    EXPECT_TRUE(absl::StartsWith(l, "[rank3] I")) << l;
    EXPECT_TRUE(absl::EndsWith(l, "-end")) << l;
  }
  EXPECT_EQ(lines, 200);
}

TEST(LoggingParseTest, ParseLogLevel) {
  struct Case {
    const char* text;
    LogLevel level;
    int vlog;
  };
  for (const Case& c : {Case{"debug", LogLevel::kDebug, 1}, Case{"DEBUG:3", LogLevel::kDebug, 3},
                        Case{"info", LogLevel::kInfo, 0}, Case{" Warning ", LogLevel::kWarning, 0},
                        Case{"warn", LogLevel::kWarning, 0}, Case{"error", LogLevel::kError, 0}}) {
    absl::StatusOr<ParsedLogLevel> p = ParseLogLevel(c.text);
    ASSERT_TRUE(p.ok()) << c.text << ": " << p.status();
    EXPECT_EQ(p->level, c.level) << c.text;
    EXPECT_EQ(p->vlog_level, c.vlog) << c.text;
  }
  for (const char* bad : {"", "verbose", "debug:", "debug:x", "debug:-1", "info:2", "fatal"}) {
    EXPECT_EQ(ParseLogLevel(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ToString(LogLevel::kWarning), "warning");
}

TEST(LoggingDeathTest, FatalAndCheckAbortWithMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH({ BRAID_LOG(FATAL) << "fatal detail 17"; }, "fatal detail 17");
  const int x = 3;
  EXPECT_DEATH({ BRAID_CHECK(x == 4) << "x was " << x; }, "Check failed: x == 4 x was 3");
  BRAID_CHECK(x == 3) << "never printed";
}

}  // namespace
}  // namespace braid::runtime
