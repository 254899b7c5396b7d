#include "elastic/store/store_client.h"

#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "elastic/store/auth.h"
#include "elastic/store/proto/store.pb.h"
#include "runtime/status_macros.h"

namespace braid::elastic {
namespace {

// Longest time a Wait/Watch is parked on the server per call.
constexpr absl::Duration kMaxServerTimeout = absl::Hours(24 * 365);
constexpr absl::Duration kMaxDeadlineMargin = absl::Milliseconds(50);

absl::Status DeadlineError(absl::string_view op, absl::string_view address) {
  return absl::DeadlineExceededError(
      absl::StrCat("store ", op, " at ", address, ": no reply by the deadline"));
}

}  // namespace

// One authenticated TCP connection with its reader thread.
class StoreClient::Connection {
 public:
  // Connects, runs the handshake and starts the reader, all by `deadline`.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const StoreClientOptions& options,
                                                          const HostPort& target,
                                                          absl::Time deadline);
  ~Connection() {
    ::shutdown(fd_.get(), SHUT_RDWR);
    if (reader_.joinable()) reader_.join();
    Break(absl::UnavailableError("store client destroyed"));
  }

  // Sends one request (its id is set here) and waits for its response.
  absl::StatusOr<storepb::Response> Call(absl::string_view op, storepb::Request& request,
                                         absl::Time deadline);

  // Lock-free so that StoreClient can ask while holding its own mutex
  // (no nested locking).
  bool broken() const { return broken_flag_.load(std::memory_order_acquire); }

 private:
  struct Pending {
    bool done = false;
    absl::Status error;
    storepb::Response response;
  };

  Connection(const StoreClientOptions& options, ScopedFd fd)
      : options_(options), fd_(std::move(fd)), decoder_(options.max_message_bytes) {}
  absl::Status Handshake(absl::Time deadline);
  void ReadLoop();
  // Fails every call in flight with `why` and makes later calls fail too.
  void Break(const absl::Status& why);

  const StoreClientOptions options_;
  ScopedFd fd_;
  FrameDecoder decoder_;  // handshake, then the reader thread only
  absl::Mutex write_mu_;  // one frame at a time on the socket
  absl::Mutex mu_;
  std::map<uint64_t, Pending*> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> broken_flag_{false};  // !broken_.ok(), readable without mu_
  std::thread reader_;
};

absl::StatusOr<std::unique_ptr<StoreClient::Connection>> StoreClient::Connection::Open(
    const StoreClientOptions& options, const HostPort& target, absl::Time deadline) {
  BRAID_ASSIGN_OR_RETURN(ScopedFd fd, ConnectTcp(target, deadline));
  std::unique_ptr<Connection> conn(new Connection(options, std::move(fd)));
  BRAID_RETURN_IF_ERROR(conn->Handshake(deadline));
  Connection* raw = conn.get();
  conn->reader_ = std::thread([raw] {
    pthread_setname_np(pthread_self(), "store-client");
    raw->ReadLoop();
  });
  return conn;
}

absl::Status StoreClient::Connection::Handshake(absl::Time deadline) {
  const std::string where = options_.address;
  absl::StatusOr<std::string> payload = RecvFrame(fd_.get(), &decoder_, deadline);
  if (!payload.ok()) {
    return absl::Status(payload.status().code(), absl::StrCat("store handshake with ", where, ": ",
                                                              payload.status().message()));
  }
  storepb::ServerHello hello;
  BRAID_RETURN_IF_ERROR(ParseFrame(*payload, &hello, absl::StrCat("ServerHello from ", where)));
  if (hello.protocol_version() != kStoreProtocolVersion ||
      hello.server_nonce().size() != kAuthNonceBytes) {
    return absl::DataLossError(absl::StrCat("store at ", where, " speaks protocol version ",
                                            hello.protocol_version(), ", this client ",
                                            kStoreProtocolVersion, "; is it a braid store?"));
  }
  BRAID_ASSIGN_OR_RETURN(std::string client_nonce, MakeAuthNonce());
  storepb::ClientHello answer;
  answer.set_protocol_version(kStoreProtocolVersion);
  answer.set_client_nonce(client_nonce);
  answer.set_client_proof(ClientAuthProof(options_.job_token, hello.server_nonce(), client_nonce));
  std::string frame;
  BRAID_RETURN_IF_ERROR(AppendFrame(answer, options_.max_message_bytes, &frame));
  BRAID_RETURN_IF_ERROR(SendAll(fd_.get(), frame, deadline));
  payload = RecvFrame(fd_.get(), &decoder_, deadline);
  if (!payload.ok()) {
    return absl::Status(payload.status().code(), absl::StrCat("store handshake with ", where, ": ",
                                                              payload.status().message()));
  }
  storepb::AuthResult result;
  BRAID_RETURN_IF_ERROR(ParseFrame(*payload, &result, absl::StrCat("AuthResult from ", where)));
  if (!result.accepted()) {
    return absl::UnauthenticatedError(
        absl::StrCat("store at ", where, " refused this client: ", result.error()));
  }
  if (!AuthProofsEqual(result.server_proof(),
                       ServerAuthProof(options_.job_token, hello.server_nonce(), client_nonce))) {
    return absl::UnauthenticatedError(absl::StrCat(
        "store at ", where,
        " could not prove it knows the job token; not talking to it (wrong address or a "
        "different job's store?)"));
  }
  return absl::OkStatus();
}

