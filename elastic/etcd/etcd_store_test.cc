// EtcdStore on a real etcd (started on loopback): what is specific to etcd —
// the protocol mapping, namespaces, endpoints, leases' ttl rounding,
// compaction, a server dying mid-call. The Store semantics every backend
// shares are in etcd_conformance_test.cc.
#include "elastic/etcd/etcd_store.h"

#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "elastic/etcd/etcd_test_server.h"
#include "gtest/gtest.h"
#include "tests/testing/run_ranks.h"

namespace braid::elastic {
namespace {

using runtime::WatchEventType;

absl::Time Soon() { return absl::Now() + absl::Seconds(10) * testing::TimeoutScale(); }

class EtcdStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<EtcdTestServer>> server = EtcdTestServer::Start();
    if (server.ok()) {
      server_ = server->release();
    } else {
      start_status_ = new absl::Status(server.status());
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete start_status_;
    start_status_ = nullptr;
  }

  void SetUp() override {
    if (server_ == nullptr) {
      if (absl::IsNotFound(*start_status_)) GTEST_SKIP() << start_status_->message();
      FAIL() << "etcd did not start: " << *start_status_;
    }
    prefix_ = absl::StrCat("/braid-test/",
                           ::testing::UnitTest::GetInstance()->current_test_info()->name(), "-",
                           getpid(), "-", absl::ToUnixNanos(absl::Now()), "/");
    store_ = NewStore(prefix_);
    ASSERT_NE(store_, nullptr);
  }

