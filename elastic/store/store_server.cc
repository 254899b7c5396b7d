#include "elastic/store/store_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "elastic/store/auth.h"
#include "elastic/store/proto/store.pb.h"
#include "runtime/logging.h"
#include "runtime/status_macros.h"

namespace braid::elastic {
namespace {

constexpr uint64_t kListenToken = 0;
constexpr uint64_t kWakeToken = 1;
constexpr uint64_t kFirstConnection = 2;
// Bytes read from one connection per readiness event, so one busy client
// cannot starve the others.
constexpr size_t kMaxReadPerEvent = size_t{1} << 20;

void DefaultLog(absl::string_view line) { BRAID_LOG(WARNING) << "store: " << line; }

}  // namespace

struct StoreServer::Connection {
  enum class Phase { kHandshake, kReady, kClosing };
  static const char* ToString(Phase p) {
    switch (p) {
      case Phase::kHandshake:
        return "handshake";
      case Phase::kReady:
        return "ready";
      case Phase::kClosing:
        return "closing";
    }
    return "?";
  }

  Connection(ScopedFd f, std::string p)
      : fd(std::move(f)), peer(std::move(p)), decoder(kMaxHandshakeMessageBytes) {}

  ScopedFd fd;
  std::string peer;
  FrameDecoder decoder;
  Phase phase = Phase::kHandshake;
  std::string server_nonce;
  absl::Time handshake_deadline;
  std::string out;        // bytes to send
  size_t out_offset = 0;  // already sent
  bool want_write = false;
};

// Everything the loop thread owns. Only `stop_` and the counters are touched by
// other threads.
class StoreServer::Loop {
 public:
  Loop(const StoreServerOptions& options, ScopedFd listen_fd, ScopedFd epoll_fd, ScopedFd wake_fd)
      : options_(options),
        listen_fd_(std::move(listen_fd)),
        epoll_fd_(std::move(epoll_fd)),
        wake_fd_(std::move(wake_fd)),
        state_(options.state) {}

  void Run();
  void Stop() {
    stop_.store(true);
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
  }
  StoreServerStats stats() const {
    StoreServerStats s;
    s.accepted_connections = accepted_.load();
    s.authenticated_connections = authenticated_.load();
    s.refused_connections = refused_.load();
    s.protocol_errors = protocol_errors_.load();
    s.open_connections = open_.load();
    s.requests = requests_.load();
    s.parked_requests = parked_.load();
    return s;
  }

 private:
  void Log(absl::string_view line) {
    if (options_.log) {
      options_.log(line);
    } else {
      DefaultLog(line);
    }
  }
  void Accept();
  void OnReadable(uint64_t id);
  void OnFrame(uint64_t id, Connection& conn, const std::string& payload);
  void OnClientHello(uint64_t id, Connection& conn, const std::string& payload);
  void Send(uint64_t id, Connection& conn, const google::protobuf::MessageLite& message);
  void Flush(uint64_t id, Connection& conn);
  void UpdateInterest(uint64_t id, Connection& conn, bool want_write);
  void Close(uint64_t id, absl::string_view why);
  void DeliverReplies();
  void ExpireHandshakes(absl::Time now);
  absl::Time NextWake() const;

  const StoreServerOptions& options_;
  ScopedFd listen_fd_;
  ScopedFd epoll_fd_;
  ScopedFd wake_fd_;
  StoreState state_;
  std::map<uint64_t, std::unique_ptr<Connection>> conns_;
  // Connections still in the handshake, by deadline.
  std::set<std::pair<absl::Time, uint64_t>> handshakes_;
  uint64_t next_id_ = kFirstConnection;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0}, authenticated_{0}, refused_{0}, protocol_errors_{0}, open_{0},
      requests_{0}, parked_{0};
};

// ---- Loop -----------------------------------------------------------------------

absl::Time StoreServer::Loop::NextWake() const {
  absl::Time next = state_.NextTimer();
  if (!handshakes_.empty()) next = std::min(next, handshakes_.begin()->first);
  return next;
}

