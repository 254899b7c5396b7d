#include "elastic/store/store_conformance.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/run_ranks.h"

namespace braid::elastic {

using runtime::CompareSetResult;
using runtime::KeyValue;
using runtime::LeaseId;
using runtime::Store;
using runtime::WatchEvent;
using runtime::WatchEventType;
using runtime::WatchResult;

std::string StoreFactoryName(const ::testing::TestParamInfo<StoreFactory>& info) {
  return info.param.name;
}

void StoreConformanceTest::SetUp() {
  absl::StatusOr<std::unique_ptr<Store>> client = GetParam().make_client();
  if (!client.ok() && client.status().code() == absl::StatusCode::kUnavailable) {
    GTEST_SKIP() << "store backend '" << GetParam().name
                 << "' is not available here: " << client.status();
  }
  ASSERT_TRUE(client.ok()) << client.status();
  store_ = *std::move(client);
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  prefix_ = absl::StrCat("conformance/", info->name(), "/", getpid(), "-",
                         absl::ToUnixNanos(absl::Now()), "/");
}

std::unique_ptr<Store> StoreConformanceTest::NewClient() {
  absl::StatusOr<std::unique_ptr<Store>> client = GetParam().make_client();
  EXPECT_TRUE(client.ok()) << client.status();
  if (!client.ok()) return nullptr;
  return *std::move(client);
}

std::string StoreConformanceTest::Key(absl::string_view name) const {
  return absl::StrCat(prefix_, name);
}

absl::Time StoreConformanceTest::In(absl::Duration d) {
  return absl::Now() + d * braid::testing::TimeoutScale();
}

absl::Time StoreConformanceTest::Soon() { return In(absl::Seconds(10)); }

namespace {

// Collects events under `prefix` after `after` until `count` arrived (several
// Watch calls may be needed) or the deadline passed.
std::vector<WatchEvent> WatchUntil(Store& store, const std::string& prefix, int64_t after,
                                   size_t count, absl::Time deadline, int64_t* last_revision) {
  std::vector<WatchEvent> events;
  while (events.size() < count) {
    absl::StatusOr<WatchResult> r = store.Watch(prefix, after, deadline);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) break;
    EXPECT_GT(r->revision, after);
    after = r->revision;
    for (WatchEvent& e : r->events) events.push_back(std::move(e));
  }
  if (last_revision != nullptr) *last_revision = after;
  return events;
}

// The mod_revision of `key` (via ListPrefix, the only call that reports it).
int64_t ModRevision(Store& store, const std::string& key) {
  absl::StatusOr<std::vector<KeyValue>> kvs =
      store.ListPrefix(key, absl::Now() + absl::Seconds(10));
  EXPECT_TRUE(kvs.ok()) << kvs.status();
  if (!kvs.ok()) return 0;
  for (const KeyValue& kv : *kvs) {
    if (kv.key == key) return kv.mod_revision;
  }
  ADD_FAILURE() << "key " << key << " not listed";
  return 0;
}

}  // namespace

// ---- Set / Get ----------------------------------------------------------------------

TEST_P(StoreConformanceTest, SetThenGetReturnsValue) {
  ASSERT_TRUE(store().Set(Key("a"), "1", Soon()).ok());
  EXPECT_EQ(store().Get(Key("a"), Soon()).value_or("<error>"), "1");
  ASSERT_TRUE(store().Set(Key("a"), "two", Soon()).ok());
  EXPECT_EQ(store().Get(Key("a"), Soon()).value_or("<error>"), "two");
}

TEST_P(StoreConformanceTest, GetMissingKeyIsNotFound) {
  absl::StatusOr<std::string> v = store().Get(Key("missing"), Soon());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound) << v.status();
}

TEST_P(StoreConformanceTest, EmptyKeyIsInvalidArgument) {
  EXPECT_EQ(store().Set("", "x", Soon()).code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreConformanceTest, BinaryAndEmptyValuesRoundTrip) {
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  ASSERT_TRUE(store().Set(Key("bin"), binary, Soon()).ok());
  EXPECT_EQ(store().Get(Key("bin"), Soon()).value_or("<error>"), binary);
  ASSERT_TRUE(store().Set(Key("empty"), "", Soon()).ok());
  EXPECT_EQ(store().Get(Key("empty"), Soon()).value_or("<error>"), "");
}

TEST_P(StoreConformanceTest, LargeValueRoundTrips) {
  std::string big(256 << 10, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) % 251);
  ASSERT_TRUE(store().Set(Key("big"), big, Soon()).ok());
  EXPECT_EQ(store().Get(Key("big"), Soon()).value_or("<error>"), big);
}