void StoreClient::Connection::Break(const absl::Status& why) {
  {
    absl::MutexLock lock(&mu_);
    if (broken_.ok()) broken_ = why;
    broken_flag_.store(true, std::memory_order_release);
    for (auto& [id, pending] : pending_) {
      pending->error = broken_;
      pending->done = true;
    }
    pending_.clear();
  }
  ::shutdown(fd_.get(), SHUT_RDWR);
}

void StoreClient::Connection::ReadLoop() {
  while (true) {
    absl::StatusOr<std::string> payload = RecvFrame(fd_.get(), &decoder_, absl::InfiniteFuture());
    if (!payload.ok()) {
      const absl::StatusCode code = payload.status().code() == absl::StatusCode::kDataLoss
                                        ? absl::StatusCode::kDataLoss
                                        : absl::StatusCode::kUnavailable;
      Break(absl::Status(
          code, absl::StrCat("connection to store at ", options_.address,
                             " lost: ", payload.status().message(), "; the next call reconnects")));
      return;
    }
    storepb::Response response;
    absl::Status parsed =
        ParseFrame(*payload, &response, absl::StrCat("response from store at ", options_.address));
    if (!parsed.ok()) {
      Break(parsed);
      return;
    }
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(response.id());
    if (it == pending_.end()) continue;  // its caller gave up at its deadline
    it->second->response = std::move(response);
    it->second->done = true;
    pending_.erase(it);
  }
}

absl::StatusOr<storepb::Response> StoreClient::Connection::Call(absl::string_view op,
                                                                storepb::Request& request,
                                                                absl::Time deadline) {
  Pending pending;
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    if (!broken_.ok()) return broken_;
    id = next_id_++;
    pending_[id] = &pending;
  }
  request.set_id(id);
  std::string frame;
  absl::Status s = AppendFrame(request, options_.max_message_bytes, &frame);
  if (s.ok()) {
    {
      absl::MutexLock lock(&write_mu_);
      s = SendAll(fd_.get(), frame, deadline);
      // Part of a frame may be on the wire: the stream is unusable, and no
      // other frame may follow it (it would be read as this one's rest).
      if (!s.ok()) ::shutdown(fd_.get(), SHUT_RDWR);
    }
    if (!s.ok()) {
      Break(absl::UnavailableError(
          absl::StrCat("store ", op, " to ", options_.address, ": send failed: ", s.message())));
    }
  }
  absl::MutexLock lock(&mu_);
  if (!s.ok()) {
    pending_.erase(id);
    return s.code() == absl::StatusCode::kDeadlineExceeded ? DeadlineError(op, options_.address)
                                                           : s;
  }
  if (!mu_.AwaitWithDeadline(absl::Condition(&pending.done), deadline)) {
    pending_.erase(id);
    return DeadlineError(op, options_.address);
  }
  if (!pending.error.ok()) return pending.error;
  return std::move(pending.response);
}

// ---- StoreClient ----------------------------------------------------------------

absl::StatusOr<std::unique_ptr<StoreClient>> StoreClient::Create(
    const StoreClientOptions& options) {
  BRAID_ASSIGN_OR_RETURN(HostPort target, SplitHostPort(options.address));
  std::unique_ptr<StoreClient> client(new StoreClient(options, std::move(target)));
  BRAID_RETURN_IF_ERROR(client->GetConnection(absl::Now() + options.connect_timeout).status());
  return client;
}

StoreClient::StoreClient(const StoreClientOptions& options, HostPort target)
    : options_(options), target_(std::move(target)) {}

