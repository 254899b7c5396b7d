#include "runtime/thread_pool.h"

#include <pthread.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "runtime/philox.h"

namespace braid::runtime {
namespace {

std::unique_ptr<ThreadPool> MakePool(int n, std::string name = "test") {
  absl::StatusOr<std::unique_ptr<ThreadPool>> pool =
      ThreadPool::Create({.num_threads = n, .name = std::move(name)});
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? std::move(*pool) : nullptr;
}

TEST(ThreadPoolTest, RejectsBadOptions) {
  EXPECT_EQ(ThreadPool::Create({.num_threads = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ThreadPool::Create({.num_threads = -3}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ThreadPoolTest, RunsEveryTaskAndDrainsOnShutdown) {
  std::unique_ptr<ThreadPool> pool = MakePool(3);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->num_threads(), 3);
  std::atomic<int> ran{0};
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(pool->Schedule([&ran] { ran.fetch_add(1); }).ok());
  }
  pool->Shutdown();  // drains: every queued task runs before the join
  EXPECT_EQ(ran.load(), 1000);
  EXPECT_EQ(pool->QueueSize(), 0u);
  EXPECT_EQ(pool->Schedule([] {}).code(), absl::StatusCode::kFailedPrecondition);
  pool->Shutdown();  // idempotent
}

TEST(ThreadPoolTest, DestructorDrains) {
  std::atomic<int> ran{0};
  {
    std::unique_ptr<ThreadPool> pool = MakePool(2);
    ASSERT_NE(pool, nullptr);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(pool->Schedule([&ran] { ran.fetch_add(1); }).ok());
  }
  EXPECT_EQ(ran.load(), 100);
}

TEST(ThreadPoolTest, ThreadsAreNamed) {
  std::unique_ptr<ThreadPool> pool = MakePool(2, "reducer");
  ASSERT_NE(pool, nullptr);
  absl::Mutex mu;
  std::set<std::string> names;
  std::atomic<bool> in_worker{true};
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(pool->Schedule([&] {
                      char buf[16] = {};
                      pthread_getname_np(pthread_self(), buf, sizeof(buf));
                      if (!pool->InWorkerThread()) in_worker = false;
                      absl::MutexLock lock(&mu);
                      names.insert(buf);
                    }).ok());
  }
  pool->Shutdown();
  EXPECT_TRUE(in_worker.load());
  EXPECT_FALSE(pool->InWorkerThread());
  ASSERT_FALSE(names.empty());
  for (const std::string& n : names) {
    EXPECT_TRUE(n == "reducer/0" || n == "reducer/1") << n;
  }
  // Long names are cut to the kernel's 15 characters, not refused.
  std::unique_ptr<ThreadPool> long_pool = MakePool(1, "a-very-long-pool-name");
  ASSERT_NE(long_pool, nullptr);
}

// Many producer threads schedule at once while workers run (run it under
// TSan: the tsan preset builds runtime with -fsanitize=thread).
TEST(ThreadPoolTest, ManyProducers) {
  std::unique_ptr<ThreadPool> pool = MakePool(4);
  ASSERT_NE(pool, nullptr);
  constexpr int kProducers = 8, kPerProducer = 2000;
  std::atomic<int64_t> sum{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        const int64_t v = p * kPerProducer + i;
        ASSERT_TRUE(pool->Schedule([&sum, v] { sum.fetch_add(v); }).ok());
      }
    });
  }
  for (std::thread& t : producers) t.join();
  pool->Shutdown();
  const int64_t n = int64_t{kProducers} * kPerProducer;
  EXPECT_EQ(sum.load(), n * (n - 1) / 2);
}

TEST(ThreadPoolTest, ScheduleRacingShutdownNeverLosesAcceptedTasks) {
  for (int round = 0; round < 20; ++round) {
    std::unique_ptr<ThreadPool> pool = MakePool(2);
    ASSERT_NE(pool, nullptr);
    std::atomic<int> accepted{0}, ran{0};
    std::thread producer([&] {
      for (int i = 0; i < 500; ++i) {
        if (pool->Schedule([&ran] { ran.fetch_add(1); }).ok()) accepted.fetch_add(1);
      }
    });
    pool->Shutdown();
    producer.join();
    EXPECT_EQ(ran.load(), accepted.load());
  }
}

TEST(ThreadPoolTest, ParallelForCoversRangeOnce) {
  std::unique_ptr<ThreadPool> pool = MakePool(3);
  ASSERT_NE(pool, nullptr);
  for (int64_t n : {0, 1, 2, 7, 64, 1001, 100000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool->ParallelFor(n, [&](int64_t begin, int64_t end) {
      ASSERT_LE(0, begin);
      ASSERT_LT(begin, end);
      ASSERT_LE(end, n);
      for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << i;
  }
}

TEST(ThreadPoolTest, ParallelForRespectsMinChunk) {
  std::unique_ptr<ThreadPool> pool = MakePool(2);
  ASSERT_NE(pool, nullptr);
  std::atomic<int> calls{0};
  pool->ParallelFor(100, [&](int64_t b, int64_t e) { calls.fetch_add(1); }, 1000);
  EXPECT_EQ(calls.load(), 1);  // smaller than one chunk: run inline
}

TEST(ThreadPoolTest, ParallelForFromInsideATaskAndAfterShutdown) {
  std::unique_ptr<ThreadPool> pool = MakePool(2);
  ASSERT_NE(pool, nullptr);
  std::atomic<int64_t> total{0};
  // Every worker blocked in a nested ParallelFor must not deadlock: the
  // caller always takes part.
  for (int t = 0; t < 2; ++t) {
    ASSERT_TRUE(pool->Schedule([&] {
                      pool->ParallelFor(1000, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
                    }).ok());
  }
  pool->Shutdown();
  EXPECT_EQ(total.load(), 2000);
  total = 0;
  pool->ParallelFor(500, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
  EXPECT_EQ(total.load(), 500);  // the caller did all of it
}

// Philox numbers do not depend on how the index range is split over threads.
TEST(ThreadPoolTest, PhiloxFillIsSplitIndependent) {
  constexpr uint64_t kN = 100003;
  std::vector<float> serial(kN), parallel(kN);
  FillNormalRange(serial.data(), 0, kN, 2024, 1, 0);
  std::unique_ptr<ThreadPool> pool = MakePool(4);
  ASSERT_NE(pool, nullptr);
  pool->ParallelFor(static_cast<int64_t>(kN), [&](int64_t b, int64_t e) {
    FillNormalRange(parallel.data() + b, static_cast<uint64_t>(b), static_cast<uint64_t>(e - b),
                    2024, 1, 0);
  }, 333);
  EXPECT_EQ(serial, parallel);
}

}  // namespace
}  // namespace braid::runtime