void StoreServer::Loop::Run() {
  std::vector<epoll_event> events(256);
  while (!stop_.load()) {
    const absl::Time next = NextWake();
    int timeout_ms = -1;
    if (next != absl::InfiniteFuture()) {
      const absl::Duration left = next - absl::Now();
      // Round up so that a timer is never handled before it is due.
      timeout_ms = left <= absl::ZeroDuration()
                       ? 0
                       : static_cast<int>(
                             std::min<int64_t>(absl::ToInt64Microseconds(left) / 1000 + 1, 60'000));
    }
    const int n =
        ::epoll_wait(epoll_fd_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) {
      Log(absl::StrCat("epoll_wait failed: ", std::strerror(errno), "; store loop stops"));
      break;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t token = events[i].data.u64;
      if (token == kWakeToken) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_.get(), &v, sizeof(v));
        continue;
      }
      if (token == kListenToken) {
        Accept();
        continue;
      }
      auto it = conns_.find(token);
      if (it == conns_.end()) continue;  // closed earlier in this batch
      if (events[i].events & EPOLLOUT) Flush(token, *it->second);
      if (conns_.find(token) == conns_.end()) continue;
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) OnReadable(token);
    }
    const absl::Time now = absl::Now();
    state_.Tick(now);
    DeliverReplies();
    ExpireHandshakes(now);
    parked_.store(state_.parked_count());
  }
  while (!conns_.empty()) Close(conns_.begin()->first, "");
}

void StoreServer::Loop::Accept() {
  while (true) {
    ScopedFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        Log(absl::StrCat("accept failed: ", std::strerror(errno)));
      }
      return;
    }
    accepted_.fetch_add(1);
    std::string peer = PeerName(fd.get());
    if (conns_.size() >= options_.max_connections) {
      Log(absl::StrCat("refused connection from ", peer, ": already ", conns_.size(),
                       " connections (max_connections)"));
      continue;
    }
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    absl::StatusOr<std::string> nonce = MakeAuthNonce();
    if (!nonce.ok()) {
      Log(absl::StrCat("dropping connection from ", peer, ": ", nonce.status().message()));
      continue;
    }
    const uint64_t id = next_id_++;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) {
      Log(absl::StrCat("epoll_ctl for ", peer, " failed: ", std::strerror(errno)));
      continue;
    }
    auto conn = std::make_unique<Connection>(std::move(fd), std::move(peer));
    conn->server_nonce = *std::move(nonce);
    conn->handshake_deadline = absl::Now() + options_.handshake_timeout;
    handshakes_.insert({conn->handshake_deadline, id});
    Connection& c = *conn;
    conns_.emplace(id, std::move(conn));
    open_.fetch_add(1);
    storepb::ServerHello hello;
    hello.set_protocol_version(kStoreProtocolVersion);
    hello.set_server_nonce(c.server_nonce);
    Send(id, c, hello);
  }
}

