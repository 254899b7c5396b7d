// Store-specific tests of StoreServer/StoreClient: authentication (refusal,
// mutual proof, the token never on the wire), hostile and broken peers
// (oversized frames, garbage, half frames, silent handshakes, a client
// process killed mid-request), reconnects, limits and 64 concurrent clients.
#include "elastic/store/store_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "elastic/store/auth.h"
#include "elastic/store/frame.h"
#include "elastic/store/proto/store.pb.h"
#include "elastic/store/socket_util.h"
#include "elastic/store/store_client.h"
#include "gtest/gtest.h"
#include "tests/testing/run_ranks.h"

namespace braid::elastic {
namespace {

constexpr char kToken[] = "s3cret-job-token-7d1e0b5a";

absl::Time In(absl::Duration d) { return absl::Now() + d * braid::testing::TimeoutScale(); }
absl::Time Soon() { return In(absl::Seconds(10)); }

// Collects the server's log lines.
class LogCapture {
 public:
  std::function<void(absl::string_view)> Sink() {
    return [this](absl::string_view line) {
      absl::MutexLock lock(&mu_);
      lines_.emplace_back(line);
    };
  }
  bool Contains(absl::string_view text) {
    absl::MutexLock lock(&mu_);
    for (const std::string& l : lines_) {
      if (absl::StrContains(l, text)) return true;
    }
    return false;
  }
  std::string All() {
    absl::MutexLock lock(&mu_);
    std::string out;
    for (const std::string& l : lines_) absl::StrAppend(&out, l, "\n");
    return out;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<StoreServer> StartServer(LogCapture* logs = nullptr,
                                         StoreServerOptions options = {}) {
  if (options.job_token.empty() && !options.allow_no_token) options.job_token = kToken;
  if (logs != nullptr) options.log = logs->Sink();
  absl::StatusOr<std::unique_ptr<StoreServer>> server = StoreServer::Create(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

absl::StatusOr<std::unique_ptr<StoreClient>> Connect(const std::string& address,
                                                     const std::string& token = kToken) {
  StoreClientOptions options;
  options.address = address;
  options.job_token = token;
  options.connect_timeout = absl::Seconds(5);
  return StoreClient::Create(options);
}

// Waits (bounded) until `condition` holds; for effects the server applies
// asynchronously, such as noticing a dead peer.
bool Eventually(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(5)) {
  const absl::Time deadline = In(timeout);
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return condition();
}

// A raw protocol peer: speaks frames by hand, to misbehave on purpose.
class RawPeer {
 public:
  explicit RawPeer(int port) {
    absl::StatusOr<ScopedFd> fd = ConnectTcp(HostPort{"127.0.0.1", port}, Soon());
    EXPECT_TRUE(fd.ok()) << fd.status();
    if (fd.ok()) fd_ = *std::move(fd);
  }
  int fd() const { return fd_.get(); }

  // Runs the client side of the handshake with `token`.
  absl::Status Handshake(const std::string& token) {
    absl::StatusOr<std::string> payload = RecvFrame(fd(), &decoder_, Soon());
    if (!payload.ok()) return payload.status();
    storepb::ServerHello hello;
    if (!hello.ParseFromString(*payload)) return absl::DataLossError("bad ServerHello");
    storepb::ClientHello answer;
    answer.set_protocol_version(kStoreProtocolVersion);
    answer.set_client_nonce(std::string(kAuthNonceBytes, 'n'));
    answer.set_client_proof(ClientAuthProof(token, hello.server_nonce(), answer.client_nonce()));
    absl::Status s = SendMessage(answer);
    if (!s.ok()) return s;
    payload = RecvFrame(fd(), &decoder_, Soon());
    if (!payload.ok()) return payload.status();
    storepb::AuthResult result;
    if (!result.ParseFromString(*payload)) return absl::DataLossError("bad AuthResult");
    return result.accepted() ? absl::OkStatus() : absl::UnauthenticatedError(result.error());
  }
  absl::Status SendMessage(const google::protobuf::MessageLite& m) {
    std::string frame;
    absl::Status s = AppendFrame(m, kDefaultMaxMessageBytes, &frame);
    return s.ok() ? SendAll(fd(), frame, Soon()) : s;
  }
  absl::Status SendBytes(absl::string_view bytes) { return SendAll(fd(), bytes, Soon()); }
  // True when the server closes the connection by `timeout` (replies before
  // the close are skipped).
  bool ClosedByServer(absl::Duration timeout = absl::Seconds(5)) {
    const absl::Time deadline = In(timeout);
    char buf[4096];
    while (absl::Now() < deadline) {
      pollfd p{fd(), POLLIN, 0};
      ::poll(&p, 1, 50);
      const ssize_t n = ::recv(fd(), buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;
    }
    return false;
  }

 private:
  ScopedFd fd_;
  FrameDecoder decoder_{kDefaultMaxMessageBytes};
};

// Checks that `address` serves a full round trip.
void ExpectServes(const std::string& address, const std::string& key) {
  absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(address);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Set(key, "alive", Soon()).ok());
  EXPECT_EQ((*client)->Get(key, Soon()).value_or("<error>"), "alive");
}

// ---- Authentication ---------------------------------------------------------------

TEST(StoreServerTest, WrongTokenIsRefusedAndLogged) {
  LogCapture logs;
  std::unique_ptr<StoreServer> server = StartServer(&logs);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(server->address(), "wrong");
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnauthenticated) << client.status();
  EXPECT_TRUE(logs.Contains("refused client 127.0.0.1:")) << logs.All();
  EXPECT_TRUE(logs.Contains("wrong job token")) << logs.All();
  EXPECT_EQ(server->stats().refused_connections, 1u);
  ExpectServes(server->address(), "after-refusal");
}

TEST(StoreServerTest, RawPeerWithWrongTokenCannotSendRequests) {
  std::unique_ptr<StoreServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  RawPeer peer(server->port());
  EXPECT_EQ(peer.Handshake("not-the-token").code(), absl::StatusCode::kUnauthenticated);
  storepb::Request set;
  set.set_id(1);
  set.mutable_set()->set_key("intruder");
  set.mutable_set()->set_value("x");
  (void)peer.SendMessage(set);  // may fail: the server is closing
  EXPECT_TRUE(peer.ClosedByServer());
  absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(server->address());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->Get("intruder", Soon()).status().code(), absl::StatusCode::kNotFound);
}

TEST(StoreServerTest, EmptyTokenNeedsAllowNoToken) {
  StoreServerOptions options;
  EXPECT_EQ(StoreServer::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.allow_no_token = true;
  std::unique_ptr<StoreServer> server = StartServer(nullptr, options);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(server->address(), "");
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->Set("k", "v", Soon()).ok());
  EXPECT_EQ(Connect(server->address(), "some-token").status().code(),
            absl::StatusCode::kUnauthenticated);
}

// A server that does not know the token: accepts anyone and answers with a
// made-up proof, then never replies. The client must refuse it.
class FakeServer {
 public:
  explicit FakeServer(std::string proof_token, bool real_proof)
      : token_(std::move(proof_token)), real_proof_(real_proof) {
    listen_.Reset();
    listen_ = ScopedFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listen_.get(), 4), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeServer() {
    stop_.store(true);
    ::shutdown(listen_.get(), SHUT_RDWR);
    if (conn_.valid()) ::shutdown(conn_.get(), SHUT_RDWR);
    thread_.join();
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  void Serve() {
    pollfd p{listen_.get(), POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0 || stop_.load()) return;
    conn_ = ScopedFd(::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!conn_.valid()) return;
    const std::string nonce(kAuthNonceBytes, 's');
    storepb::ServerHello hello;
    hello.set_protocol_version(kStoreProtocolVersion);
    hello.set_server_nonce(nonce);
    std::string out;
    (void)AppendFrame(hello, kDefaultMaxMessageBytes, &out);
    if (!SendAll(conn_.get(), out, In(absl::Seconds(5))).ok()) return;
    FrameDecoder decoder(kDefaultMaxMessageBytes);
    absl::StatusOr<std::string> payload = RecvFrame(conn_.get(), &decoder, In(absl::Seconds(5)));
    if (!payload.ok()) return;
    storepb::ClientHello ch;
    ch.ParseFromString(*payload);
    storepb::AuthResult result;
    result.set_accepted(true);
    result.set_server_proof(real_proof_ ? ServerAuthProof(token_, nonce, ch.client_nonce())
                                        : std::string(kAuthProofBytes, 'x'));
    out.clear();
    (void)AppendFrame(result, kDefaultMaxMessageBytes, &out);
    if (!SendAll(conn_.get(), out, In(absl::Seconds(5))).ok()) return;
    // Swallow requests, never answer, until the client or the test ends.
    while (!stop_.load()) {
      absl::StatusOr<std::string> req = RecvFrame(conn_.get(), &decoder, In(absl::Seconds(1)));
      if (!req.ok() && req.status().code() != absl::StatusCode::kDeadlineExceeded) return;
    }
  }

  const std::string token_;
  const bool real_proof_;
  ScopedFd listen_;
  ScopedFd conn_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(StoreServerTest, ClientRefusesServerThatCannotProveTheToken) {
  FakeServer fake("irrelevant", /*real_proof=*/false);
  absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(fake.address());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnauthenticated) << client.status();
  EXPECT_TRUE(absl::StrContains(client.status().message(), "could not prove"));
}

TEST(StoreServerTest, CallToAServerThatNeverAnswersEndsAtItsDeadline) {
  FakeServer fake(kToken, /*real_proof=*/true);
  absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(fake.address());
  ASSERT_TRUE(client.ok()) << client.status();
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> got = (*client)->Get("k", start + absl::Milliseconds(300));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded) << got.status();
  EXPECT_GE(took, absl::Milliseconds(295));
  EXPECT_LT(took, absl::Milliseconds(300) + absl::Seconds(1) * braid::testing::TimeoutScale());
}

// Relays one connection between a client and the server, recording both
// directions, to inspect what crosses the wire.
class RecordingProxy {
 public:
  explicit RecordingProxy(int server_port) : server_port_(server_port) {
    listen_ = ScopedFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listen_.get(), 4), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(::pipe2(stop_pipe_, O_CLOEXEC), 0);
    thread_ = std::thread([this] { Relay(); });
  }
  ~RecordingProxy() {
    const char c = 0;
    [[maybe_unused]] ssize_t n = ::write(stop_pipe_[1], &c, 1);
    thread_.join();
    ::close(stop_pipe_[0]);
    ::close(stop_pipe_[1]);
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string captured() {
    absl::MutexLock lock(&mu_);
    return absl::StrCat(to_server_, to_client_);
  }
  size_t captured_bytes() {
    absl::MutexLock lock(&mu_);
    return to_server_.size() + to_client_.size();
  }

 private:
  void Relay() {
    pollfd p[2] = {{listen_.get(), POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(p, 2, 20'000) <= 0 || (p[1].revents & POLLIN)) return;
    ScopedFd client(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    absl::StatusOr<ScopedFd> server =
        ConnectTcp(HostPort{"127.0.0.1", server_port_}, In(absl::Seconds(5)));
    if (!client.valid() || !server.ok()) return;
    char buf[65536];
    while (true) {
      pollfd q[3] = {
          {client.get(), POLLIN, 0}, {server->get(), POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
      if (::poll(q, 3, 20'000) <= 0 || (q[2].revents & POLLIN)) return;
      for (int side = 0; side < 2; ++side) {
        if (!(q[side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const int from = side == 0 ? client.get() : server->get();
        const int to = side == 0 ? server->get() : client.get();
        const ssize_t n = ::recv(from, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0) return;
        {
          absl::MutexLock lock(&mu_);
          (side == 0 ? to_server_ : to_client_).append(buf, static_cast<size_t>(n));
        }
        if (!SendAll(to, absl::string_view(buf, static_cast<size_t>(n)), In(absl::Seconds(5)))
                 .ok()) {
          return;
        }
      }
    }
  }

  const int server_port_;
  ScopedFd listen_;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  absl::Mutex mu_;
  std::string to_server_ ABSL_GUARDED_BY(mu_);
  std::string to_client_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

TEST(StoreServerTest, TokenNeverCrossesTheWire) {
  std::unique_ptr<StoreServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  {
    RecordingProxy proxy(server->port());
    absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(proxy.address());
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE((*client)->Set("visible-key", "visible-value", Soon()).ok());
    EXPECT_EQ((*client)->Get("visible-key", Soon()).value_or("<error>"), "visible-value");
    const std::string wire = proxy.captured();
    // The capture works (it sees the data) ...
    EXPECT_TRUE(absl::StrContains(wire, "visible-value"));
    // ... and neither the token nor any 8-byte piece of it is on the wire.
    const std::string token = kToken;
    for (size_t i = 0; i + 8 <= token.size(); ++i) {
      EXPECT_FALSE(absl::StrContains(wire, token.substr(i, 8))) << "token piece at " << i;
    }
  }
}

// ---- Hostile and broken peers -------------------------------------------------------

TEST(StoreServerTest, OversizedFrameClosesOnlyThatConnection) {
  LogCapture logs;
  std::unique_ptr<StoreServer> server = StartServer(&logs);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::unique_ptr<StoreClient>> bystander = Connect(server->address());
  ASSERT_TRUE(bystander.ok()) << bystander.status();

  RawPeer peer(server->port());
  ASSERT_TRUE(peer.Handshake(kToken).ok());
  ASSERT_TRUE(peer.SendBytes(std::string("\x7f\xff\xff\xff", 4)).ok());  // 2 GiB announced
  EXPECT_TRUE(peer.ClosedByServer());
  EXPECT_TRUE(logs.Contains("over the limit")) << logs.All();

  RawPeer unauthenticated(server->port());
  ASSERT_TRUE(unauthenticated.SendBytes(std::string("\x01\x00\x00\x00", 4)).ok());  // 16 MiB
  EXPECT_TRUE(unauthenticated.ClosedByServer());

  EXPECT_EQ(server->stats().protocol_errors, 2u);
  ASSERT_TRUE((*bystander)->Set("still", "here", Soon()).ok());
  EXPECT_EQ((*bystander)->Get("still", Soon()).value_or("<error>"), "here");
}

TEST(StoreServerTest, GarbageBytesCloseOnlyThatConnection) {
  LogCapture logs;
  std::unique_ptr<StoreServer> server = StartServer(&logs);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::unique_ptr<StoreClient>> bystander = Connect(server->address());
  ASSERT_TRUE(bystander.ok()) << bystander.status();

  // A well-framed payload that is not a Request.
  RawPeer peer(server->port());
  ASSERT_TRUE(peer.Handshake(kToken).ok());
  ASSERT_TRUE(peer.SendBytes(std::string("\x00\x00\x00\x03\x0f\xff\xff", 7)).ok());
  EXPECT_TRUE(peer.ClosedByServer());
  EXPECT_TRUE(logs.Contains("malformed request")) << logs.All();

  // Random bytes instead of a handshake: refused (logged), closed.
  RawPeer noise(server->port());
  std::string junk;
  uint32_t x = 12345;
  for (int i = 0; i < 64; ++i) {
    x = x * 1103515245 + 12345;
    junk.push_back(static_cast<char>(x >> 16));
  }
  junk[0] = 0;  // keep the announced length small
  (void)noise.SendBytes(junk);
  EXPECT_TRUE(noise.ClosedByServer());

  ASSERT_TRUE((*bystander)->Set("still", "here", Soon()).ok());
  EXPECT_EQ((*bystander)->Get("still", Soon()).value_or("<error>"), "here");
}

TEST(StoreServerTest, HalfAFrameThenCloseHarmsNobody) {
  LogCapture logs;
  std::unique_ptr<StoreServer> server = StartServer(&logs);
  ASSERT_NE(server, nullptr);
  {
    RawPeer peer(server->port());
    ASSERT_TRUE(peer.Handshake(kToken).ok());
    storepb::Request req;
    req.set_id(1);
    req.mutable_set()->set_key("half");
    req.mutable_set()->set_value(std::string(1000, 'v'));
    std::string frame;
    ASSERT_TRUE(AppendFrame(req, kDefaultMaxMessageBytes, &frame).ok());
    ASSERT_TRUE(peer.SendBytes(frame.substr(0, frame.size() / 2)).ok());
  }  // closed mid-frame
  ASSERT_TRUE(Eventually([&] { return server->stats().open_connections == 0; }));
  EXPECT_TRUE(logs.Contains("middle of a frame")) << logs.All();
  absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(server->address());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->Get("half", Soon()).status().code(), absl::StatusCode::kNotFound);
}

TEST(StoreServerTest, SilentConnectionIsClosedAfterHandshakeTimeout) {
  StoreServerOptions options;
  options.handshake_timeout = absl::Milliseconds(200);
  LogCapture logs;
  std::unique_ptr<StoreServer> server = StartServer(&logs, options);
  ASSERT_NE(server, nullptr);
  RawPeer silent(server->port());
  EXPECT_TRUE(silent.ClosedByServer(absl::Seconds(5)));
  EXPECT_TRUE(logs.Contains("no handshake within")) << logs.All();
  ExpectServes(server->address(), "k");
}

TEST(StoreServerTest, ClientThatStopsReadingIsDisconnected) {
  StoreServerOptions options;
  options.max_pending_output_bytes = 1 << 20;
  LogCapture logs;
  std::unique_ptr<StoreServer> server = StartServer(&logs, options);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::unique_ptr<StoreClient>> bystander = Connect(server->address());
  ASSERT_TRUE(bystander.ok()) << bystander.status();
  ASSERT_TRUE((*bystander)->Set("big", std::string(512 << 10, 'v'), Soon()).ok());

  RawPeer greedy(server->port());
  ASSERT_TRUE(greedy.Handshake(kToken).ok());
  // 200 Gets of 512 KiB = 100 MiB of replies, far beyond the socket buffers
  // and the 1 MiB allowance; the peer never reads.
  for (int i = 0; i < 200; ++i) {
    storepb::Request get;
    get.set_id(static_cast<uint64_t>(i + 1));
    get.mutable_get()->set_key("big");
    if (!greedy.SendMessage(get).ok()) break;  // the server may close early
  }
  // Wait for the verdict without reading: draining the replies here would let
  // a slow server keep up, and it would never see the backlog.
  const absl::Time verdict_deadline = absl::Now() + absl::Seconds(20);
  while (!logs.Contains("not reading its replies") && absl::Now() < verdict_deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(logs.Contains("not reading its replies")) << logs.All();
  EXPECT_TRUE(greedy.ClosedByServer(absl::Seconds(10)));
  EXPECT_EQ((*bystander)->Get("big", Soon()).value_or("").size(), size_t{512} << 10);
}

TEST(StoreServerTest, ConnectionsBeyondTheLimitAreClosed) {
  StoreServerOptions options;
  options.max_connections = 2;
  LogCapture logs;
  std::unique_ptr<StoreServer> server = StartServer(&logs, options);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::unique_ptr<StoreClient>> first = Connect(server->address());
  ASSERT_TRUE(first.ok()) << first.status();
  RawPeer second(server->port());
  ASSERT_TRUE(second.Handshake(kToken).ok());
  RawPeer third(server->port());
  EXPECT_TRUE(third.ClosedByServer());
  EXPECT_TRUE(logs.Contains("max_connections")) << logs.All();
  EXPECT_TRUE((*first)->Set("k", "v", Soon()).ok());
}

// A real second process: it authenticates, leaves half a frame on a raw
// connection and a Wait parked on a client connection, and is killed -9.
TEST(StoreServerTest, ClientProcessKilledMidRequestHarmsNobody) {
  std::unique_ptr<StoreServer> server;
  braid::testing::RunRanksOptions options;
  options.timeout = absl::Seconds(60);
  std::unique_ptr<StoreClient> observer;
  if (!braid::testing::IsRankProcess()) {
    server = StartServer();
    ASSERT_NE(server, nullptr);
    absl::StatusOr<std::unique_ptr<StoreClient>> c = Connect(server->address());
    ASSERT_TRUE(c.ok()) << c.status();
    observer = *std::move(c);
    options.env["BRAID_STORE_TEST_ADDRESS"] = server->address();
    options.on_spawned = [&](const std::vector<int>& pids) {
      // The child says it is mid-request through the store itself.
      absl::Status ready = observer->Wait({"child/ready"}, In(absl::Seconds(30)));
      EXPECT_TRUE(ready.ok()) << ready;
      ::kill(pids[0], SIGKILL);
    };
  }
  braid::testing::RankResults results = braid::testing::RunRanks(
      1,
      [](int, int) {
        const std::string address = std::getenv("BRAID_STORE_TEST_ADDRESS");
        absl::StatusOr<HostPort> hp = SplitHostPort(address);
        ASSERT_TRUE(hp.ok());
        RawPeer raw(hp->port);
        ASSERT_TRUE(raw.Handshake(kToken).ok());
        ASSERT_TRUE(raw.SendBytes(std::string("\x00\x00\x01\x00partial", 11)).ok());
        absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(address);
        ASSERT_TRUE(client.ok()) << client.status();
        ASSERT_TRUE((*client)->Set("child/ready", "1", Soon()).ok());
        // Parks on the server until the parent kills this process.
        (void)(*client)->Wait({"never/set"}, In(absl::Seconds(60)));
      },
      options);
  ASSERT_EQ(results.ranks.size(), 1u);
  EXPECT_EQ(results.ranks[0].signal, SIGKILL) << results.Summary();
  // The server noticed: the child's parked Wait and connections are gone.
  EXPECT_TRUE(Eventually([&] {
    const StoreServerStats s = server->stats();
    return s.parked_requests == 0 && s.open_connections == 1;  // the observer
  }));
  ASSERT_TRUE(observer->Set("after/kill", "ok", Soon()).ok());
  EXPECT_EQ(observer->Get("after/kill", Soon()).value_or("<error>"), "ok");
}

// ---- Reconnects, shutdown, limits --------------------------------------------------

TEST(StoreServerTest, ShutdownFailsParkedCallsPromptlyWithUnavailable) {
  std::unique_ptr<StoreServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(server->address());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::Status waited;
  std::thread waiter([&] { waited = (*client)->Wait({"never"}, In(absl::Seconds(30))); });
  ASSERT_TRUE(Eventually([&] { return server->stats().parked_requests == 1; }));
  const absl::Time start = absl::Now();
  server->Shutdown();
  waiter.join();
  EXPECT_EQ(waited.code(), absl::StatusCode::kUnavailable) << waited;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2) * braid::testing::TimeoutScale());
}

TEST(StoreServerTest, ClientReconnectsToARestartedServer) {
  std::unique_ptr<StoreServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(server->address());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Set("k", "v1", Soon()).ok());
  server->Shutdown();
  server.reset();

  // Nobody listens: the call fails by its deadline with kUnavailable.
  absl::Status down = (*client)->Set("k", "v2", absl::Now() + absl::Milliseconds(300));
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;

  StoreServerOptions options;
  options.port = port;
  server = StartServer(nullptr, options);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE((*client)->Set("k", "v3", Soon()).ok());
  EXPECT_EQ((*client)->Get("k", Soon()).value_or("<error>"), "v3");
}

TEST(StoreServerTest, ValueOverFourMiBIsInvalidArgument) {
  std::unique_ptr<StoreServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(server->address());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->Set("big", std::string((4 << 20) + 1, 'x'), Soon()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*client)->Set("big", std::string(4 << 20, 'x'), Soon()).ok());
  // A request over the frame limit fails in the client without breaking it.
  EXPECT_EQ((*client)->Set("huge", std::string(9 << 20, 'x'), Soon()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*client)->Get("big", Soon()).value_or("").size(), size_t{4} << 20);
}

TEST(StoreServerTest, SixtyFourConcurrentClients) {
  constexpr int kClients = 64;
  std::unique_ptr<StoreServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::vector<std::string> all_keys;
  for (int i = 0; i < kClients; ++i) all_keys.push_back(absl::StrCat("rank/", i));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(server->address());
      if (!client.ok()) {
        failures.fetch_add(1);
        return;
      }
      const absl::Time deadline = In(absl::Seconds(30));
      // Like a rendezvous: count in, publish, wait for everyone, read all.
      if (!(*client)->Add("arrived", 1, deadline).ok()) failures.fetch_add(1);
      if (!(*client)->Set(all_keys[i], absl::StrCat("addr-", i), deadline).ok()) {
        failures.fetch_add(1);
      }
      if (!(*client)->Wait(all_keys, deadline).ok()) failures.fetch_add(1);
      absl::StatusOr<std::vector<runtime::KeyValue>> kvs = (*client)->ListPrefix("rank/", deadline);
      if (!kvs.ok() || kvs->size() != kClients) failures.fetch_add(1);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  absl::StatusOr<std::unique_ptr<StoreClient>> client = Connect(server->address());
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->Get("arrived", Soon()).value_or("<error>"), "64");
  EXPECT_EQ(server->stats().authenticated_connections, 65u);
}

TEST(StoreServerTest, BindsLoopbackByDefault) {
  std::unique_ptr<StoreServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(absl::StartsWith(server->address(), "127.0.0.1:")) << server->address();
  EXPECT_GT(server->port(), 0);
}

}  // namespace
}  // namespace braid::elastic