  static std::unique_ptr<EtcdStore> NewStore(const std::string& prefix,
                                             std::vector<std::string> endpoints = {}) {
    EtcdStoreOptions options;
    options.endpoints = endpoints.empty() ? std::vector<std::string>{server_->endpoint()}
                                          : std::move(endpoints);
    options.key_prefix = prefix;
    absl::StatusOr<std::unique_ptr<EtcdStore>> store = EtcdStore::Create(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  static std::string DeadEndpoint() {
    return absl::StrCat("http://127.0.0.1:", testing::PickUnusedPort());
  }

  static EtcdTestServer* server_;
  static absl::Status* start_status_;
  std::string prefix_;
  std::unique_ptr<EtcdStore> store_;
};

EtcdTestServer* EtcdStoreTest::server_ = nullptr;
absl::Status* EtcdStoreTest::start_status_ = nullptr;

TEST_F(EtcdStoreTest, EveryOperationRoundTrips) {
  ASSERT_TRUE(store_->Set("a", "1", Soon()).ok());
  EXPECT_EQ(*store_->Get("a", Soon()), "1");
  EXPECT_EQ(store_->Get("missing", Soon()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*store_->Add("a", 41, Soon()), 42);
  EXPECT_EQ(*store_->Add("fresh", -3, Soon()), -3);

  absl::StatusOr<runtime::CompareSetResult> cas =
      store_->CompareSet("c", std::nullopt, "first", Soon());
  ASSERT_TRUE(cas.ok()) << cas.status();
  EXPECT_TRUE(cas->swapped);
  cas = store_->CompareSet("c", std::nullopt, "second", Soon());
  ASSERT_TRUE(cas.ok());
  EXPECT_FALSE(cas->swapped);
  EXPECT_EQ(cas->current, "first");
  cas = store_->CompareSet("c", "wrong", "second", Soon());
  ASSERT_TRUE(cas.ok());
  EXPECT_FALSE(cas->swapped);
  EXPECT_EQ(cas->current, "first");
  cas = store_->CompareSet("absent", "x", "y", Soon());
  ASSERT_TRUE(cas.ok());
  EXPECT_FALSE(cas->swapped);
  EXPECT_FALSE(cas->current.has_value());
  cas = store_->CompareSet("c", "first", "second", Soon());
  ASSERT_TRUE(cas.ok());
  EXPECT_TRUE(cas->swapped);
  EXPECT_EQ(*store_->Get("c", Soon()), "second");

  EXPECT_TRUE(*store_->Delete("c", Soon()));
  EXPECT_FALSE(*store_->Delete("c", Soon()));

  ASSERT_TRUE(store_->Set("text", "not a number", Soon()).ok());
  EXPECT_EQ(store_->Add("text", 1, Soon()).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(store_->Set("big", absl::StrCat(INT64_MAX), Soon()).ok());
  EXPECT_EQ(store_->Add("big", 1, Soon()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Set("", "x", Soon()).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EtcdStoreTest, BinaryKeysAndValuesSurviveBase64) {
  const std::string key("k\0\xff\n", 4);
  const std::string value("\0\x01\x80\xff{\"}", 7);
  ASSERT_TRUE(store_->Set(key, value, Soon()).ok());
  EXPECT_EQ(*store_->Get(key, Soon()), value);
  absl::StatusOr<std::vector<runtime::KeyValue>> listed = store_->ListPrefix("k", Soon());
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].key, key);
  EXPECT_EQ((*listed)[0].value, value);
}

TEST_F(EtcdStoreTest, NamespacesAreIsolatedAndStripped) {
  std::unique_ptr<EtcdStore> other = NewStore(prefix_ + "other/");
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(store_->Set("x/2", "b", Soon()).ok());
  ASSERT_TRUE(store_->Set("x/1", "a", Soon()).ok());
  ASSERT_TRUE(store_->Set("y", "c", Soon()).ok());
  ASSERT_TRUE(other->Set("x/1", "theirs", Soon()).ok());
  EXPECT_EQ(*store_->Get("x/1", Soon()), "a");
  EXPECT_EQ(*other->Get("x/1", Soon()), "theirs");
  absl::StatusOr<std::vector<runtime::KeyValue>> listed = store_->ListPrefix("x/", Soon());
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].key, "x/1");
  EXPECT_EQ((*listed)[1].key, "x/2");
  EXPECT_GT((*listed)[0].mod_revision, (*listed)[1].mod_revision);  // x/1 was written last.
  // An empty prefix lists the whole namespace, including the nested one.
  absl::StatusOr<std::vector<runtime::KeyValue>> all = other->ListPrefix("", Soon());
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].key, "x/1");
}

TEST_F(EtcdStoreTest, ConcurrentAddsFromManyClientsAreExact) {
  constexpr int kThreads = 8;
  constexpr int kAddsPerThread = 25;
  std::vector<std::unique_ptr<EtcdStore>> clients;
  for (int i = 0; i < kThreads; ++i) clients.push_back(NewStore(prefix_));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kAddsPerThread; ++j) {
        if (!clients[i]->Add("counter", 1, Soon()).ok()) failures.fetch_add(1);
        if (!store_->Add("shared-client", 2, Soon()).ok()) failures.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*store_->Get("counter", Soon()), absl::StrCat(kThreads * kAddsPerThread));
  EXPECT_EQ(*store_->Get("shared-client", Soon()), absl::StrCat(2 * kThreads * kAddsPerThread));
}

TEST_F(EtcdStoreTest, WaitWakesOnAnotherClientsSetAndNamesMissingKeys) {
  std::unique_ptr<EtcdStore> writer = NewStore(prefix_);
  ASSERT_TRUE(store_->Set("ready/0", "x", Soon()).ok());
  std::thread setter([&] {
    EXPECT_TRUE(writer->Set("ready/2", "x", Soon()).ok());
    EXPECT_TRUE(writer->Set("ready/1", "x", Soon()).ok());
  });
  const std::vector<std::string> keys = {"ready/0", "ready/1", "ready/2"};
  EXPECT_TRUE(store_->Wait(keys, Soon()).ok());
  setter.join();

  const absl::Time start = absl::Now();
  absl::Status status = store_->Wait({"ready/0", "never/a", "never/b"},
                                     absl::Now() + absl::Milliseconds(300));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find("never/a, never/b"), absl::string_view::npos) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2) * testing::TimeoutScale());
}

