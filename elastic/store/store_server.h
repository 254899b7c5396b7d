// StoreServer: braid's embedded key/value store, served over TCP.
//
// The launcher (braidrun), or rank 0 under plain mpirun, hosts one in-process;
// every rank connects with a StoreClient. Wire protocol, auth handshake and
// semantics: docs/store_protocol.md.
//
//   StoreServerOptions options;
//   options.job_token = token;                       // shared with the ranks
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<StoreServer> server,
//                          StoreServer::Create(options));
//   Publish(server->address());                      // "127.0.0.1:41234"
//   ...
//   server->Shutdown();                              // or let it go out of scope
//
// Design: one named thread ("braid-store") runs an epoll event loop over the
// listening socket, every connection and an eventfd for Shutdown. The work per
// request is tiny (a map lookup or update) and the data is in memory, so one
// thread serves many clients without locks around the data; a Wait or Watch
// parks in StoreState, not in a thread, so thousands may be outstanding. The
// loop wakes for I/O, for the next lease expiry and for the next parked
// deadline.
//
// Security: binds 127.0.0.1 unless `host` says otherwise. Each connection must
// first pass a mutual HMAC-SHA256 challenge-response over the job token (the
// token never crosses the wire). A refused client gets an AuthResult with the
// reason and is disconnected; the refusal is logged.
//
// Failure behaviour: a client that sends a malformed or oversized frame, stalls
// in the handshake, stops reading its replies, or dies mid-frame loses only its
// own connection (logged); the server and its other clients carry on. Nothing a
// peer sends can crash the server.
//
// Thread-safety: all methods are thread-safe. Shutdown() and the destructor
// join the loop thread; they must not be called from a log sink.
#ifndef BRAID_ELASTIC_STORE_STORE_SERVER_H_
#define BRAID_ELASTIC_STORE_STORE_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "elastic/store/frame.h"
#include "elastic/store/socket_util.h"
#include "elastic/store/store_state.h"

namespace braid::elastic {

struct StoreServerOptions {
  // Address to listen on. Loopback by default; "0.0.0.0" or a host's address
  // to serve other nodes (then a strong job token is essential).
  std::string host = "127.0.0.1";
  // 0: an ephemeral port chosen by the kernel (read it with port()).
  int port = 0;
  // The shared secret clients must prove they know. REQUIRED (non-empty)
  // unless allow_no_token is set.
  std::string job_token;
  // Permits an empty job_token (tests, single-user loopback jobs). Clients
  // must then use an empty token too; the handshake still runs.
  bool allow_no_token = false;
  // Largest frame payload accepted or sent.
  size_t max_message_bytes = kDefaultMaxMessageBytes;
  // Connections beyond this are accepted and closed at once (logged).
  size_t max_connections = 4096;
  // A connection that has not finished the handshake by then is closed.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // A client that lets more than this many reply bytes pile up unread is
  // disconnected.
  size_t max_pending_output_bytes = size_t{64} << 20;
  // Key/value limits and history length. max_response_bytes is clamped below
  // max_message_bytes.
  StoreStateOptions state;
  // Receives one line per warning (refused client, bad frame, ...). Called on
  // the loop thread; must not block or call back into the server. Default:
  // BRAID_LOG(WARNING).
  std::function<void(absl::string_view line)> log;
};

// Counters for monitoring and tests.
struct StoreServerStats {
  uint64_t accepted_connections = 0;
  uint64_t authenticated_connections = 0;
  uint64_t refused_connections = 0;  // failed the handshake
  uint64_t protocol_errors = 0;      // closed for bad/oversized frames
  uint64_t open_connections = 0;
  uint64_t requests = 0;
  uint64_t parked_requests = 0;  // Wait/Watch waiting now
};

class StoreServer {
 public:
  // Binds, listens and starts the loop thread. kInvalidArgument for an empty
  // token without allow_no_token or a bad host; kUnavailable when the address
  // cannot be bound (port in use).
  static absl::StatusOr<std::unique_ptr<StoreServer>> Create(const StoreServerOptions& options);

  StoreServer(const StoreServer&) = delete;
  StoreServer& operator=(const StoreServer&) = delete;
  // Shuts down (see Shutdown).
  ~StoreServer();

  // The port it listens on (the kernel's choice when options.port was 0).
  int port() const { return port_; }
  // "host:port" for StoreClientOptions::address.
  std::string address() const;

  // Stops the loop, closes every connection (clients' pending calls fail with
  // kUnavailable) and the listening socket. Idempotent; returns after the
  // loop thread has been joined. The data is gone afterwards.
  void Shutdown();

  StoreServerStats stats() const;

 private:
  struct Connection;
  class Loop;

  StoreServer(const StoreServerOptions& options, ScopedFd listen_fd, ScopedFd epoll_fd,
              ScopedFd wake_fd, int port);

  const StoreServerOptions options_;
  const int port_;
  std::unique_ptr<Loop> loop_;
  absl::Mutex shutdown_mu_;
  std::thread thread_ ABSL_GUARDED_BY(shutdown_mu_);
};

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_STORE_STORE_SERVER_H_
