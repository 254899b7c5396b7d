#include "elastic/store/store_state.h"

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace braid::elastic {
namespace {

// Bytes an entry or event adds to a reply (payload + protobuf overhead).
size_t WireBytes(const std::string& key, const std::string& value) {
  return key.size() + value.size() + 32;
}

// At most this many keys are named in a Wait timeout message.
constexpr size_t kMaxNamedKeys = 16;

absl::Time DeadlineAfter(absl::Time now, int64_t timeout_us) {
  if (timeout_us <= 0) return now;
  return now + absl::Microseconds(timeout_us);
}

}  // namespace

StoreState::StoreState(const StoreStateOptions& options) : options_(options) {}

storepb::Response StoreState::NewResponse(uint64_t request_id) const {
  storepb::Response r;
  r.set_id(request_id);
  r.set_revision(revision_);
  return r;
}

void StoreState::ReplyOk(uint64_t conn, storepb::Response response) {
  response.set_revision(revision_);
  outbox_.push_back(Reply{conn, std::move(response)});
}

void StoreState::ReplyError(uint64_t conn, uint64_t request_id, const absl::Status& status) {
  storepb::Response r = NewResponse(request_id);
  r.set_code(static_cast<int32_t>(status.code()));
  r.set_message(std::string(status.message()));
  outbox_.push_back(Reply{conn, std::move(r)});
}

std::vector<StoreState::Reply> StoreState::TakeReplies() {
  std::vector<Reply> out;
  out.swap(outbox_);
  return out;
}

absl::Status StoreState::CheckKey(absl::string_view key, absl::string_view op) const {
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": the key is empty; pass a non-empty key"));
  }
  if (key.size() > options_.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": key of ", key.size(),
                                                   " bytes exceeds the limit of ",
                                                   options_.max_key_bytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status StoreState::CheckValue(absl::string_view value, absl::string_view key) const {
  if (value.size() > options_.max_value_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "value of ", value.size(), " bytes for key '", key, "' exceeds the store's limit of ",
        options_.max_value_bytes, " bytes; the store is for control data, not bulk data"));
  }
  return absl::OkStatus();
}

void StoreState::Handle(uint64_t connection, const storepb::Request& request, absl::Time now) {
  switch (request.op_case()) {
    case storepb::Request::kSet:
      DoSet(connection, request);
      break;
    case storepb::Request::kGet:
      DoGet(connection, request);
      break;
    case storepb::Request::kAdd:
      DoAdd(connection, request);
      break;
    case storepb::Request::kCompareSet:
      DoCompareSet(connection, request);
      break;
    case storepb::Request::kDeleteKey:
      DoDelete(connection, request);
      break;
    case storepb::Request::kListPrefix:
      DoListPrefix(connection, request);
      break;
    case storepb::Request::kWait:
      DoWait(connection, request, now);
      break;
    case storepb::Request::kWatch:
      DoWatch(connection, request, now);
      break;
    case storepb::Request::kGrantLease:
      DoGrantLease(connection, request, now);
      break;
    case storepb::Request::kKeepAlive:
      DoKeepAlive(connection, request, now);
      break;
    case storepb::Request::kRevokeLease:
      DoRevokeLease(connection, request);
      break;
    case storepb::Request::OP_NOT_SET:
      ReplyError(connection, request.id(),
                 absl::InvalidArgumentError(
                     "store request has no operation (client newer than the store?)"));
      break;
  }
  WakeParked();
}

// ---- Mutations ------------------------------------------------------------------

void StoreState::RecordEvent(Event event) {
  history_bytes_ += WireBytes(event.key, event.value);
  history_.push_back(std::move(event));
  while (!history_.empty() &&
         (history_.size() > options_.history_events || history_bytes_ > options_.history_bytes)) {
    history_bytes_ -= WireBytes(history_.front().key, history_.front().value);
    compacted_revision_ = history_.front().revision;
    history_.pop_front();
  }
  changed_ = true;
}