void StoreServer::Loop::OnReadable(uint64_t id) {
  Connection* conn = conns_.at(id).get();
  char buf[64 * 1024];
  size_t total = 0;
  bool eof = false;
  while (total < kMaxReadPerEvent) {
    const ssize_t n = ::recv(conn->fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      total += static_cast<size_t>(n);
      if (conn->phase != Connection::Phase::kClosing) {
        conn->decoder.Append(buf, static_cast<size_t>(n));
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    eof = true;  // closed or reset: the client went away
    break;
  }
  // Complete frames that arrived before a close are still served.
  while (conns_.count(id) != 0 && conn->phase != Connection::Phase::kClosing) {
    absl::StatusOr<std::optional<std::string>> frame = conn->decoder.Next();
    if (!frame.ok()) {
      protocol_errors_.fetch_add(1);
      Log(absl::StrCat("client ", conn->peer, ": ", frame.status().message()));
      Close(id, "");
      return;
    }
    if (!frame->has_value()) break;
    OnFrame(id, *conn, **frame);
  }
  DeliverReplies();
  if (eof && conns_.count(id) != 0) {
    if (conn->decoder.mid_frame()) {
      Log(absl::StrCat("client ", conn->peer, " disconnected in the middle of a frame (",
                       conn->decoder.buffered_bytes(), " bytes buffered); dropped it"));
    }
    Close(id, "");
  }
}

void StoreServer::Loop::OnFrame(uint64_t id, Connection& conn, const std::string& payload) {
  if (conn.phase == Connection::Phase::kHandshake) {
    OnClientHello(id, conn, payload);
    return;
  }
  storepb::Request request;
  absl::Status parsed = ParseFrame(payload, &request, absl::StrCat("request from ", conn.peer));
  if (!parsed.ok()) {
    protocol_errors_.fetch_add(1);
    Log(parsed.message());
    Close(id, "");
    return;
  }
  requests_.fetch_add(1);
  state_.Handle(id, request, absl::Now());
}

void StoreServer::Loop::OnClientHello(uint64_t id, Connection& conn, const std::string& payload) {
  storepb::ClientHello hello;
  absl::Status parsed = ParseFrame(payload, &hello, absl::StrCat("handshake from ", conn.peer));
  std::string refusal;
  if (!parsed.ok()) {
    refusal = "malformed handshake";
  } else if (hello.protocol_version() != kStoreProtocolVersion) {
    refusal = absl::StrCat("protocol version ", hello.protocol_version(),
                           " is not supported (store speaks ", kStoreProtocolVersion, ")");
  } else if (hello.client_nonce().size() != kAuthNonceBytes) {
    refusal = "bad client nonce";
  } else if (!AuthProofsEqual(
                 hello.client_proof(),
                 ClientAuthProof(options_.job_token, conn.server_nonce, hello.client_nonce()))) {
    refusal = "wrong job token (the client's proof does not match; check BRAID_JOB_TOKEN)";
  }
  storepb::AuthResult result;
  if (!refusal.empty()) {
    refused_.fetch_add(1);
    Log(absl::StrCat("refused client ", conn.peer, ": ", refusal));
    result.set_accepted(false);
    result.set_error(refusal);
    Send(id, conn, result);
    if (conns_.count(id) == 0) return;
    handshakes_.erase({conn.handshake_deadline, id});
    conn.phase = Connection::Phase::kClosing;
    Flush(id, conn);
    return;
  }
  authenticated_.fetch_add(1);
  handshakes_.erase({conn.handshake_deadline, id});
  conn.phase = Connection::Phase::kReady;
  conn.decoder.set_max_message_bytes(options_.max_message_bytes);
  result.set_accepted(true);
  result.set_server_proof(
      ServerAuthProof(options_.job_token, conn.server_nonce, hello.client_nonce()));
  Send(id, conn, result);
}

void StoreServer::Loop::Send(uint64_t id, Connection& conn,
                             const google::protobuf::MessageLite& message) {
  absl::Status s = AppendFrame(message, options_.max_message_bytes, &conn.out);
  if (!s.ok()) {
    // StoreState keeps replies under the limit; reaching here is a bug.
    Log(absl::StrCat("internal error replying to ", conn.peer, ": ", s.message()));
    Close(id, "");
    return;
  }
  if (conn.out.size() - conn.out_offset > options_.max_pending_output_bytes) {
    protocol_errors_.fetch_add(1);
    Log(absl::StrCat("client ", conn.peer, " is not reading its replies (",
                     conn.out.size() - conn.out_offset, " bytes pending); disconnected it"));
    Close(id, "");
    return;
  }
  Flush(id, conn);
}

void StoreServer::Loop::Flush(uint64_t id, Connection& conn) {
  while (conn.out_offset < conn.out.size()) {
    const ssize_t n = ::send(conn.fd.get(), conn.out.data() + conn.out_offset,
                             conn.out.size() - conn.out_offset, MSG_NOSIGNAL);
    if (n > 0) {
      conn.out_offset += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      UpdateInterest(id, conn, true);
      return;
    }
    Close(id, "");  // The peer is gone; its EOF would say the same.
    return;
  }
  conn.out.clear();
  conn.out_offset = 0;
  UpdateInterest(id, conn, false);
  if (conn.phase == Connection::Phase::kClosing) Close(id, "");
}

void StoreServer::Loop::UpdateInterest(uint64_t id, Connection& conn, bool want_write) {
  if (conn.want_write == want_write) return;
  conn.want_write = want_write;
  epoll_event ev{};
  ev.events = want_write ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.u64 = id;
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, conn.fd.get(), &ev);
}

void StoreServer::Loop::Close(uint64_t id, absl::string_view why) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  if (!why.empty()) Log(absl::StrCat("closing connection from ", it->second->peer, ": ", why));
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, it->second->fd.get(), nullptr);
  handshakes_.erase({it->second->handshake_deadline, id});
  state_.DropConnection(id);
  conns_.erase(it);
  open_.fetch_sub(1);
}

