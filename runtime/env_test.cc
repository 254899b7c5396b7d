#include "runtime/env.h"

#include <unistd.h>

#include <filesystem>

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace braid::runtime {
namespace {

std::string TempDir() {
  return absl::StrCat(::testing::TempDir(), "/braid_env_test_", ::getpid());
}

// Removes this test's scratch directory when the binary finishes.
class ScratchCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(TempDir(), ignored);
  }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new ScratchCleanup);

TEST(EnvTest, DefaultIsOneImmutableObject) {
  EXPECT_NE(Env::Default(), nullptr);
  EXPECT_EQ(Env::Default(), Env::Default());
}

TEST(EnvTest, RealClocksMoveForward) {
  Env* env = Env::Default();
  const absl::Time t0 = env->NowMonotonic();
  const int64_t n0 = env->MonotonicNanos();
  env->SleepFor(absl::Milliseconds(2));
  EXPECT_GE(env->NowMonotonic() - t0, absl::Milliseconds(1));
  EXPECT_GE(env->MonotonicNanos() - n0, 1'000'000);
  // The deadline clock is absl::Now(), so absl deadlines are comparable.
  EXPECT_LT(absl::AbsDuration(env->NowMonotonic() - absl::Now()), absl::Seconds(1));
}

TEST(EnvTest, DeadlineHelpers) {
  FakeClockEnv env;
  const absl::Time start = env.NowMonotonic();
  const absl::Time deadline = DeadlineFromTimeout(absl::Seconds(5), env);
  EXPECT_EQ(deadline, start + absl::Seconds(5));
  EXPECT_EQ(TimeLeft(deadline, env), absl::Seconds(5));
  env.AdvanceBy(absl::Seconds(3));
  EXPECT_EQ(TimeLeft(deadline, env), absl::Seconds(2));
  env.AdvanceBy(absl::Seconds(3));
  EXPECT_EQ(TimeLeft(deadline, env), absl::ZeroDuration());  // never negative
  EXPECT_EQ(DeadlineFromTimeout(absl::InfiniteDuration(), env), absl::InfiniteFuture());
  EXPECT_EQ(TimeLeft(absl::InfiniteFuture(), env), absl::InfiniteDuration());
  EXPECT_LT(DeadlineFromTimeout(-absl::Seconds(1), env), env.NowMonotonic());
  // The real-Env overloads.
  EXPECT_GT(TimeLeft(DeadlineFromTimeout(absl::Seconds(60))), absl::Seconds(50));
}

TEST(EnvTest, FakeClockSleepAdvancesInstantly) {
  FakeClockEnv env;
  const absl::Time start = env.NowMonotonic();
  const int64_t n0 = env.MonotonicNanos();
  const absl::Time wall0 = absl::Now();
  for (int i = 0; i < 1000; ++i) env.SleepFor(absl::Seconds(1));  // 1000 "seconds"
  EXPECT_EQ(env.NowMonotonic() - start, absl::Seconds(1000));
  EXPECT_EQ(env.MonotonicNanos() - n0, int64_t{1000} * 1'000'000'000);
  EXPECT_EQ(env.total_slept(), absl::Seconds(1000));
  EXPECT_LT(absl::Now() - wall0, absl::Seconds(5));  // did not really sleep
  env.SleepUntil(start + absl::Seconds(1500));
  EXPECT_EQ(env.NowMonotonic(), start + absl::Seconds(1500));
  env.SleepUntil(start);  // in the past: no change
  EXPECT_EQ(env.NowMonotonic(), start + absl::Seconds(1500));
}

TEST(EnvTest, FakeClockNeverGoesBack) {
  FakeClockEnv env;
  const absl::Time t = env.NowMonotonic();
  env.SetNow(t - absl::Hours(1));
  env.AdvanceBy(-absl::Seconds(1));
  env.SleepFor(-absl::Seconds(1));
  EXPECT_EQ(env.NowMonotonic(), t);
  env.SetNow(t + absl::Minutes(2));
  EXPECT_EQ(env.NowMonotonic(), t + absl::Minutes(2));
}

TEST(EnvTest, FakeClockIsThreadSafe) {
  FakeClockEnv env;
  const absl::Time start = env.NowMonotonic();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&env] {
      for (int i = 0; i < 1000; ++i) {
        env.AdvanceBy(absl::Milliseconds(1));
        (void)env.NowMonotonic();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(env.NowMonotonic() - start, absl::Seconds(4));
}

TEST(EnvTest, FilesRoundTripAtomically) {
  Env* env = Env::Default();
  const std::string dir = absl::StrCat(TempDir(), "/a/b/c");
  ASSERT_TRUE(env->CreateDirectories(dir).ok());
  ASSERT_TRUE(env->CreateDirectories(dir).ok());  // idempotent
  const std::string path = dir + "/f.txt";
  ASSERT_TRUE(env->WriteFileAtomically(path, "first").ok());
  ASSERT_TRUE(env->WriteFileAtomically(path, std::string("second\0x", 8)).ok());
  absl::StatusOr<std::string> got = env->ReadFile(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, std::string("second\0x", 8));

  EXPECT_EQ(env->ReadFile(dir + "/missing").status().code(), absl::StatusCode::kNotFound);
  // A directory path that runs through a file is refused.
  EXPECT_FALSE(env->CreateDirectories(path + "/sub").ok());
  EXPECT_EQ(env->CreateDirectories(path).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(env->CreateDirectories("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(env->WriteFileAtomically(dir + "/no/such/dir/f", "x").ok());
}

}  // namespace
}  // namespace braid::runtime