void StoreState::Put(const std::string& key, std::string value, int64_t lease) {
  Entry& entry = kv_[key];
  if (entry.lease != 0 && entry.lease != lease) {
    auto it = leases_.find(entry.lease);
    if (it != leases_.end()) it->second.keys.erase(key);
  }
  if (lease != 0) leases_[lease].keys.insert(key);
  entry.lease = lease;
  entry.mod_revision = ++revision_;
  entry.value = std::move(value);
  RecordEvent(Event{false, key, entry.value, revision_});
}

bool StoreState::Remove(const std::string& key) {
  auto it = kv_.find(key);
  if (it == kv_.end()) return false;
  if (it->second.lease != 0) {
    auto lease = leases_.find(it->second.lease);
    if (lease != leases_.end()) lease->second.keys.erase(key);
  }
  kv_.erase(it);
  RecordEvent(Event{true, key, std::string(), ++revision_});
  return true;
}

void StoreState::ExpireLease(int64_t lease) {
  auto it = leases_.find(lease);
  if (it == leases_.end()) return;
  lease_expiry_.erase({it->second.expiry, lease});
  // Sorted so that the delete events come in a deterministic order.
  std::vector<std::string> keys(it->second.keys.begin(), it->second.keys.end());
  std::sort(keys.begin(), keys.end());
  leases_.erase(it);
  for (const std::string& key : keys) {
    auto kv = kv_.find(key);
    if (kv == kv_.end()) continue;
    kv->second.lease = 0;  // The lease is gone; Remove must not look it up.
    Remove(key);
  }
}

// ---- Operations -----------------------------------------------------------------

void StoreState::DoSet(uint64_t conn, const storepb::Request& req) {
  const storepb::SetRequest& op = req.set();
  if (absl::Status s = CheckKey(op.key(), "Set"); !s.ok()) return ReplyError(conn, req.id(), s);
  if (absl::Status s = CheckValue(op.value(), op.key()); !s.ok()) {
    return ReplyError(conn, req.id(), s);
  }
  if (op.lease() < 0) {
    return ReplyError(conn, req.id(),
                      absl::InvalidArgumentError(absl::StrCat("Set of '", op.key(), "': lease id ",
                                                              op.lease(), " is negative")));
  }
  if (op.lease() != 0 && leases_.find(op.lease()) == leases_.end()) {
    return ReplyError(
        conn, req.id(),
        absl::NotFoundError(absl::StrCat("Set of '", op.key(), "': lease ", op.lease(),
                                         " not found (expired or revoked); grant "
                                         "a new lease")));
  }
  Put(op.key(), op.value(), op.lease());
  ReplyOk(conn, NewResponse(req.id()));
}

void StoreState::DoGet(uint64_t conn, const storepb::Request& req) {
  const std::string& key = req.get().key();
  if (absl::Status s = CheckKey(key, "Get"); !s.ok()) return ReplyError(conn, req.id(), s);
  auto it = kv_.find(key);
  if (it == kv_.end()) {
    return ReplyError(conn, req.id(),
                      absl::NotFoundError(absl::StrCat("Get: key '", key, "' not found")));
  }
  storepb::Response r = NewResponse(req.id());
  r.mutable_get()->set_value(it->second.value);
  r.mutable_get()->set_mod_revision(it->second.mod_revision);
  ReplyOk(conn, std::move(r));
}

void StoreState::DoAdd(uint64_t conn, const storepb::Request& req) {
  const storepb::AddRequest& op = req.add();
  if (absl::Status s = CheckKey(op.key(), "Add"); !s.ok()) return ReplyError(conn, req.id(), s);
  int64_t current = 0;
  auto it = kv_.find(op.key());
  if (it != kv_.end() && !absl::SimpleAtoi(it->second.value, &current)) {
    return ReplyError(conn, req.id(),
                      absl::InvalidArgumentError(absl::StrCat(
                          "Add to '", op.key(), "': stored value is not a decimal integer")));
  }
  int64_t sum = 0;
  if (__builtin_add_overflow(current, op.delta(), &sum)) {
    return ReplyError(
        conn, req.id(),
        absl::InvalidArgumentError(absl::StrCat("Add to '", op.key(), "': ", current, " + ",
                                                op.delta(), " overflows int64")));
  }
  Put(op.key(), absl::StrCat(sum), 0);
  storepb::Response r = NewResponse(req.id());
  r.mutable_add()->set_value(sum);
  ReplyOk(conn, std::move(r));
}

