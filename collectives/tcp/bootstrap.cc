// TcpTransport::Create: the store-driven bootstrap of the full mesh (steps
// 1-5 in transport.h). The steady state is in transport.cc.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "collectives/tcp/socket_util.h"
#include "collectives/tcp/transport.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {
namespace {

struct Address {
  std::string host;
  int port = 0;
};

absl::StatusOr<Address> ParseAddress(absl::string_view value) {
  const size_t colon = value.rfind(':');
  Address a;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(value.substr(colon + 1), &a.port) ||
      a.port <= 0 || a.port > 65535) {
    return absl::DataLossError(absl::StrCat("tcp bootstrap: malformed address '", value,
                                            "' in the store"));
  }
  a.host = std::string(value.substr(0, colon));
  return a;
}

FrameHeader HelloHeader(FrameKind kind, int rank, int size, uint64_t world_id) {
  FrameHeader h;
  h.kind = kind;
  h.src_rank = static_cast<uint32_t>(rank);
  h.tag = static_cast<uint32_t>(size);
  h.comm_id = world_id;
  return h;
}

}  // namespace

uint64_t HashId(uint64_t seed, absl::string_view bytes) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (char c : bytes) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return h;
}

TcpTransport::TcpTransport(const TransportOptions& options)
    : options_(options), world_id_(HashId(0, options.key_prefix)) {
  peers_.resize(options.size);
  absl::MutexLock lock(&mu_);
  peer_status_.assign(options.size, absl::OkStatus());
}

absl::StatusOr<std::shared_ptr<TcpTransport>> TcpTransport::Create(const TransportOptions& options) {
  if (options.rank < 0 || options.rank >= options.size || options.store == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("tcp transport: bad rank ", options.rank,
                                                   " of ", options.size, " or no store"));
  }
  std::shared_ptr<TcpTransport> t(new TcpTransport(options));
  BRAID_RETURN_IF_ERROR(t->Bootstrap());
  t->progress_thread_ = std::thread([raw = t.get()] { raw->Run(); });
  return t;
}

