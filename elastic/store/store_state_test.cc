// Tests of StoreState, the store's semantics without I/O, driven with a
// chosen clock: lease expiry times, parked deadlines, history compaction,
// reply size bounds and limits.
#include "elastic/store/store_state.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace braid::elastic {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'000'000);

class StoreStateTest : public ::testing::Test {
 protected:
  explicit StoreStateTest(StoreStateOptions options = {}) : state_(options) {}

  // Sends a request from connection `conn` at kT0 + at.
  void Send(storepb::Request r, absl::Duration at = absl::ZeroDuration(), uint64_t conn = 1) {
    r.set_id(next_id_++);
    state_.Handle(conn, r, kT0 + at);
  }
  std::vector<StoreState::Reply> Take() { return state_.TakeReplies(); }
  // The single reply expected now.
  storepb::Response One() {
    std::vector<StoreState::Reply> replies = Take();
    EXPECT_EQ(replies.size(), 1u);
    return replies.empty() ? storepb::Response() : replies[0].response;
  }

  static storepb::Request Set(const std::string& k, const std::string& v, int64_t lease = 0) {
    storepb::Request r;
    r.mutable_set()->set_key(k);
    r.mutable_set()->set_value(v);
    r.mutable_set()->set_lease(lease);
    return r;
  }
  static storepb::Request Get(const std::string& k) {
    storepb::Request r;
    r.mutable_get()->set_key(k);
    return r;
  }
  static storepb::Request Wait(std::vector<std::string> keys, absl::Duration timeout) {
    storepb::Request r;
    for (const std::string& k : keys) r.mutable_wait()->add_keys(k);
    r.mutable_wait();
    r.set_timeout_us(absl::ToInt64Microseconds(timeout));
    return r;
  }
  static storepb::Request Watch(const std::string& prefix, int64_t after, absl::Duration timeout) {
    storepb::Request r;
    r.mutable_watch()->set_prefix(prefix);
    r.mutable_watch()->set_after_revision(after);
    r.set_timeout_us(absl::ToInt64Microseconds(timeout));
    return r;
  }
  static storepb::Request Grant(absl::Duration ttl) {
    storepb::Request r;
    r.mutable_grant_lease()->set_ttl_ms(absl::ToInt64Milliseconds(ttl));
    return r;
  }
  static storepb::Request KeepAlive(int64_t lease) {
    storepb::Request r;
    r.mutable_keep_alive()->set_lease(lease);
    return r;
  }
  static absl::StatusCode Code(const storepb::Response& r) {
    return static_cast<absl::StatusCode>(r.code());
  }

  StoreState state_;
  uint64_t next_id_ = 1;
};

TEST_F(StoreStateTest, RevisionCountsEveryChange) {
  Send(Set("a", "1"));
  EXPECT_EQ(One().revision(), 1);
  Send(Set("a", "2"));
  EXPECT_EQ(One().revision(), 2);
  storepb::Request del;
  del.mutable_delete_key()->set_key("a");
  Send(del);
  EXPECT_TRUE(One().delete_key().existed());
  Send(del);  // deleting a missing key changes nothing
  EXPECT_FALSE(One().delete_key().existed());
  EXPECT_EQ(state_.revision(), 3);
  Send(Get("a"));
  EXPECT_EQ(Code(One()), absl::StatusCode::kNotFound);
}

TEST_F(StoreStateTest, LeaseExpiresExactlyTtlAfterLastKeepAlive) {
  Send(Grant(absl::Seconds(1)));
  const int64_t lease = One().grant_lease().lease();
  Send(Set("k", "v", lease));
  One();
  EXPECT_EQ(state_.NextTimer(), kT0 + absl::Seconds(1));
  Send(KeepAlive(lease), absl::Milliseconds(600));
  EXPECT_EQ(Code(One()), absl::StatusCode::kOk);
  EXPECT_EQ(state_.NextTimer(), kT0 + absl::Milliseconds(1600));
  state_.Tick(kT0 + absl::Milliseconds(1599));
  EXPECT_EQ(state_.key_count(), 1u);
  state_.Tick(kT0 + absl::Milliseconds(1600));
  EXPECT_EQ(state_.key_count(), 0u);
  EXPECT_EQ(state_.lease_count(), 0u);
  Send(KeepAlive(lease), absl::Seconds(2));
  EXPECT_EQ(Code(One()), absl::StatusCode::kNotFound);
  Send(Set("k2", "v", lease), absl::Seconds(2));
  EXPECT_EQ(Code(One()), absl::StatusCode::kNotFound);
}

