// StoreState: the embedded store's data and semantics, without any I/O.
//
// StoreServer feeds it decoded requests and sends back the replies it
// produces; tests and the fuzzer drive it directly with a chosen clock. It
// holds:
//   - the keys, each with its value, mod_revision and optional lease;
//   - a global revision counter: every change (put or delete of one key) gets
//     the next revision, so revision r is exactly one event;
//   - a bounded history of the latest events, for Watch. A Watch that asks for
//     changes after a revision older than the history gets kOutOfRange
//     ("compacted"): re-list with ListPrefix and watch from there;
//   - leases, each expiring `ttl` after its grant or last KeepAlive, deleting
//     its keys (one delete event each);
//   - parked Wait and Watch requests, answered when a change satisfies them or
//     at their deadline (kDeadlineExceeded).
//
// Replies are not returned from Handle(): a request may be answered now, later
// (parked), or complete someone else's parked request. Every call appends the
// replies it produced to an outbox that the caller drains with TakeReplies().
//
// Thread-safety: not thread-safe. The server uses it from its one event-loop
// thread only.
//
// Failure behaviour: never crashes on any request content; bad requests get a
// reply with kInvalidArgument (or kNotFound / kOutOfRange /
// kResourceExhausted, see docs/store_protocol.md).
#ifndef BRAID_ELASTIC_STORE_STORE_STATE_H_
#define BRAID_ELASTIC_STORE_STORE_STATE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "elastic/store/proto/store.pb.h"

namespace braid::elastic {

struct StoreStateOptions {
  // Longest key accepted.
  size_t max_key_bytes = 64 << 10;
  // Largest value accepted (runtime/store.h promises 4 MiB).
  size_t max_value_bytes = 4 << 20;
  // Upper bound on one reply's payload; a ListPrefix over it fails with
  // kResourceExhausted, a Watch returns fewer events (continue from its
  // revision). Must leave room for one max key + max value.
  size_t max_response_bytes = (8 << 20) - 4096;
  // How many recent events Watch can replay, and their total bytes.
  size_t history_events = 10000;
  size_t history_bytes = 64 << 20;
  // Longest lease ttl granted.
  absl::Duration max_lease_ttl = absl::Hours(24 * 7);
};

class StoreState {
 public:
  // One answer for the request `response.id()` of connection `connection`.
  struct Reply {
    uint64_t connection = 0;
    storepb::Response response;
  };

  explicit StoreState(const StoreStateOptions& options);
  StoreState(const StoreState&) = delete;
  StoreState& operator=(const StoreState&) = delete;

  // Handles `request` from `connection`, received at `now`. Wait and Watch
  // may park until a change or now + request.timeout_us().
  void Handle(uint64_t connection, const storepb::Request& request, absl::Time now);

  // Expires leases whose time is <= now (deleting their keys) and answers
  // parked requests whose deadline is <= now.
  void Tick(absl::Time now);

  // The earliest time at which Tick() has work; InfiniteFuture when none.
  absl::Time NextTimer() const;

  // Forgets the parked requests of a closed connection (no replies).
  void DropConnection(uint64_t connection);

  // The replies produced since the last call, in order.
  std::vector<Reply> TakeReplies();

  int64_t revision() const { return revision_; }
  size_t key_count() const { return kv_.size(); }
  size_t parked_count() const { return parked_.size(); }
  size_t lease_count() const { return leases_.size(); }

 private:
  struct Entry {
    std::string value;
    int64_t mod_revision = 0;
    int64_t lease = 0;
  };
  struct Event {
    bool is_delete = false;
    std::string key;
    std::string value;
    int64_t revision = 0;
  };
  struct Lease {
    absl::Duration ttl;
    absl::Time expiry;
    absl::flat_hash_set<std::string> keys;
  };
  enum class ParkedKind { kWait, kWatch };
  struct Parked {
    ParkedKind kind = ParkedKind::kWait;
    uint64_t connection = 0;
    uint64_t request_id = 0;
    absl::Time deadline;
    std::vector<std::string> keys;  // kWait
    std::string prefix;             // kWatch
    int64_t after_revision = 0;     // kWatch: report events after this
    int64_t checked_revision = 0;   // kWatch: events up to here had no match
  };

  // Operations; each either replies now or parks.
  void DoSet(uint64_t conn, const storepb::Request& req);
  void DoGet(uint64_t conn, const storepb::Request& req);
  void DoAdd(uint64_t conn, const storepb::Request& req);
  void DoCompareSet(uint64_t conn, const storepb::Request& req);
  void DoDelete(uint64_t conn, const storepb::Request& req);
  void DoListPrefix(uint64_t conn, const storepb::Request& req);
  void DoWait(uint64_t conn, const storepb::Request& req, absl::Time now);
  void DoWatch(uint64_t conn, const storepb::Request& req, absl::Time now);
  void DoGrantLease(uint64_t conn, const storepb::Request& req, absl::Time now);
  void DoKeepAlive(uint64_t conn, const storepb::Request& req, absl::Time now);
  void DoRevokeLease(uint64_t conn, const storepb::Request& req);

  // Mutations: each takes the next revision and records one event.
  void Put(const std::string& key, std::string value, int64_t lease);
  // Returns whether the key existed.
  bool Remove(const std::string& key);
  void RecordEvent(Event event);
  void ExpireLease(int64_t lease);

  // Answers every parked request that the latest changes satisfy.
  void WakeParked();
  // Fills `out` with the events under `prefix` after `after` (bounded by
  // max_response_bytes). Returns false when that history was compacted.
  bool CollectEvents(const std::string& prefix, int64_t after, storepb::WatchResponse* out) const;
  std::string MissingKeys(const std::vector<std::string>& keys, size_t* missing) const;

  absl::Status CheckKey(absl::string_view key, absl::string_view op) const;
  absl::Status CheckValue(absl::string_view value, absl::string_view key) const;
  storepb::Response NewResponse(uint64_t request_id) const;
  void ReplyOk(uint64_t conn, storepb::Response response);
  void ReplyError(uint64_t conn, uint64_t request_id, const absl::Status& status);
  void Unpark(uint64_t parked_id);

  const StoreStateOptions options_;
  std::map<std::string, Entry> kv_;
  int64_t revision_ = 0;
  std::deque<Event> history_;  // revisions compacted_revision_+1 .. revision_
  size_t history_bytes_ = 0;
  int64_t compacted_revision_ = 0;
  std::map<int64_t, Lease> leases_;
  std::set<std::pair<absl::Time, int64_t>> lease_expiry_;
  int64_t next_lease_id_ = 1;
  std::map<uint64_t, Parked> parked_;
  std::set<std::pair<absl::Time, uint64_t>> parked_deadlines_;
  uint64_t next_parked_id_ = 1;
  bool changed_ = false;  // a mutation since the last WakeParked()
  std::vector<Reply> outbox_;
};

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_STORE_STORE_STATE_H_