StoreClient::~StoreClient() {
  std::shared_ptr<Connection> conn;
  {
    absl::MutexLock lock(&mu_);
    conn = std::move(connection_);
  }
  conn.reset();
}

absl::StatusOr<std::shared_ptr<StoreClient::Connection>> StoreClient::GetConnection(
    absl::Time deadline) {
  // A broken connection is released after mu_ is unlocked: its destructor
  // joins the reader thread and takes the connection's own mutex.
  std::shared_ptr<Connection> stale;
  {
    absl::MutexLock lock(&mu_);
    while (true) {
      if (connection_ != nullptr && !connection_->broken()) return connection_;
      if (!connecting_) break;
      // Another thread is connecting; wait for it, bounded by our deadline.
      auto not_connecting = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !connecting_; };
      if (!mu_.AwaitWithDeadline(absl::Condition(&not_connecting), deadline)) {
        return absl::DeadlineExceededError(
            absl::StrCat("store at ", options_.address, ": still reconnecting at the deadline"));
      }
    }
    connecting_ = true;
    stale = std::move(connection_);
  }
  stale.reset();
  // Retry with backoff while the server is unreachable (not yet started, or
  // restarting); an auth failure is final.
  const absl::Time until = std::min(deadline, absl::Now() + options_.connect_timeout);
  absl::Duration backoff = absl::Milliseconds(10);
  absl::StatusOr<std::unique_ptr<Connection>> conn;
  while (true) {
    conn = Connection::Open(options_, target_, until);
    if (conn.ok() || conn.status().code() != absl::StatusCode::kUnavailable) break;
    const absl::Time now = absl::Now();
    if (now + backoff >= until) break;
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Milliseconds(500));
  }
  absl::MutexLock lock(&mu_);
  connecting_ = false;
  if (!conn.ok()) {
    if (conn.status().code() == absl::StatusCode::kUnavailable ||
        conn.status().code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::UnavailableError(absl::StrCat("cannot reach the store at ", options_.address,
                                                 ": ", conn.status().message()));
    }
    return conn.status();
  }
  connection_ = std::shared_ptr<Connection>(*std::move(conn));
  return connection_;
}

absl::StatusOr<storepb::Response> StoreClient::Call(absl::string_view op, storepb::Request& request,
                                                    absl::Time deadline) {
  if (absl::Now() >= deadline) return DeadlineError(op, options_.address);
  BRAID_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, GetConnection(deadline));
  BRAID_ASSIGN_OR_RETURN(storepb::Response response, conn->Call(op, request, deadline));
  if (response.code() != 0) {
    const int code = response.code();
    const bool known = code > 0 && code <= static_cast<int>(absl::StatusCode::kUnauthenticated);
    return absl::Status(known ? static_cast<absl::StatusCode>(code) : absl::StatusCode::kInternal,
                        absl::StrCat("store ", op, ": ", response.message()));
  }
  return response;
}

// ---- Operations -------------------------------------------------------------------

absl::Status StoreClient::Set(absl::string_view key, absl::string_view value,
                              runtime::LeaseId lease, absl::Time deadline) {
  storepb::Request req;
  storepb::SetRequest* op = req.mutable_set();
  op->set_key(std::string(key));
  op->set_value(std::string(value));
  op->set_lease(lease);
  return Call("Set", req, deadline).status();
}

absl::StatusOr<std::string> StoreClient::Get(absl::string_view key, absl::Time deadline) {
  storepb::Request req;
  req.mutable_get()->set_key(std::string(key));
  BRAID_ASSIGN_OR_RETURN(storepb::Response r, Call("Get", req, deadline));
  return std::move(*r.mutable_get()->mutable_value());
}

absl::StatusOr<int64_t> StoreClient::Add(absl::string_view key, int64_t delta,
                                         absl::Time deadline) {
  storepb::Request req;
  req.mutable_add()->set_key(std::string(key));
  req.mutable_add()->set_delta(delta);
  BRAID_ASSIGN_OR_RETURN(storepb::Response r, Call("Add", req, deadline));
  return r.add().value();
}