void StoreState::DoCompareSet(uint64_t conn, const storepb::Request& req) {
  const storepb::CompareSetRequest& op = req.compare_set();
  if (absl::Status s = CheckKey(op.key(), "CompareSet"); !s.ok()) {
    return ReplyError(conn, req.id(), s);
  }
  if (absl::Status s = CheckValue(op.desired(), op.key()); !s.ok()) {
    return ReplyError(conn, req.id(), s);
  }
  auto it = kv_.find(op.key());
  const bool match =
      op.expect_absent() ? it == kv_.end() : (it != kv_.end() && it->second.value == op.expected());
  storepb::Response r = NewResponse(req.id());
  storepb::CompareSetResponse* out = r.mutable_compare_set();
  if (match) {
    Put(op.key(), op.desired(), 0);
    out->set_swapped(true);
    out->set_present(true);
    out->set_current(op.desired());
  } else {
    out->set_swapped(false);
    out->set_present(it != kv_.end());
    if (it != kv_.end()) out->set_current(it->second.value);
  }
  ReplyOk(conn, std::move(r));
}

void StoreState::DoDelete(uint64_t conn, const storepb::Request& req) {
  const std::string& key = req.delete_key().key();
  if (absl::Status s = CheckKey(key, "Delete"); !s.ok()) return ReplyError(conn, req.id(), s);
  storepb::Response r = NewResponse(req.id());
  r.mutable_delete_key()->set_existed(Remove(key));
  ReplyOk(conn, std::move(r));
}

void StoreState::DoListPrefix(uint64_t conn, const storepb::Request& req) {
  const std::string& prefix = req.list_prefix().prefix();
  storepb::Response r = NewResponse(req.id());
  size_t bytes = 0;
  for (auto it = kv_.lower_bound(prefix); it != kv_.end() && it->first.starts_with(prefix); ++it) {
    bytes += WireBytes(it->first, it->second.value);
    if (bytes > options_.max_response_bytes) {
      return ReplyError(conn, req.id(),
                        absl::ResourceExhaustedError(absl::StrCat(
                            "ListPrefix('", prefix, "'): the result exceeds the reply limit of ",
                            options_.max_response_bytes, " bytes; list a narrower prefix")));
    }
    storepb::KeyValue* kv = r.mutable_list_prefix()->add_kvs();
    kv->set_key(it->first);
    kv->set_value(it->second.value);
    kv->set_mod_revision(it->second.mod_revision);
  }
  r.mutable_list_prefix();  // Present even when empty.
  ReplyOk(conn, std::move(r));
}

std::string StoreState::MissingKeys(const std::vector<std::string>& keys, size_t* missing) const {
  std::vector<absl::string_view> names;
  *missing = 0;
  for (const std::string& key : keys) {
    if (kv_.find(key) != kv_.end()) continue;
    ++*missing;
    if (names.size() < kMaxNamedKeys) names.push_back(key);
  }
  std::string out = absl::StrCat("'", absl::StrJoin(names, "', '"), "'");
  if (*missing > names.size()) absl::StrAppend(&out, " and ", *missing - names.size(), " more");
  return out;
}

void StoreState::DoWait(uint64_t conn, const storepb::Request& req, absl::Time now) {
  Parked p;
  p.kind = ParkedKind::kWait;
  p.connection = conn;
  p.request_id = req.id();
  p.deadline = DeadlineAfter(now, req.timeout_us());
  for (const std::string& key : req.wait().keys()) {
    if (absl::Status s = CheckKey(key, "Wait"); !s.ok()) return ReplyError(conn, req.id(), s);
    p.keys.push_back(key);
  }
  size_t missing = 0;
  MissingKeys(p.keys, &missing);
  if (missing == 0) return ReplyOk(conn, NewResponse(req.id()));
  if (p.deadline <= now) {
    const std::string names = MissingKeys(p.keys, &missing);
    return ReplyError(
        conn, req.id(),
        absl::DeadlineExceededError(absl::StrCat("Wait: deadline exceeded; ", missing, " of ",
                                                 p.keys.size(), " keys still missing: ", names)));
  }
  const uint64_t id = next_parked_id_++;
  parked_deadlines_.insert({p.deadline, id});
  parked_.emplace(id, std::move(p));
}