TEST_F(EtcdStoreTest, WatchReturnsOrderedEventsAndContinues) {
  ASSERT_TRUE(store_->Set("w/a", "1", Soon()).ok());
  absl::StatusOr<std::vector<runtime::KeyValue>> listed = store_->ListPrefix("w/", Soon());
  ASSERT_TRUE(listed.ok());
  const int64_t start = (*listed)[0].mod_revision;
  ASSERT_TRUE(store_->Set("w/b", "2", Soon()).ok());
  ASSERT_TRUE(store_->Set("elsewhere", "ignored", Soon()).ok());
  ASSERT_TRUE(store_->Delete("w/a", Soon()).ok());

  std::vector<runtime::WatchEvent> events;
  int64_t after = start;
  while (events.size() < 2) {
    absl::StatusOr<runtime::WatchResult> result = store_->Watch("w/", after, Soon());
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_FALSE(result->events.empty());
    EXPECT_GT(result->revision, after);
    after = result->revision;
    for (runtime::WatchEvent& e : result->events) events.push_back(std::move(e));
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, WatchEventType::kPut);
  EXPECT_EQ(events[0].key, "w/b");
  EXPECT_EQ(events[0].value, "2");
  EXPECT_EQ(events[1].type, WatchEventType::kDelete);
  EXPECT_EQ(events[1].key, "w/a");
  EXPECT_LT(events[0].revision, events[1].revision);

  // Nothing new: the long-poll ends at its deadline.
  absl::StatusOr<runtime::WatchResult> idle =
      store_->Watch("w/", after, absl::Now() + absl::Milliseconds(200));
  EXPECT_EQ(idle.status().code(), absl::StatusCode::kDeadlineExceeded) << idle.status();
}