TEST_P(StoreConformanceTest, ValueWrittenByOneClientIsSeenByAnother) {
  std::unique_ptr<Store> other = NewClient();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(store().Set(Key("shared"), "v", Soon()).ok());
  EXPECT_EQ(other->Get(Key("shared"), Soon()).value_or("<error>"), "v");
}

// ---- Add --------------------------------------------------------------------------------

TEST_P(StoreConformanceTest, AddStartsFromZeroAndAccumulates) {
  EXPECT_EQ(store().Add(Key("n"), 5, Soon()).value_or(-999), 5);
  EXPECT_EQ(store().Add(Key("n"), -7, Soon()).value_or(-999), -2);
  EXPECT_EQ(store().Add(Key("n"), 0, Soon()).value_or(-999), -2);
  EXPECT_EQ(store().Get(Key("n"), Soon()).value_or("<error>"), "-2");
}

TEST_P(StoreConformanceTest, AddToNonIntegerIsInvalidArgument) {
  ASSERT_TRUE(store().Set(Key("text"), "abc", Soon()).ok());
  EXPECT_EQ(store().Add(Key("text"), 1, Soon()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().Get(Key("text"), Soon()).value_or("<error>"), "abc");
}

TEST_P(StoreConformanceTest, ConcurrentAddsFromClientsAndThreadsSum) {
  constexpr int kClients = 4;
  constexpr int kThreadsPerClient = 2;
  constexpr int kAddsPerThread = 25;
  std::vector<std::unique_ptr<Store>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(NewClient());
    ASSERT_NE(clients.back(), nullptr);
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const std::string key = Key("counter");
  const absl::Time deadline = In(absl::Seconds(30));
  for (int c = 0; c < kClients; ++c) {
    for (int t = 0; t < kThreadsPerClient; ++t) {
      threads.emplace_back([&, c] {
        for (int i = 0; i < kAddsPerThread; ++i) {
          if (!clients[c]->Add(key, 1, deadline).ok()) failures.fetch_add(1);
        }
      });
    }
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store().Get(key, Soon()).value_or("<error>"),
            absl::StrCat(kClients * kThreadsPerClient * kAddsPerThread));
}

// ---- CompareSet -------------------------------------------------------------------------

TEST_P(StoreConformanceTest, CompareSetExpectingAbsentCreatesOnlyOnce) {
  absl::StatusOr<CompareSetResult> r = store().CompareSet(Key("c"), std::nullopt, "first", Soon());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->swapped);
  EXPECT_EQ(r->current, std::optional<std::string>("first"));
  r = store().CompareSet(Key("c"), std::nullopt, "second", Soon());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->swapped);
  EXPECT_EQ(r->current, std::optional<std::string>("first"));
  EXPECT_EQ(store().Get(Key("c"), Soon()).value_or("<error>"), "first");
}

TEST_P(StoreConformanceTest, CompareSetMatchSwapsAndMismatchReportsCurrent) {
  ASSERT_TRUE(store().Set(Key("c"), "old", Soon()).ok());
  absl::StatusOr<CompareSetResult> r =
      store().CompareSet(Key("c"), absl::string_view("wrong"), "new", Soon());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->swapped);
  EXPECT_EQ(r->current, std::optional<std::string>("old"));
  r = store().CompareSet(Key("c"), absl::string_view("old"), "new", Soon());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->swapped);
  EXPECT_EQ(r->current, std::optional<std::string>("new"));
  EXPECT_EQ(store().Get(Key("c"), Soon()).value_or("<error>"), "new");
}

TEST_P(StoreConformanceTest, CompareSetOnAbsentKeyWithExpectedValueFails) {
  absl::StatusOr<CompareSetResult> r =
      store().CompareSet(Key("none"), absl::string_view("x"), "y", Soon());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->swapped);
  EXPECT_EQ(r->current, std::nullopt);
  EXPECT_EQ(store().Get(Key("none"), Soon()).status().code(), absl::StatusCode::kNotFound);
}

// ---- Delete / ListPrefix --------------------------------------------------------------