bool StoreState::CollectEvents(const std::string& prefix, int64_t after,
                               storepb::WatchResponse* out) const {
  if (after < compacted_revision_) return false;
  size_t bytes = 0;
  // history_[i] has revision compacted_revision_ + 1 + i.
  for (size_t i = static_cast<size_t>(after - compacted_revision_); i < history_.size(); ++i) {
    const Event& e = history_[i];
    if (!e.key.starts_with(prefix)) continue;
    bytes += WireBytes(e.key, e.value);
    if (bytes > options_.max_response_bytes && out->events_size() > 0) {
      // Truncated: the caller continues after the last event returned.
      out->set_revision(out->events(out->events_size() - 1).revision());
      return true;
    }
    storepb::WatchEventProto* ev = out->add_events();
    ev->set_is_delete(e.is_delete);
    ev->set_key(e.key);
    ev->set_value(e.value);
    ev->set_revision(e.revision);
  }
  out->set_revision(revision_);
  return true;
}

void StoreState::DoWatch(uint64_t conn, const storepb::Request& req, absl::Time now) {
  const storepb::WatchRequest& op = req.watch();
  if (op.after_revision() < 0) {
    return ReplyError(conn, req.id(),
                      absl::InvalidArgumentError(absl::StrCat(
                          "Watch: after_revision ", op.after_revision(), " is negative")));
  }
  Parked p;
  p.kind = ParkedKind::kWatch;
  p.connection = conn;
  p.request_id = req.id();
  p.deadline = DeadlineAfter(now, req.timeout_us());
  p.prefix = op.prefix();
  p.after_revision = op.after_revision() == 0 ? revision_ : op.after_revision();
  p.checked_revision = p.after_revision;
  if (p.after_revision < revision_) {
    storepb::Response r = NewResponse(req.id());
    if (!CollectEvents(p.prefix, p.after_revision, r.mutable_watch())) {
      return ReplyError(conn, req.id(),
                        absl::OutOfRangeError(absl::StrCat(
                            "Watch('", p.prefix, "') after revision ", p.after_revision,
                            ": revisions up to ", compacted_revision_,
                            " were compacted (the store keeps the last ", options_.history_events,
                            " events); re-list with ListPrefix and watch from its revision")));
    }
    if (r.watch().events_size() > 0) return ReplyOk(conn, std::move(r));
    p.checked_revision = revision_;
  }
  if (p.deadline <= now) {
    return ReplyError(conn, req.id(),
                      absl::DeadlineExceededError(
                          absl::StrCat("Watch('", p.prefix, "') after revision ", p.after_revision,
                                       ": deadline exceeded with no change")));
  }
  const uint64_t id = next_parked_id_++;
  parked_deadlines_.insert({p.deadline, id});
  parked_.emplace(id, std::move(p));
}

void StoreState::DoGrantLease(uint64_t conn, const storepb::Request& req, absl::Time now) {
  const int64_t ttl_ms = req.grant_lease().ttl_ms();
  if (ttl_ms <= 0 || absl::Milliseconds(ttl_ms) > options_.max_lease_ttl) {
    return ReplyError(conn, req.id(),
                      absl::InvalidArgumentError(
                          absl::StrCat("GrantLease: ttl of ", ttl_ms, " ms is outside (0, ",
                                       absl::FormatDuration(options_.max_lease_ttl), "]")));
  }
  const int64_t id = next_lease_id_++;
  Lease& lease = leases_[id];
  lease.ttl = absl::Milliseconds(ttl_ms);
  lease.expiry = now + lease.ttl;
  lease_expiry_.insert({lease.expiry, id});
  storepb::Response r = NewResponse(req.id());
  r.mutable_grant_lease()->set_lease(id);
  ReplyOk(conn, std::move(r));
}