TEST_F(EtcdStoreTest, WatchFromNowSeesOnlyLaterChanges) {
  ASSERT_TRUE(store_->Set("n/old", "1", Soon()).ok());
  std::unique_ptr<EtcdStore> writer = NewStore(prefix_);
  // The watch registers before the write only if the write waits for it; a
  // write that lands first is simply not reported, so write repeatedly until
  // the watch has seen one (bounded by the watch's deadline).
  std::atomic<bool> stop{false};
  std::thread setter([&] {
    for (int i = 0; !stop.load() && i < 200; ++i) {
      (void)writer->Set("n/new", absl::StrCat(i), Soon());
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  absl::StatusOr<runtime::WatchResult> result = store_->Watch("n/", 0, Soon());
  stop.store(true);
  setter.join();
  ASSERT_TRUE(result.ok()) << result.status();
  for (const runtime::WatchEvent& e : result->events) EXPECT_EQ(e.key, "n/new");
}

TEST_F(EtcdStoreTest, WatchFromACompactedRevisionIsOutOfRange) {
  ASSERT_TRUE(store_->Set("h/a", "1", Soon()).ok());
  ASSERT_TRUE(store_->Set("h/a", "2", Soon()).ok());
  absl::StatusOr<int64_t> revision = store_->CurrentRevision(Soon());
  ASSERT_TRUE(revision.ok()) << revision.status();
  ASSERT_TRUE(store_->Compact(*revision, Soon()).ok());
  absl::StatusOr<runtime::WatchResult> result = store_->Watch("h/", 1, Soon());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kOutOfRange) << result.status();
  EXPECT_NE(result.status().message().find("ListPrefix"), absl::string_view::npos);
}

TEST_F(EtcdStoreTest, LeaseTtlIsRoundedAndKeysVanishAfterRevoke) {
  // 300 ms is below etcd's minimum; the lease is granted anyway (longer).
  absl::StatusOr<runtime::LeaseId> lease = store_->GrantLease(absl::Milliseconds(300), Soon());
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(store_->Set("leased", "v", *lease, Soon()).ok());
  EXPECT_TRUE(store_->KeepAlive(*lease, Soon()).ok());
  EXPECT_EQ(*store_->Get("leased", Soon()), "v");
  ASSERT_TRUE(store_->RevokeLease(*lease, Soon()).ok());
  EXPECT_EQ(store_->Get("leased", Soon()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->KeepAlive(*lease, Soon()).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Set("leased", "v", *lease, Soon()).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GrantLease(absl::ZeroDuration(), Soon()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EtcdStoreTest, LeaseExpiresWithoutKeepAlive) {
  absl::StatusOr<runtime::LeaseId> lease = store_->GrantLease(absl::Seconds(1), Soon());
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(store_->Set("hb", "alive", *lease, Soon()).ok());
  // Wait for the delete event instead of sleeping: etcd's minimum ttl (2 s)
  // plus its 500 ms expiry check, generously bounded.
  absl::StatusOr<std::vector<runtime::KeyValue>> listed = store_->ListPrefix("hb", Soon());
  ASSERT_TRUE(listed.ok() && listed->size() == 1);
  const absl::Time start = absl::Now();
  absl::StatusOr<runtime::WatchResult> result = store_->Watch(
      "hb", (*listed)[0].mod_revision, absl::Now() + absl::Seconds(8) * testing::TimeoutScale());
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->events.size(), 1u);
  EXPECT_EQ(result->events[0].type, WatchEventType::kDelete);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(900));
  EXPECT_EQ(store_->KeepAlive(*lease, Soon()).code(), absl::StatusCode::kNotFound);
}

TEST_F(EtcdStoreTest, OversizedValuesAndPastDeadlinesAreRefused) {
  EXPECT_EQ(store_->Set("big", std::string((1 << 20) + 1, 'x'), Soon()).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(store_->Set("big", std::string(1 << 20, 'x'), Soon()).ok());
  EXPECT_EQ(store_->Get("big", Soon())->size(), size_t{1} << 20);
  const absl::Time past = absl::Now() - absl::Seconds(1);
  EXPECT_EQ(store_->Set("k", "v", past).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(store_->Get("big", past).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(store_->Wait({"nope"}, past).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(store_->Watch("", 0, past).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(EtcdStoreTest, CreateFailsFastWhenNoEtcdAnswers) {
  EtcdStoreOptions options;
  options.endpoints = {DeadEndpoint()};
  options.connect_timeout = absl::Seconds(2);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<EtcdStore>> store = EtcdStore::Create(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
  EXPECT_NE(store.status().message().find(options.endpoints[0]), absl::string_view::npos);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3) * testing::TimeoutScale());
  options.endpoints = {"127.0.0.1:2379"};  // No scheme.
  EXPECT_EQ(EtcdStore::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EtcdStoreTest, FailsOverToTheNextEndpoint) {
  std::unique_ptr<EtcdStore> store = NewStore(prefix_, {DeadEndpoint(), server_->endpoint()});
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->Set("k", "v", Soon()).ok());
  EXPECT_EQ(*store_->Get("k", Soon()), "v");
}

TEST_F(EtcdStoreTest, EtcdDyingMidWatchFailsTheCallInsteadOfHanging) {
  absl::StatusOr<std::unique_ptr<EtcdTestServer>> doomed = EtcdTestServer::Start();
  ASSERT_TRUE(doomed.ok()) << doomed.status();
  std::unique_ptr<EtcdStore> store = NewStore(prefix_, {(*doomed)->endpoint()});
  ASSERT_NE(store, nullptr);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  absl::StatusOr<runtime::WatchResult> result;
  std::thread watcher([&] { result = store->Watch("x", 0, deadline); });
  // Let the watch reach etcd (not needed for correctness: either way the call
  // must fail well before its deadline).
  absl::SleepFor(absl::Milliseconds(200));
  doomed->reset();  // SIGKILL
  watcher.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable) << result.status();
  EXPECT_LT(absl::Now(), deadline - absl::Seconds(20));
  EXPECT_EQ(store->Get("x", Soon()).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace braid::elastic
