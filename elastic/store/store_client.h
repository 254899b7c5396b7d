// StoreClient: a runtime::Store that talks to a StoreServer over TCP.
//
//   StoreClientOptions options;
//   options.address = "127.0.0.1:41234";
//   options.job_token = token;
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<StoreClient> store, StoreClient::Create(options));
//   BRAID_RETURN_IF_ERROR(store->Set("addr/3", my_address, absl::Now() + absl::Seconds(5)));
//
// Connection model: one TCP connection, multiplexed. Every call gets a request
// id, sends one frame and waits for the response with that id; a reader thread
// ("store-client") receives responses in any order and hands each to its
// caller. So calls from several threads are in flight at once, and a Wait or
// Watch parked on the server never delays a Set from another thread.
//
// Deadlines: every call returns by its deadline. Wait and Watch tell the
// server to give up slightly before it (a tenth of the time left, at most
// 50 ms), so the server's kDeadlineExceeded, which names the missing keys,
// arrives in time; if no answer comes at all the client returns its own
// kDeadlineExceeded at the deadline.
//
// Failures:
//   - the connection breaks (store gone, network): calls in flight fail with
//     kUnavailable; the next call reconnects (retrying until its deadline or
//     connect_timeout, whichever is first) and re-authenticates. A failed Add
//     or CompareSet may or may not have been applied: the client never
//     resends a request.
//   - wrong token: kUnauthenticated from Create (or the reconnecting call); not
//     retried. The client also checks the server's proof, so a server that
//     does not know the token is refused the same way.
//   - a malformed reply: kDataLoss for the calls in flight; the connection is
//     dropped and the next call reconnects.
//
// Leases belong to the server, not to the connection: they survive a
// reconnect and expire only by ttl or RevokeLease.
//
// Thread-safety: thread-safe. The destructor fails calls still in flight
// (kUnavailable) and joins the reader thread; destroy it only after every
// thread has stopped calling it.
#ifndef BRAID_ELASTIC_STORE_STORE_CLIENT_H_
#define BRAID_ELASTIC_STORE_STORE_CLIENT_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "elastic/store/frame.h"
#include "elastic/store/socket_util.h"
#include "runtime/store.h"

namespace braid::elastic {

namespace storepb {
class Request;
class Response;
}  // namespace storepb

struct StoreClientOptions {
  // "host:port" of the StoreServer (StoreServer::address()).
  std::string address;
  // The job's shared secret; must equal the server's.
  std::string job_token;
  // How long Create, and a reconnect, keep retrying while the server is not
  // reachable (it may not have started yet).
  absl::Duration connect_timeout = absl::Seconds(30);
  // Largest frame payload accepted or sent; keep equal to the server's.
  size_t max_message_bytes = kDefaultMaxMessageBytes;
};

class StoreClient : public runtime::Store {
 public:
  // Connects and authenticates, retrying until options.connect_timeout.
  // kInvalidArgument for a malformed address, kUnavailable when the server
  // could not be reached in time, kUnauthenticated when the token was refused
  // (or the server could not prove it knows the token).
  static absl::StatusOr<std::unique_ptr<StoreClient>> Create(const StoreClientOptions& options);

  StoreClient(const StoreClient&) = delete;
  StoreClient& operator=(const StoreClient&) = delete;
  ~StoreClient() override;

  using runtime::Store::Set;
  absl::Status Set(absl::string_view key, absl::string_view value, runtime::LeaseId lease,
                   absl::Time deadline) override;
  absl::StatusOr<std::string> Get(absl::string_view key, absl::Time deadline) override;
  absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta, absl::Time deadline) override;
  absl::StatusOr<runtime::CompareSetResult> CompareSet(absl::string_view key,
                                                       std::optional<absl::string_view> expected,
                                                       absl::string_view desired,
                                                       absl::Time deadline) override;
  absl::StatusOr<bool> Delete(absl::string_view key, absl::Time deadline) override;
  absl::StatusOr<std::vector<runtime::KeyValue>> ListPrefix(absl::string_view prefix,
                                                            absl::Time deadline) override;
  absl::Status Wait(absl::Span<const std::string> keys, absl::Time deadline) override;
  absl::StatusOr<runtime::WatchResult> Watch(absl::string_view prefix, int64_t after_revision,
                                             absl::Time deadline) override;
  absl::StatusOr<runtime::LeaseId> GrantLease(absl::Duration ttl, absl::Time deadline) override;
  absl::Status KeepAlive(runtime::LeaseId lease, absl::Time deadline) override;
  absl::Status RevokeLease(runtime::LeaseId lease, absl::Time deadline) override;

  // The server address this client talks to.
  const std::string& address() const { return options_.address; }

 private:
  class Connection;

  StoreClient(const StoreClientOptions& options, HostPort target);

  // Sends `request` and returns the server's response, or the server's error
  // as a Status (the op name `op` prefixed).
  absl::StatusOr<storepb::Response> Call(absl::string_view op, storepb::Request& request,
                                         absl::Time deadline);
  // The live connection, connecting (and authenticating) first if needed.
  absl::StatusOr<std::shared_ptr<Connection>> GetConnection(absl::Time deadline);

  const StoreClientOptions options_;
  const HostPort target_;
  absl::Mutex mu_;
  std::shared_ptr<Connection> connection_ ABSL_GUARDED_BY(mu_);
  bool connecting_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_STORE_STORE_CLIENT_H_