void StoreState::DoKeepAlive(uint64_t conn, const storepb::Request& req, absl::Time now) {
  const int64_t id = req.keep_alive().lease();
  auto it = leases_.find(id);
  if (it == leases_.end()) {
    return ReplyError(conn, req.id(),
                      absl::NotFoundError(absl::StrCat("KeepAlive: lease ", id,
                                                       " not found (expired or revoked); its "
                                                       "keys are gone, grant a new lease")));
  }
  lease_expiry_.erase({it->second.expiry, id});
  it->second.expiry = now + it->second.ttl;
  lease_expiry_.insert({it->second.expiry, id});
  ReplyOk(conn, NewResponse(req.id()));
}

void StoreState::DoRevokeLease(uint64_t conn, const storepb::Request& req) {
  const int64_t id = req.revoke_lease().lease();
  if (leases_.find(id) == leases_.end()) {
    return ReplyError(conn, req.id(),
                      absl::NotFoundError(absl::StrCat("RevokeLease: lease ", id,
                                                       " not found (expired or revoked)")));
  }
  ExpireLease(id);
  ReplyOk(conn, NewResponse(req.id()));
}

// ---- Timers and parked requests ---------------------------------------------------

void StoreState::Unpark(uint64_t parked_id) {
  auto it = parked_.find(parked_id);
  if (it == parked_.end()) return;
  parked_deadlines_.erase({it->second.deadline, parked_id});
  parked_.erase(it);
}

void StoreState::WakeParked() {
  if (!changed_) return;
  changed_ = false;
  std::vector<uint64_t> done;
  for (auto& [id, p] : parked_) {
    if (p.kind == ParkedKind::kWait) {
      size_t missing = 0;
      MissingKeys(p.keys, &missing);
      if (missing == 0) {
        ReplyOk(p.connection, NewResponse(p.request_id));
        done.push_back(id);
      }
      continue;
    }
    storepb::Response r = NewResponse(p.request_id);
    if (!CollectEvents(p.prefix, p.checked_revision, r.mutable_watch())) {
      ReplyError(p.connection, p.request_id,
                 absl::OutOfRangeError(absl::StrCat(
                     "Watch('", p.prefix, "') after revision ", p.after_revision,
                     ": more changes than the history holds happened at once; re-list with "
                     "ListPrefix and watch from its revision")));
      done.push_back(id);
      continue;
    }
    if (r.watch().events_size() > 0) {
      ReplyOk(p.connection, std::move(r));
      done.push_back(id);
    } else {
      p.checked_revision = revision_;
    }
  }
  for (uint64_t id : done) Unpark(id);
}

void StoreState::Tick(absl::Time now) {
  while (!lease_expiry_.empty() && lease_expiry_.begin()->first <= now) {
    ExpireLease(lease_expiry_.begin()->second);
  }
  WakeParked();
  while (!parked_deadlines_.empty() && parked_deadlines_.begin()->first <= now) {
    const uint64_t id = parked_deadlines_.begin()->second;
    const Parked& p = parked_.at(id);
    if (p.kind == ParkedKind::kWait) {
      size_t missing = 0;
      const std::string names = MissingKeys(p.keys, &missing);
      ReplyError(
          p.connection, p.request_id,
          absl::DeadlineExceededError(absl::StrCat("Wait: deadline exceeded; ", missing, " of ",
                                                   p.keys.size(), " keys still missing: ", names)));
    } else {
      ReplyError(p.connection, p.request_id,
                 absl::DeadlineExceededError(absl::StrCat("Watch('", p.prefix, "') after revision ",
                                                          p.after_revision,
                                                          ": deadline exceeded with no change")));
    }
    Unpark(id);
  }
}

absl::Time StoreState::NextTimer() const {
  absl::Time next = absl::InfiniteFuture();
  if (!lease_expiry_.empty()) next = std::min(next, lease_expiry_.begin()->first);
  if (!parked_deadlines_.empty()) next = std::min(next, parked_deadlines_.begin()->first);
  return next;
}

void StoreState::DropConnection(uint64_t connection) {
  std::vector<uint64_t> gone;
  for (const auto& [id, p] : parked_) {
    if (p.connection == connection) gone.push_back(id);
  }
  for (uint64_t id : gone) Unpark(id);
}

}  // namespace braid::elastic