TEST_P(StoreConformanceTest, DeleteReportsWhetherKeyExisted) {
  ASSERT_TRUE(store().Set(Key("d"), "v", Soon()).ok());
  EXPECT_EQ(store().Delete(Key("d"), Soon()).value_or(false), true);
  EXPECT_EQ(store().Get(Key("d"), Soon()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store().Delete(Key("d"), Soon()).value_or(true), false);
}

TEST_P(StoreConformanceTest, ListPrefixReturnsSortedKeysUnderPrefixOnly) {
  for (const char* k : {"a/2", "a/10", "a/1", "ab", "b"}) {
    ASSERT_TRUE(store().Set(Key(k), absl::StrCat("v", k), Soon()).ok());
  }
  absl::StatusOr<std::vector<KeyValue>> kvs = store().ListPrefix(Key("a/"), Soon());
  ASSERT_TRUE(kvs.ok()) << kvs.status();
  ASSERT_EQ(kvs->size(), 3u);
  EXPECT_EQ((*kvs)[0].key, Key("a/1"));
  EXPECT_EQ((*kvs)[1].key, Key("a/10"));
  EXPECT_EQ((*kvs)[2].key, Key("a/2"));
  EXPECT_EQ((*kvs)[0].value, "va/1");
  // Written in the order a/2, a/10, a/1: revisions follow that order.
  EXPECT_GT((*kvs)[0].mod_revision, (*kvs)[1].mod_revision);
  EXPECT_GT((*kvs)[1].mod_revision, (*kvs)[2].mod_revision);
  EXPECT_GT((*kvs)[2].mod_revision, 0);

  kvs = store().ListPrefix(Key("nothing/"), Soon());
  ASSERT_TRUE(kvs.ok()) << kvs.status();
  EXPECT_TRUE(kvs->empty());
}

// ---- Wait -------------------------------------------------------------------------------

TEST_P(StoreConformanceTest, WaitReturnsAtOnceWhenKeysExist) {
  ASSERT_TRUE(store().Set(Key("w1"), "x", Soon()).ok());
  ASSERT_TRUE(store().Set(Key("w2"), "y", Soon()).ok());
  const std::vector<std::string> keys = {Key("w1"), Key("w2")};
  EXPECT_TRUE(store().Wait(keys, Soon()).ok());
  EXPECT_TRUE(store().Wait({}, Soon()).ok());
}

TEST_P(StoreConformanceTest, WaitReturnsWhenAnotherClientSetsTheKeys) {
  std::unique_ptr<Store> writer = NewClient();
  ASSERT_NE(writer, nullptr);
  const std::vector<std::string> keys = {Key("late1"), Key("late2")};
  absl::Status waited;
  std::thread waiter([&] { waited = store().Wait(keys, In(absl::Seconds(20))); });
  ASSERT_TRUE(writer->Set(keys[0], "1", Soon()).ok());
  ASSERT_TRUE(writer->Set(keys[1], "2", Soon()).ok());
  waiter.join();
  EXPECT_TRUE(waited.ok()) << waited;
}

TEST_P(StoreConformanceTest, WaitDeadlineExceededNamesMissingKeys) {
  ASSERT_TRUE(store().Set(Key("here"), "x", Soon()).ok());
  const std::vector<std::string> keys = {Key("here"), Key("absent")};
  const absl::Duration timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  absl::Status s = store().Wait(keys, start + timeout);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), Key("absent"))) << s;
  // A backend may give up slightly early (the embedded client leaves a tenth
  // of the time for the server's answer to travel back), never late.
  EXPECT_GE(took, timeout * 0.85);
  EXPECT_LT(took, timeout + absl::Seconds(2) * braid::testing::TimeoutScale());
}

TEST_P(StoreConformanceTest, WaitDoesNotBlockOtherCallsOnTheSameClient) {
  const std::vector<std::string> keys = {Key("gate")};
  absl::Status waited;
  std::thread waiter([&] { waited = store().Wait(keys, In(absl::Seconds(20))); });
  // The same client serves these while the Wait is outstanding.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store().Set(Key(absl::StrCat("other", i)), "x", In(absl::Seconds(5))).ok());
    ASSERT_TRUE(store().Get(Key(absl::StrCat("other", i)), In(absl::Seconds(5))).ok());
  }
  ASSERT_TRUE(store().Set(Key("gate"), "open", Soon()).ok());
  waiter.join();
  EXPECT_TRUE(waited.ok()) << waited;
}

// ---- Watch ----------------------------------------------------------------------------