void StoreServer::Loop::DeliverReplies() {
  for (StoreState::Reply& reply : state_.TakeReplies()) {
    auto it = conns_.find(reply.connection);
    if (it == conns_.end()) continue;  // the client left; nobody to tell
    Send(reply.connection, *it->second, reply.response);
  }
}

void StoreServer::Loop::ExpireHandshakes(absl::Time now) {
  std::vector<uint64_t> late;
  for (auto it = handshakes_.begin(); it != handshakes_.end() && it->first <= now; ++it) {
    late.push_back(it->second);
  }
  for (uint64_t id : late) {
    refused_.fetch_add(1);
    Close(id,
          absl::StrCat("no handshake within ", absl::FormatDuration(options_.handshake_timeout)));
  }
}

// ---- StoreServer ----------------------------------------------------------------

absl::StatusOr<std::unique_ptr<StoreServer>> StoreServer::Create(
    const StoreServerOptions& options) {
  if (options.job_token.empty() && !options.allow_no_token) {
    return absl::InvalidArgumentError(
        "StoreServer: job_token is empty; set a random token (shared with the ranks) or "
        "allow_no_token for a trusted single-user setup");
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("StoreServer: bad port ", options.port));
  }
  if (options.state.max_key_bytes + options.state.max_value_bytes + 1024 >
      options.max_message_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "StoreServer: max_message_bytes (", options.max_message_bytes,
        ") must exceed max_key_bytes + max_value_bytes + 1024 so any stored entry fits a reply"));
  }
  StoreServerOptions opts = options;
  opts.state.max_response_bytes =
      std::min(opts.state.max_response_bytes, opts.max_message_bytes - 256);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string port_text = absl::StrCat(opts.port);
  const int gai = ::getaddrinfo(opts.host.c_str(), port_text.c_str(), &hints, &res);
  if (gai != 0 || res == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("StoreServer: cannot resolve host '", opts.host, "': ", gai_strerror(gai)));
  }
  ScopedFd listen_fd(
      ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol));
  if (!listen_fd.valid()) {
    ::freeaddrinfo(res);
    return absl::InternalError(absl::StrCat("StoreServer: socket(): ", std::strerror(errno)));
  }
  const int one = 1;
  ::setsockopt(listen_fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const int bound = ::bind(listen_fd.get(), res->ai_addr, res->ai_addrlen);
  const int bind_errno = errno;
  ::freeaddrinfo(res);
  if (bound != 0) {
    return absl::UnavailableError(absl::StrCat("StoreServer: cannot bind ",
                                               JoinHostPort(opts.host, opts.port), ": ",
                                               std::strerror(bind_errno)));
  }
  if (::listen(listen_fd.get(), 1024) != 0) {
    return absl::UnavailableError(absl::StrCat("StoreServer: listen: ", std::strerror(errno)));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(listen_fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  const int port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                            : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);

  ScopedFd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  ScopedFd wake_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!epoll_fd.valid() || !wake_fd.valid()) {
    return absl::InternalError(absl::StrCat("StoreServer: epoll/eventfd: ", std::strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenToken;
  ::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, listen_fd.get(), &ev);
  ev.data.u64 = kWakeToken;
  ::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, wake_fd.get(), &ev);

  return std::unique_ptr<StoreServer>(
      new StoreServer(opts, std::move(listen_fd), std::move(epoll_fd), std::move(wake_fd), port));
}

StoreServer::StoreServer(const StoreServerOptions& options, ScopedFd listen_fd, ScopedFd epoll_fd,
                         ScopedFd wake_fd, int port)
    : options_(options), port_(port) {
  loop_ = std::make_unique<Loop>(options_, std::move(listen_fd), std::move(epoll_fd),
                                 std::move(wake_fd));
  absl::MutexLock lock(&shutdown_mu_);
  thread_ = std::thread([loop = loop_.get()] {
    pthread_setname_np(pthread_self(), "braid-store");
    loop->Run();
  });
}

StoreServer::~StoreServer() { Shutdown(); }

std::string StoreServer::address() const { return JoinHostPort(options_.host, port_); }

void StoreServer::Shutdown() {
  absl::MutexLock lock(&shutdown_mu_);
  if (!thread_.joinable()) return;
  loop_->Stop();
  thread_.join();
}

StoreServerStats StoreServer::stats() const { return loop_->stats(); }

}  // namespace braid::elastic