absl::Status TcpTransport::Bootstrap() {
  const int rank = options_.rank;
  const int size = options_.size;
  const absl::Time deadline = options_.connect_deadline;
  runtime::Store& store = *options_.store;

  // 1. Listen and publish.
  int port = 0;
  BRAID_ASSIGN_OR_RETURN(const int listen_fd, ListenEphemeral(&port));
  absl::Cleanup close_listener = [listen_fd] { close(listen_fd); };
  const std::string addr_prefix = absl::StrCat(options_.key_prefix, "addr/");
  BRAID_RETURN_IF_ERROR(
      store.Set(absl::StrCat(addr_prefix, rank), absl::StrCat(options_.host, ":", port), deadline));

  // 2. Everyone's address.
  std::vector<Address> addresses(size);
  if (size > 1) {
    std::vector<std::string> keys;
    for (int r = 0; r < size; ++r) keys.push_back(absl::StrCat(addr_prefix, r));
    absl::Status waited = store.Wait(keys, deadline);
    if (!waited.ok()) {
      return absl::Status(waited.code(),
                          absl::StrCat("tcp bootstrap (rank ", rank, " of ", size,
                                       "): not every rank published its address under '",
                                       addr_prefix, "': ", waited.message(),
                                       "; are all ranks started with the same store prefix?"));
    }
    BRAID_ASSIGN_OR_RETURN(std::vector<runtime::KeyValue> kvs, store.ListPrefix(addr_prefix, deadline));
    for (const runtime::KeyValue& kv : kvs) {
      int r = -1;
      if (!absl::SimpleAtoi(absl::string_view(kv.key).substr(addr_prefix.size()), &r) || r < 0 ||
          r >= size) {
        continue;
      }
      BRAID_ASSIGN_OR_RETURN(addresses[r], ParseAddress(kv.value));
    }
  }

  // 3. Connect to lower ranks and say hello.
  std::vector<int> fds(size, -1);
  absl::Cleanup close_fds = [&fds] {
    for (int fd : fds) {
      if (fd >= 0) close(fd);
    }
  };
  uint8_t header[kFrameHeaderBytes];
  for (int r = 0; r < rank; ++r) {
    if (addresses[r].port == 0) {
      return absl::DataLossError(absl::StrCat("tcp bootstrap: no address for rank ", r));
    }
    BRAID_ASSIGN_OR_RETURN(fds[r], ConnectWithRetry(addresses[r].host, addresses[r].port, deadline));
    EncodeFrameHeader(HelloHeader(FrameKind::kHello, rank, size, world_id_), header);
    BRAID_RETURN_IF_ERROR(WriteFully(fds[r], header, sizeof(header), deadline));
  }

  // 4. Accept higher ranks; anything that is not a hello of this world is dropped.
  FrameLimits limits;
  limits.world_size = static_cast<uint32_t>(size);
  limits.max_payload_bytes = 0;
  int missing = size - 1 - rank;
  while (missing > 0) {
    absl::StatusOr<int> fd = AcceptWithDeadline(listen_fd, deadline);
    if (!fd.ok()) {
      std::string who;
      for (int r = rank + 1; r < size; ++r) {
        if (fds[r] < 0) absl::StrAppend(&who, who.empty() ? "" : ",", r);
      }
      return absl::DeadlineExceededError(absl::StrCat("tcp bootstrap (rank ", rank,
                                                      "): ranks {", who, "} never connected"));
    }
    absl::Status hello = ReadFully(*fd, header, sizeof(header), deadline);
    absl::StatusOr<FrameHeader> h =
        hello.ok() ? DecodeFrameHeader(absl::MakeConstSpan(header), limits)
                   : absl::StatusOr<FrameHeader>(hello);
    const bool good = h.ok() && h->kind == FrameKind::kHello && h->comm_id == world_id_ &&
                      h->tag == static_cast<uint32_t>(size) &&
                      static_cast<int>(h->src_rank) > rank && fds[h->src_rank] < 0;
    if (!good) {
      close(*fd);  // a stale job or a stranger; keep waiting for the real peers
      continue;
    }
    fds[h->src_rank] = *fd;
    EncodeFrameHeader(HelloHeader(FrameKind::kHelloAck, rank, size, world_id_), header);
    BRAID_RETURN_IF_ERROR(WriteFully(*fd, header, sizeof(header), deadline));
    --missing;
  }

  // 5. Acks from lower ranks.
  for (int r = 0; r < rank; ++r) {
    BRAID_RETURN_IF_ERROR(ReadFully(fds[r], header, sizeof(header), deadline));
    BRAID_ASSIGN_OR_RETURN(FrameHeader h, DecodeFrameHeader(absl::MakeConstSpan(header), limits));
    if (h.kind != FrameKind::kHelloAck || h.comm_id != world_id_ ||
        static_cast<int>(h.src_rank) != r) {
      return absl::DataLossError(absl::StrCat("tcp bootstrap: rank ", r,
                                              " answered the hello with a wrong ack"));
    }
  }

  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    return ErrnoStatus(absl::StatusCode::kInternal, "tcp: epoll_create/eventfd", errno);
  }
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = static_cast<uint64_t>(size);  // the wake fd
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  FrameLimits steady;
  steady.world_size = static_cast<uint32_t>(size);
  steady.max_payload_bytes = static_cast<uint32_t>(kMaxFramePayloadBytes);
  const absl::Time now = absl::Now();
  for (int r = 0; r < size; ++r) {
    if (r == rank) continue;
    BRAID_RETURN_IF_ERROR(ConfigureSocket(fds[r], /*non_blocking=*/true));
    auto p = std::make_unique<Peer>();
    p->fd = fds[r];
    fds[r] = -1;
    p->assembler = std::make_unique<FrameAssembler>(steady);
    p->last_rx = now;
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(r);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, p->fd, &ev) != 0) {
      return ErrnoStatus(absl::StatusCode::kInternal, "tcp: epoll_ctl", errno);
    }
    p->in_epoll = true;
    peers_[r] = std::move(p);
  }
  last_tick_ = now;
  last_heartbeat_ = now;
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