TEST_F(StoreStateTest, LeaseExpiryWakesWatcherWithDeleteEvents) {
  Send(Grant(absl::Seconds(1)));
  const int64_t lease = One().grant_lease().lease();
  Send(Set("job/b", "2", lease));
  Send(Set("job/a", "1", lease));
  Take();
  const int64_t rev = state_.revision();
  Send(Watch("job/", rev, absl::Seconds(10)));
  EXPECT_TRUE(Take().empty());
  EXPECT_EQ(state_.parked_count(), 1u);
  state_.Tick(kT0 + absl::Seconds(1));
  storepb::Response r = One();
  ASSERT_EQ(r.watch().events_size(), 2);
  EXPECT_TRUE(r.watch().events(0).is_delete());
  EXPECT_EQ(r.watch().events(0).key(), "job/a");  // deleted in key order
  EXPECT_EQ(r.watch().events(1).key(), "job/b");
  EXPECT_EQ(r.watch().revision(), rev + 2);
  EXPECT_EQ(state_.parked_count(), 0u);
}

TEST_F(StoreStateTest, ParkedWaitAnswersAtItsDeadlineNamingMissingKeys) {
  Send(Set("x", "1"));
  One();
  Send(Wait({"x", "y", "z"}, absl::Milliseconds(500)));
  EXPECT_TRUE(Take().empty());
  EXPECT_EQ(state_.NextTimer(), kT0 + absl::Milliseconds(500));
  state_.Tick(kT0 + absl::Milliseconds(499));
  EXPECT_TRUE(Take().empty());
  state_.Tick(kT0 + absl::Milliseconds(500));
  storepb::Response r = One();
  EXPECT_EQ(Code(r), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(absl::StrContains(r.message(), "'y', 'z'")) << r.message();
  EXPECT_FALSE(absl::StrContains(r.message(), "'x'")) << r.message();
  EXPECT_EQ(state_.NextTimer(), absl::InfiniteFuture());
}

TEST_F(StoreStateTest, ParkedWaitCompletesWhenLastKeyArrives) {
  Send(Wait({"a", "b"}, absl::Seconds(5)), absl::ZeroDuration(), /*conn=*/7);
  const uint64_t wait_id = next_id_ - 1;
  Send(Set("a", "1"));
  ASSERT_EQ(Take().size(), 1u);  // only the Set's reply
  Send(Set("b", "1"));
  std::vector<StoreState::Reply> replies = Take();
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[1].connection, 7u);
  EXPECT_EQ(replies[1].response.id(), wait_id);
  EXPECT_EQ(Code(replies[1].response), absl::StatusCode::kOk);
}

TEST_F(StoreStateTest, DroppedConnectionForgetsItsParkedRequests) {
  Send(Wait({"never"}, absl::Seconds(5)), absl::ZeroDuration(), 3);
  Send(Watch("p/", 0, absl::Seconds(5)), absl::ZeroDuration(), 3);
  Send(Wait({"never"}, absl::Seconds(5)), absl::ZeroDuration(), 4);
  EXPECT_EQ(state_.parked_count(), 3u);
  state_.DropConnection(3);
  EXPECT_EQ(state_.parked_count(), 1u);
  state_.Tick(kT0 + absl::Seconds(5));
  std::vector<StoreState::Reply> replies = Take();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].connection, 4u);
}

TEST_F(StoreStateTest, WatchAfterZeroSkipsEarlierChanges) {
  Send(Set("p/old", "1"));
  Send(Watch("p/", 0, absl::Seconds(5)));
  ASSERT_EQ(Take().size(), 1u);
  Send(Set("p/new", "2"));
  std::vector<StoreState::Reply> replies = Take();
  ASSERT_EQ(replies.size(), 2u);
  ASSERT_EQ(replies[1].response.watch().events_size(), 1);
  EXPECT_EQ(replies[1].response.watch().events(0).key(), "p/new");
}