TEST_P(StoreConformanceTest, WatchReportsPutsAndDeletesInOrder) {
  ASSERT_TRUE(store().Set(Key("start"), "s", Soon()).ok());
  const int64_t start = ModRevision(store(), Key("start"));
  const std::string watched = Key("w/");
  ASSERT_TRUE(store().Set(Key("w/x"), "1", Soon()).ok());
  ASSERT_TRUE(store().Set(Key("w/y"), "2", Soon()).ok());
  ASSERT_TRUE(store().Set(Key("elsewhere"), "3", Soon()).ok());
  ASSERT_TRUE(store().Delete(Key("w/x"), Soon()).ok());
  ASSERT_TRUE(store().Set(Key("w/y"), "4", Soon()).ok());

  int64_t last = 0;
  std::vector<WatchEvent> events = WatchUntil(store(), watched, start, 4, Soon(), &last);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].type, WatchEventType::kPut);
  EXPECT_EQ(events[0].key, Key("w/x"));
  EXPECT_EQ(events[0].value, "1");
  EXPECT_EQ(events[1].type, WatchEventType::kPut);
  EXPECT_EQ(events[1].key, Key("w/y"));
  EXPECT_EQ(events[1].value, "2");
  EXPECT_EQ(events[2].type, WatchEventType::kDelete);
  EXPECT_EQ(events[2].key, Key("w/x"));
  EXPECT_EQ(events[3].type, WatchEventType::kPut);
  EXPECT_EQ(events[3].value, "4");
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GT(events[i].revision, events[i - 1].revision);
  }
  EXPECT_GE(last, events.back().revision);
}

TEST_P(StoreConformanceTest, WatchContinuesFromReturnedRevision) {
  ASSERT_TRUE(store().Set(Key("start"), "s", Soon()).ok());
  const int64_t start = ModRevision(store(), Key("start"));
  ASSERT_TRUE(store().Set(Key("w/a"), "1", Soon()).ok());
  int64_t last = 0;
  std::vector<WatchEvent> first = WatchUntil(store(), Key("w/"), start, 1, Soon(), &last);
  ASSERT_EQ(first.size(), 1u);

  // Nothing new after `last`: the watch waits and times out.
  absl::StatusOr<WatchResult> none =
      store().Watch(Key("w/"), last, absl::Now() + absl::Milliseconds(200));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kDeadlineExceeded) << none.status();

  ASSERT_TRUE(store().Set(Key("w/b"), "2", Soon()).ok());
  std::vector<WatchEvent> second = WatchUntil(store(), Key("w/"), last, 1, Soon(), nullptr);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].key, Key("w/b"));
  EXPECT_EQ(second[0].value, "2");
}

TEST_P(StoreConformanceTest, WatchFromNowSeesAChangeByAnotherClient) {
  std::unique_ptr<Store> writer = NewClient();
  ASSERT_NE(writer, nullptr);
  std::atomic<bool> done{false};
  absl::StatusOr<WatchResult> result = absl::UnknownError("not run");
  std::thread watcher([&] {
    result = store().Watch(Key("now/"), 0, In(absl::Seconds(20)));
    done.store(true);
  });
  // after_revision 0 means "changes after the watch arrives": keep writing
  // until the watcher has seen one, so no ordering assumption is needed.
  const absl::Time give_up = In(absl::Seconds(20));
  int i = 0;
  while (!done.load() && absl::Now() < give_up) {
    ASSERT_TRUE(writer->Set(Key("now/k"), absl::StrCat(i++), Soon()).ok());
    absl::SleepFor(absl::Milliseconds(20));  // pacing the writer, not synchronisation
  }
  watcher.join();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_FALSE(result->events.empty());
  EXPECT_EQ(result->events[0].key, Key("now/k"));
  EXPECT_EQ(result->events[0].type, WatchEventType::kPut);
}

TEST_P(StoreConformanceTest, WatchIgnoresOtherPrefixesAndTimesOut) {
  ASSERT_TRUE(store().Set(Key("start"), "s", Soon()).ok());
  const int64_t start = ModRevision(store(), Key("start"));
  ASSERT_TRUE(store().Set(Key("other/x"), "1", Soon()).ok());
  const absl::Time begin = absl::Now();
  absl::StatusOr<WatchResult> r =
      store().Watch(Key("mine/"), start, begin + absl::Milliseconds(300));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(absl::Now() - begin,
            absl::Milliseconds(300) + absl::Seconds(2) * braid::testing::TimeoutScale());
}

// ---- Leases ---------------------------------------------------------------------------