absl::StatusOr<runtime::CompareSetResult> StoreClient::CompareSet(
    absl::string_view key, std::optional<absl::string_view> expected, absl::string_view desired,
    absl::Time deadline) {
  storepb::Request req;
  storepb::CompareSetRequest* op = req.mutable_compare_set();
  op->set_key(std::string(key));
  op->set_expect_absent(!expected.has_value());
  if (expected.has_value()) op->set_expected(std::string(*expected));
  op->set_desired(std::string(desired));
  BRAID_ASSIGN_OR_RETURN(storepb::Response r, Call("CompareSet", req, deadline));
  runtime::CompareSetResult out;
  out.swapped = r.compare_set().swapped();
  if (r.compare_set().present()) out.current = r.compare_set().current();
  return out;
}

absl::StatusOr<bool> StoreClient::Delete(absl::string_view key, absl::Time deadline) {
  storepb::Request req;
  req.mutable_delete_key()->set_key(std::string(key));
  BRAID_ASSIGN_OR_RETURN(storepb::Response r, Call("Delete", req, deadline));
  return r.delete_key().existed();
}

absl::StatusOr<std::vector<runtime::KeyValue>> StoreClient::ListPrefix(absl::string_view prefix,
                                                                       absl::Time deadline) {
  storepb::Request req;
  req.mutable_list_prefix()->set_prefix(std::string(prefix));
  BRAID_ASSIGN_OR_RETURN(storepb::Response r, Call("ListPrefix", req, deadline));
  std::vector<runtime::KeyValue> out;
  out.reserve(r.list_prefix().kvs_size());
  for (storepb::KeyValue& kv : *r.mutable_list_prefix()->mutable_kvs()) {
    out.push_back(runtime::KeyValue{std::move(*kv.mutable_key()), std::move(*kv.mutable_value()),
                                    kv.mod_revision()});
  }
  return out;
}

namespace {

// The server-side timeout for a parked call: a little before the caller's
// deadline so that the server's own answer arrives in time.
int64_t ServerTimeoutUs(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  const absl::Duration margin = std::min(kMaxDeadlineMargin, left / 10);
  return absl::ToInt64Microseconds(std::min(left - margin, kMaxServerTimeout));
}

}  // namespace

absl::Status StoreClient::Wait(absl::Span<const std::string> keys, absl::Time deadline) {
  storepb::Request req;
  for (const std::string& key : keys) req.mutable_wait()->add_keys(key);
  req.mutable_wait();
  req.set_timeout_us(ServerTimeoutUs(deadline));
  return Call("Wait", req, deadline).status();
}

absl::StatusOr<runtime::WatchResult> StoreClient::Watch(absl::string_view prefix,
                                                        int64_t after_revision,
                                                        absl::Time deadline) {
  storepb::Request req;
  req.mutable_watch()->set_prefix(std::string(prefix));
  req.mutable_watch()->set_after_revision(after_revision);
  req.set_timeout_us(ServerTimeoutUs(deadline));
  BRAID_ASSIGN_OR_RETURN(storepb::Response r, Call("Watch", req, deadline));
  runtime::WatchResult out;
  out.revision = r.watch().revision();
  out.events.reserve(r.watch().events_size());
  for (storepb::WatchEventProto& e : *r.mutable_watch()->mutable_events()) {
    runtime::WatchEvent ev;
    ev.type = e.is_delete() ? runtime::WatchEventType::kDelete : runtime::WatchEventType::kPut;
    ev.key = std::move(*e.mutable_key());
    ev.value = std::move(*e.mutable_value());
    ev.revision = e.revision();
    out.events.push_back(std::move(ev));
  }
  return out;
}

absl::StatusOr<runtime::LeaseId> StoreClient::GrantLease(absl::Duration ttl, absl::Time deadline) {
  storepb::Request req;
  // Round up so that a sub-millisecond ttl is not 0.
  req.mutable_grant_lease()->set_ttl_ms(absl::ToInt64Milliseconds(ttl + absl::Microseconds(999)));
  if (ttl <= absl::ZeroDuration()) req.mutable_grant_lease()->set_ttl_ms(0);
  BRAID_ASSIGN_OR_RETURN(storepb::Response r, Call("GrantLease", req, deadline));
  return r.grant_lease().lease();
}

absl::Status StoreClient::KeepAlive(runtime::LeaseId lease, absl::Time deadline) {
  storepb::Request req;
  req.mutable_keep_alive()->set_lease(lease);
  return Call("KeepAlive", req, deadline).status();
}

absl::Status StoreClient::RevokeLease(runtime::LeaseId lease, absl::Time deadline) {
  storepb::Request req;
  req.mutable_revoke_lease()->set_lease(lease);
  return Call("RevokeLease", req, deadline).status();
}

}  // namespace braid::elastic