TEST_F(StoreStateTest, ValueAndKeyLimitsAreInvalidArgument) {
  Send(Set("k", std::string((4 << 20) + 1, 'v')));
  EXPECT_EQ(Code(One()), absl::StatusCode::kInvalidArgument);
  Send(Set(std::string((64 << 10) + 1, 'k'), "v"));
  EXPECT_EQ(Code(One()), absl::StatusCode::kInvalidArgument);
  Send(Set("", "v"));
  EXPECT_EQ(Code(One()), absl::StatusCode::kInvalidArgument);
  Send(Set("k", std::string(4 << 20, 'v')));
  EXPECT_EQ(Code(One()), absl::StatusCode::kOk);
  Send(storepb::Request());  // no operation
  EXPECT_EQ(Code(One()), absl::StatusCode::kInvalidArgument);
  Send(Grant(absl::ZeroDuration()));
  EXPECT_EQ(Code(One()), absl::StatusCode::kInvalidArgument);
  Send(Set("k", "v", -1));
  EXPECT_EQ(Code(One()), absl::StatusCode::kInvalidArgument);
}

TEST_F(StoreStateTest, AddOverflowIsInvalidArgumentAndLeavesValue) {
  Send(Set("n", "9223372036854775807"));
  One();
  storepb::Request add;
  add.mutable_add()->set_key("n");
  add.mutable_add()->set_delta(1);
  Send(add);
  EXPECT_EQ(Code(One()), absl::StatusCode::kInvalidArgument);
  Send(Get("n"));
  EXPECT_EQ(One().get().value(), "9223372036854775807");
}

class SmallStoreStateTest : public StoreStateTest {
 protected:
  static StoreStateOptions Small() {
    StoreStateOptions o;
    o.history_events = 4;
    o.max_response_bytes = 800;
    o.max_value_bytes = 600;
    return o;
  }
  SmallStoreStateTest() : StoreStateTest(Small()) {}
};

TEST_F(SmallStoreStateTest, WatchFromCompactedRevisionIsOutOfRange) {
  for (int i = 0; i < 6; ++i) Send(Set(absl::StrCat("p/", i), "v"));
  Take();
  // History keeps revisions 3..6; after 2 is still complete, after 1 is not.
  Send(Watch("p/", 2, absl::Seconds(1)));
  storepb::Response ok = One();
  EXPECT_EQ(Code(ok), absl::StatusCode::kOk);
  EXPECT_EQ(ok.watch().events_size(), 4);
  Send(Watch("p/", 1, absl::Seconds(1)));
  storepb::Response compacted = One();
  EXPECT_EQ(Code(compacted), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(absl::StrContains(compacted.message(), "compacted")) << compacted.message();
}

TEST_F(SmallStoreStateTest, WatchReplyIsBoundedAndContinues) {
  const std::string v(400, 'v');
  Send(Set("p/a", v));
  Send(Set("p/b", v));
  Send(Set("p/c", v));
  Take();
  // after_revision 1: events 2 and 3 do not both fit in 800 bytes.
  Send(Watch("p/", 1, absl::Seconds(1)));
  std::vector<StoreState::Reply> replies = Take();
  ASSERT_EQ(replies.size(), 1u);
  const storepb::WatchResponse& first = replies[0].response.watch();
  ASSERT_EQ(first.events_size(), 1);  // only one fits
  EXPECT_EQ(first.revision(), 2);
  Send(Watch("p/", first.revision(), absl::Seconds(1)));
  storepb::Response second = One();
  ASSERT_EQ(second.watch().events_size(), 1);
  EXPECT_EQ(second.watch().events(0).key(), "p/c");
  EXPECT_EQ(second.watch().revision(), 3);
}

TEST_F(SmallStoreStateTest, ListPrefixOverReplyLimitIsResourceExhausted) {
  const std::string v(400, 'v');
  Send(Set("p/a", v));
  Send(Set("p/b", v));
  Send(Set("p/c", v));
  Take();
  storepb::Request list;
  list.mutable_list_prefix()->set_prefix("p/");
  Send(list);
  EXPECT_EQ(Code(One()), absl::StatusCode::kResourceExhausted);
  list.mutable_list_prefix()->set_prefix("p/a");
  Send(list);
  EXPECT_EQ(One().list_prefix().kvs_size(), 1);
}

}  // namespace
}  // namespace braid::elastic