TEST_P(StoreConformanceTest, LeasedKeysVanishAfterTtlWithoutKeepAlive) {
  const absl::Duration ttl = GetParam().lease_ttl;
  ASSERT_TRUE(store().Set(Key("start"), "s", Soon()).ok());
  const int64_t start = ModRevision(store(), Key("start"));
  const absl::Time granted = absl::Now();
  absl::StatusOr<LeaseId> lease = store().GrantLease(ttl, Soon());
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(store().Set(Key("l/a"), "1", *lease, Soon()).ok());
  ASSERT_TRUE(store().Set(Key("l/b"), "2", *lease, Soon()).ok());
  EXPECT_EQ(store().Get(Key("l/a"), Soon()).value_or("<error>"), "1");

  // Two puts then two deletes, the deletes coming from the expiry.
  const absl::Time limit = In(ttl + GetParam().lease_slack);
  std::vector<WatchEvent> events = WatchUntil(store(), Key("l/"), start, 4, limit, nullptr);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[2].type, WatchEventType::kDelete);
  EXPECT_EQ(events[3].type, WatchEventType::kDelete);
  EXPECT_GE(absl::Now() - granted, ttl - absl::Milliseconds(5));
  EXPECT_EQ(store().Get(Key("l/a"), Soon()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store().Get(Key("l/b"), Soon()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store().KeepAlive(*lease, Soon()).code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, KeepAliveKeepsLeasedKeys) {
  const absl::Duration ttl = GetParam().lease_ttl;
  absl::StatusOr<LeaseId> lease = store().GrantLease(ttl, Soon());
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(store().Set(Key("kept"), "v", *lease, Soon()).ok());
  const absl::Time until = absl::Now() + ttl * 3;
  while (absl::Now() < until) {
    ASSERT_TRUE(store().KeepAlive(*lease, Soon()).ok());
    absl::SleepFor(ttl / 5);  // the renewal period under test
  }
  EXPECT_EQ(store().Get(Key("kept"), Soon()).value_or("<error>"), "v");
  EXPECT_TRUE(store().RevokeLease(*lease, Soon()).ok());
}

TEST_P(StoreConformanceTest, RevokeLeaseDeletesItsKeysAtOnce) {
  absl::StatusOr<LeaseId> lease = store().GrantLease(absl::Seconds(60), Soon());
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(store().Set(Key("r/1"), "a", *lease, Soon()).ok());
  ASSERT_TRUE(store().Set(Key("r/2"), "b", *lease, Soon()).ok());
  ASSERT_TRUE(store().Set(Key("r/unleased"), "c", Soon()).ok());
  ASSERT_TRUE(store().RevokeLease(*lease, Soon()).ok());
  EXPECT_EQ(store().Get(Key("r/1"), Soon()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store().Get(Key("r/2"), Soon()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store().Get(Key("r/unleased"), Soon()).value_or("<error>"), "c");
  EXPECT_EQ(store().KeepAlive(*lease, Soon()).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store().Set(Key("r/3"), "d", *lease, Soon()).code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, SetWithoutLeaseDetachesKeyFromLease) {
  absl::StatusOr<LeaseId> lease = store().GrantLease(absl::Seconds(60), Soon());
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(store().Set(Key("k"), "leased", *lease, Soon()).ok());
  ASSERT_TRUE(store().Set(Key("k"), "plain", Soon()).ok());
  ASSERT_TRUE(store().RevokeLease(*lease, Soon()).ok());
  EXPECT_EQ(store().Get(Key("k"), Soon()).value_or("<error>"), "plain");
}

TEST_P(StoreConformanceTest, LeaseIsSharedByClients) {
  std::unique_ptr<Store> other = NewClient();
  ASSERT_NE(other, nullptr);
  absl::StatusOr<LeaseId> lease = store().GrantLease(absl::Seconds(60), Soon());
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(other->Set(Key("k"), "v", *lease, Soon()).ok());
  ASSERT_TRUE(other->KeepAlive(*lease, Soon()).ok());
  ASSERT_TRUE(other->RevokeLease(*lease, Soon()).ok());
  EXPECT_EQ(store().Get(Key("k"), Soon()).status().code(), absl::StatusCode::kNotFound);
}

// ---- Deadlines ------------------------------------------------------------------------

TEST_P(StoreConformanceTest, PastDeadlineIsDeadlineExceeded) {
  const absl::Time past = absl::Now() - absl::Seconds(1);
  EXPECT_EQ(store().Get(Key("x"), past).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(store().Set(Key("x"), "v", past).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(store().Wait({Key("x")}, past).code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_P(StoreConformanceTest, ManyParkedWaitsAllComplete) {
  constexpr int kWaiters = 16;
  std::vector<std::unique_ptr<Store>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(NewClient());
    ASSERT_NE(clients.back(), nullptr);
  }
  std::vector<absl::Status> results(kWaiters, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      const std::vector<std::string> keys = {Key(absl::StrCat("k", i % 4)), Key("all")};
      results[i] = clients[i % 4]->Wait(keys, In(absl::Seconds(20)));
    });
  }
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(store().Set(Key(absl::StrCat("k", i)), "x", Soon()).ok());
  ASSERT_TRUE(store().Set(Key("all"), "x", Soon()).ok());
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kWaiters; ++i) EXPECT_TRUE(results[i].ok()) << i << ": " << results[i];
}

}  // namespace braid::elastic
