// TcpTransport::Create: the store-driven bootstrap of the full mesh (steps
// 1-5 in transport.h). The steady state is in transport.cc.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "collectives/tcp/shm_ring.h"
#include "collectives/tcp/socket_util.h"
#include "collectives/tcp/transport.h"
#include "runtime/logging.h"
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

  addresses[rank] = Address{options_.host, port};

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

  // 6. Shared memory with same-host peers.
  std::vector<std::unique_ptr<ShmRing>> tx(size);
  std::vector<std::unique_ptr<ShmRing>> rx(size);
  if (options_.shm_ring_bytes > 0) {
    std::vector<bool> same_host(size, false);
    for (int r = 0; r < size; ++r) {
      same_host[r] = r != rank && addresses[r].host == options_.host;
    }
    BRAID_RETURN_IF_ERROR(
        SetUpSharedMemory(fds, same_host, "", options_.shm_ring_bytes, &tx, &rx));
    bool all_local = true;
    for (int r = 0; r < size; ++r) {
      if (r != rank && !same_host[r]) all_local = false;
    }
    // 7. Every rank takes the same branch (all ranks published one host, and
    // the options are the job's); whether every ring came up is agreed inside.
    if (all_local && size > 1 && options_.direct_ring_bytes > 0) {
      BRAID_RETURN_IF_ERROR(SetUpDirectChannel(fds));
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
    if (tx[r] != nullptr && rx[r] != nullptr) {
      p->tx = std::move(tx[r]);
      p->rx = std::move(rx[r]);
      has_shm_ = true;
    }
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

absl::Status TcpTransport::SetUpSharedMemory(const std::vector<int>& fds,
                                             const std::vector<bool>& same_host,
                                             absl::string_view suffix, size_t ring_bytes,
                                             std::vector<std::unique_ptr<ShmRing>>* tx,
                                             std::vector<std::unique_ptr<ShmRing>>* rx) {
  const int rank = options_.rank;
  const int size = options_.size;
  const absl::Time deadline = options_.connect_deadline;
  auto name = [this, suffix](int src, int dst) {
    return absl::StrCat("/braid-", absl::Hex(world_id_), "-", src, "-", dst, suffix);
  };
  // Every name this rank created or opened is unlinked on the way out, even
  // on errors, so nothing is left in /dev/shm.
  std::vector<std::string> to_unlink;
  absl::Cleanup unlink = [&to_unlink] {
    for (const std::string& n : to_unlink) ShmRing::Unlink(n);
  };
  std::vector<char> mine(size, '0');
  for (int r = 0; r < size; ++r) {
    if (!same_host[r]) continue;
    absl::StatusOr<std::unique_ptr<ShmRing>> ring =
        ShmRing::Create(name(rank, r), ring_bytes);
    if (ring.ok()) {
      (*ring)->SetOwner(getpid(), reinterpret_cast<uint64_t>(&cma_probe_));
      (*tx)[r] = std::move(*ring);
      to_unlink.push_back(name(rank, r));
      mine[r] = '1';
    }  // else this pair stays on TCP
  }
  std::vector<char> theirs(size, '0');
  for (int r = 0; r < size; ++r) {
    if (same_host[r]) BRAID_RETURN_IF_ERROR(WriteFully(fds[r], &mine[r], 1, deadline));
  }
  for (int r = 0; r < size; ++r) {
    if (same_host[r]) BRAID_RETURN_IF_ERROR(ReadFully(fds[r], &theirs[r], 1, deadline));
  }
  std::vector<char> mapped(size, '0');
  for (int r = 0; r < size; ++r) {
    if (mine[r] != '1' || theirs[r] != '1') continue;
    absl::StatusOr<std::unique_ptr<ShmRing>> ring = ShmRing::Open(name(r, rank));
    to_unlink.push_back(name(r, rank));
    if (ring.ok()) {
      (*rx)[r] = std::move(*ring);
      mapped[r] = '1';
    }
  }
  // Both directions or neither: a pair uses rings only when both sides mapped.
  for (int r = 0; r < size; ++r) {
    if (same_host[r]) BRAID_RETURN_IF_ERROR(WriteFully(fds[r], &mapped[r], 1, deadline));
  }
  for (int r = 0; r < size; ++r) {
    if (!same_host[r]) continue;
    char peer_mapped = '0';
    BRAID_RETURN_IF_ERROR(ReadFully(fds[r], &peer_mapped, 1, deadline));
    if (peer_mapped != '1' || mapped[r] != '1') {
      (*tx)[r].reset();
      (*rx)[r].reset();
    }
  }
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp

namespace braid::collectives::tcp {

absl::Status TcpTransport::SetUpDirectChannel(const std::vector<int>& fds) {
  const int rank = options_.rank;
  const int size = options_.size;
  const absl::Time deadline = options_.connect_deadline;
  std::vector<bool> everyone(size, true);
  everyone[rank] = false;
  std::vector<std::unique_ptr<ShmRing>> tx(size);
  std::vector<std::unique_ptr<ShmRing>> rx(size);
  BRAID_RETURN_IF_ERROR(
      SetUpSharedMemory(fds, everyone, "-d", options_.direct_ring_bytes, &tx, &rx));
  bool direct_ok = true;
  for (int r = 0; r < size; ++r) {
    if (r != rank && (tx[r] == nullptr || rx[r] == nullptr)) direct_ok = false;
  }
  // CMA probe: read each peer's probe word from its memory.
  bool cma_ok = direct_ok && options_.cma;
  std::string cma_why = options_.cma ? "" : "disabled by the cma option";
  std::vector<int64_t> pids(size, 0);
  pids[rank] = getpid();
  for (int r = 0; r < size && cma_ok; ++r) {
    if (r == rank) continue;
    pids[r] = rx[r]->owner_pid();
    uint64_t value = 0;
    iovec local = {&value, sizeof(value)};
    iovec remote = {reinterpret_cast<void*>(rx[r]->owner_probe_address()), sizeof(value)};
    const ssize_t n = process_vm_readv(static_cast<pid_t>(pids[r]), &local, 1, &remote, 1, 0);
    if (n != static_cast<ssize_t>(sizeof(value)) || value != ShmRing::kProbeValue) {
      cma_ok = false;
      cma_why = absl::StrCat("process_vm_readv of rank ", r, " (pid ", pids[r], ") failed: ",
                             n < 0 ? strerror(errno) : "wrong probe value",
                             " (ptrace_scope, a seccomp filter or different users forbid it)");
    }
  }
  // Everyone must agree: one byte to every peer, bit 0 direct, bit 1 CMA.
  const char mine = static_cast<char>('0' + (direct_ok ? 1 : 0) + (cma_ok ? 2 : 0));
  for (int r = 0; r < size; ++r) {
    if (r != rank) BRAID_RETURN_IF_ERROR(WriteFully(fds[r], &mine, 1, deadline));
  }
  bool all_direct = direct_ok;
  bool all_cma = cma_ok;
  for (int r = 0; r < size; ++r) {
    if (r == rank) continue;
    char theirs = '0';
    BRAID_RETURN_IF_ERROR(ReadFully(fds[r], &theirs, 1, deadline));
    const int bits = theirs - '0';
    if ((bits & 1) == 0) all_direct = false;
    if ((bits & 2) == 0) {
      if (all_cma && cma_ok) cma_why = absl::StrCat("rank ", r, " cannot use it");
      all_cma = false;
    }
  }
  if (!all_direct) {
    BRAID_VLOG(1) << "tcp: no direct channel (a shared-memory ring could not be set up); "
                     "small collectives use the frame path";
    return absl::OkStatus();
  }
  if (!all_cma) {
    BRAID_VLOG(1) << "tcp: cross-memory attach off: " << cma_why
                  << "; large all-reduces use the shared-memory ring";
  }
  direct_ = std::make_unique<DirectChannel>(rank, std::move(tx), std::move(rx), std::move(pids),
                                            all_cma, DirectWaitPolicy::ForRanks(size));
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
