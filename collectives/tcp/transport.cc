// TcpTransport steady state: the progress thread, sending, fault detection
// and shutdown. Bootstrap is in bootstrap.cc.
#include "collectives/tcp/transport.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/tcp/crc32c.h"
#include "collectives/tcp/socket_util.h"

namespace braid::collectives::tcp {
namespace {

constexpr int kTickMs = 5;                           // progress thread housekeeping period
constexpr int kSendSliceMs = 2;                      // abort/death check period of senders
constexpr size_t kMaxEarlyBytes = size_t{256} << 20;  // frames kept for unregistered comms
constexpr size_t kReadBudgetBytes = size_t{8} << 20;  // per peer per epoll round (fairness)

std::string EncodeControlFrame(FrameKind kind, int src, uint64_t comm_id, int64_t epoch,
                               absl::string_view payload, bool checksum) {
  FrameHeader h;
  h.kind = kind;
  h.src_rank = static_cast<uint32_t>(src);
  h.comm_id = comm_id;
  h.epoch = epoch;
  h.payload_bytes = static_cast<uint32_t>(payload.size());
  if (checksum) {
    h.flags |= kFrameFlagCrc;
    h.payload_crc = Crc32c(payload.data(), payload.size());
  }
  std::string out(kFrameHeaderBytes, '\0');
  EncodeFrameHeader(h, reinterpret_cast<uint8_t*>(out.data()));
  out.append(payload.data(), payload.size());
  return out;
}

}  // namespace

TcpTransport::~TcpTransport() {
  if (progress_thread_.joinable()) {
    stop_.store(true);
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
    progress_thread_.join();
  }
  for (auto& p : peers_) {
    if (p != nullptr && p->fd >= 0) close(p->fd);
  }
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void TcpTransport::Register(std::shared_ptr<Inbox> inbox) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = inbox->comm_id();
  inboxes_[id] = inbox;
  auto it = early_.find(id);
  if (it != early_.end()) {
    std::vector<std::unique_ptr<Frame>> keep;
    for (auto& f : it->second) {
      const size_t bytes = f->header.payload_bytes;
      switch (inbox->Deliver(f)) {
        case Inbox::DeliverResult::kAccepted:
          early_bytes_ -= bytes;
          break;
        case Inbox::DeliverResult::kStale:
          early_bytes_ -= bytes;
          stale_frames_.fetch_add(1);
          break;
        case Inbox::DeliverResult::kFuture:
          keep.push_back(std::move(f));
          break;
      }
    }
    if (keep.empty()) {
      early_.erase(it);
    } else {
      it->second = std::move(keep);
    }
  }
  for (int g = 0; g < static_cast<int>(inbox->members().size()); ++g) {
    const int global = inbox->members()[g];
    if (global != options_.rank && !peer_status_[global].ok()) {
      inbox->OnPeerFailed(global, peer_status_[global]);
    }
  }
}

void TcpTransport::Unregister(const Inbox* inbox) {
  absl::MutexLock lock(&mu_);
  auto it = inboxes_.find(inbox->comm_id());
  if (it != inboxes_.end() && it->second.get() == inbox) inboxes_.erase(it);
}

absl::Status TcpTransport::PeerStatus(int peer) const {
  absl::MutexLock lock(&mu_);
  return peer_status_[peer];
}

void TcpTransport::SendAbort(const std::vector<int>& dsts, uint64_t comm_id, int64_t epoch,
                             std::string payload) {
  {
    absl::MutexLock lock(&mu_);
    for (int dst : dsts) {
      if (dst == options_.rank || peers_[dst] == nullptr) continue;
      pending_aborts_.push_back(
          {dst, EncodeControlFrame(FrameKind::kAbort, options_.rank, comm_id, epoch, payload,
                                   options_.checksum)});
    }
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

ssize_t TcpTransport::WriteSome(Peer& p, const iovec* iov, int iovcnt) {
  if (p.tx == nullptr) {
    msghdr msg = {};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = static_cast<size_t>(iovcnt);
    return sendmsg(p.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  size_t total = 0;
  for (int i = 0; i < iovcnt; ++i) {
    const size_t n = p.tx->Write(iov[i].iov_base, iov[i].iov_len);
    total += n;
    if (n < iov[i].iov_len) break;
  }
  if (total > 0 && p.tx->TakeDoorbell()) {
    const char bell = 0;
    [[maybe_unused]] ssize_t rc = send(p.fd, &bell, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  if (total == 0) {
    errno = EAGAIN;
    return -1;
  }
  return static_cast<ssize_t>(total);
}

void TcpTransport::WaitWritable(Peer& p, int max_ms) {
  if (p.tx != nullptr) {
    p.tx->WaitForSpace(absl::Milliseconds(max_ms));
    return;
  }
  pollfd pfd = {p.fd, POLLOUT, 0};
  poll(&pfd, 1, max_ms);
}

void TcpTransport::FlushPendingNonBlocking(Peer& p) {
  p.send_mu.AssertHeld();
  while (!p.pending_out.empty()) {
    iovec iov = {p.pending_out.data(), p.pending_out.size()};
    const ssize_t n = WriteSome(p, &iov, 1);
    if (n <= 0) return;
    p.pending_out.erase(0, static_cast<size_t>(n));
  }
}

absl::Status TcpTransport::Send(int dst, FrameHeader header, const uint8_t* data, size_t bytes,
                                uint64_t base_offset, absl::Time deadline, const Inbox& inbox) {
  Peer& p = *peers_[dst];
  header.src_rank = static_cast<uint32_t>(options_.rank);
  const size_t max_payload = std::min(options_.frame_payload_bytes, kMaxFramePayloadBytes);
  // Why the send must stop now, or OK to go on.
  auto interrupted = [&]() -> absl::Status {
    absl::Status e = inbox.error();
    if (!e.ok()) return e;
    if (p.failed.load() || p.closed.load()) {
      absl::Status ps = PeerStatus(dst);
      if (ps.ok()) ps = absl::AbortedError("the peer closed its connection");
      return ps;
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("timed out (op_timeout) sending to the peer");
    }
    return absl::OkStatus();
  };

  absl::MutexLock lock(&p.send_mu);
  // Whatever the progress thread left half-sent goes first.
  while (!p.pending_out.empty()) {
    FlushPendingNonBlocking(p);
    if (p.pending_out.empty()) break;
    absl::Status why = interrupted();
    if (!why.ok()) return why;
    WaitWritable(p, kSendSliceMs);
  }
  size_t sent_total = 0;
  bool first = true;
  while (sent_total < bytes || first) {
    first = false;
    const size_t n = std::min(max_payload, bytes - sent_total);
    FrameHeader h = header;
    h.offset = base_offset + sent_total;
    h.payload_bytes = static_cast<uint32_t>(n);
    if (options_.checksum) {
      h.flags |= kFrameFlagCrc;
      h.payload_crc = Crc32c(data + sent_total, n);
    }
    uint8_t hdr[kFrameHeaderBytes];
    EncodeFrameHeader(h, hdr);
    size_t done = 0;
    const size_t frame_bytes = kFrameHeaderBytes + n;
    while (done < frame_bytes) {
      iovec iov[2];
      int iovcnt = 0;
      if (done < kFrameHeaderBytes) {
        iov[iovcnt++] = {hdr + done, kFrameHeaderBytes - done};
        if (n > 0) iov[iovcnt++] = {const_cast<uint8_t*>(data + sent_total), n};
      } else {
        const size_t off = done - kFrameHeaderBytes;
        iov[iovcnt++] = {const_cast<uint8_t*>(data + sent_total + off), n - off};
      }
      const ssize_t w = WriteSome(p, iov, iovcnt);
      if (w > 0) {
        done += static_cast<size_t>(w);
        continue;
      }
      if (w < 0 && errno != EAGAIN && errno != EINTR) {
        const int err = errno;
        absl::Status e = inbox.error();
        if (!e.ok()) return e;
        return ErrnoStatus(absl::StatusCode::kAborted, "tcp send to the peer failed", err);
      }
      absl::Status why = interrupted();
      if (!why.ok()) {
        if (done > 0 && !p.failed.load()) {
          // Keep the stream framed: the rest of this frame goes out later from
          // a copy, and the caller's buffer is free now.
          std::string rest;
          if (done < kFrameHeaderBytes) {
            rest.assign(reinterpret_cast<char*>(hdr) + done, kFrameHeaderBytes - done);
            rest.append(reinterpret_cast<const char*>(data + sent_total), n);
          } else {
            rest.assign(reinterpret_cast<const char*>(data + sent_total + done - kFrameHeaderBytes),
                        frame_bytes - done);
          }
          p.pending_out = std::move(rest);
        }
        return why;
      }
      WaitWritable(p, kSendSliceMs);
    }
    sent_total += n;
  }
  return absl::OkStatus();
}

void TcpTransport::Run() {
  pthread_setname_np(pthread_self(), "braid-tcp-io");
  epoll_event events[64];
  while (!stop_.load()) {
    int timeout_ms = kTickMs;
    if (has_shm_) {
      DrainRings(absl::Now());
      // Arm, then look again: a producer either sees the flag and rings the
      // doorbell, or wrote before the look and we do not sleep.
      for (auto& p : peers_) {
        if (p == nullptr || p->rx == nullptr || p->failed.load()) continue;
        p->rx->ArmDoorbell();
        if (p->rx->Readable() > 0) timeout_ms = 0;
      }
    }
    const int n = epoll_wait(epoll_fd_, events, 64, timeout_ms);
    const absl::Time now = absl::Now();
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      const int peer = static_cast<int>(events[i].data.u64);
      if (peer == options_.size) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = read(wake_fd_, &v, sizeof(v));
        woken = true;
        continue;
      }
      ReadPeer(peer, now);
    }
    // Housekeeping once per tick (not per burst of reads), or at once when
    // woken for queued abort frames.
    const absl::Time after = absl::Now();
    if (woken || after - last_housekeeping_ >= absl::Milliseconds(kTickMs)) {
      last_housekeeping_ = after;
      Tick(after);
    }
  }
  Shutdown();
}

void TcpTransport::DrainRings(absl::Time now) {
  for (int r = 0; r < options_.size; ++r) {
    Peer* p = peers_[r].get();
    if (p == nullptr || p->rx == nullptr || p->failed.load()) continue;
    DrainRing(r, now);
  }
}

void TcpTransport::DrainRing(int peer, absl::Time now) {
  Peer& p = *peers_[peer];
  size_t budget = kReadBudgetBytes;
  while (budget > 0 && !p.failed.load()) {
    absl::Span<uint8_t> buf = p.assembler->NextBuffer();
    const size_t n = p.rx->Read(buf.data(), std::min(buf.size(), budget));
    if (n == 0) {
      if (buf.empty()) {
        if (std::unique_ptr<Frame> f = p.assembler->TakeFrame()) {
          Dispatch(peer, std::move(f));
          continue;
        }
      }
      return;
    }
    p.last_rx = now;
    budget -= n;
    absl::Status s = p.assembler->Commit(n);
    if (!s.ok()) {
      FailPeer(peer, s);
      return;
    }
    if (std::unique_ptr<Frame> f = p.assembler->TakeFrame()) Dispatch(peer, std::move(f));
  }
}

void TcpTransport::ReadPeer(int peer, absl::Time now) {
  Peer& p = *peers_[peer];
  if (p.rx != nullptr) {
    // Doorbells, or the end of the connection: the ring's frames come first
    // (a goodbye in the ring must be seen before the EOF).
    char sink[256];
    ssize_t n;
    while ((n = recv(p.fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0) {
    }
    const int err = errno;
    DrainRing(peer, now);
    if (n == 0 && p.closed.load()) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, p.fd, nullptr);
      p.in_epoll = false;
      shutdown(p.fd, SHUT_RDWR);
    } else if (n == 0) {
      FailPeer(peer, absl::AbortedError("its connection closed without a goodbye (the process "
                                        "died or was killed)"));
    } else if (err != EAGAIN && err != EINTR) {
      FailPeer(peer, ErrnoStatus(absl::StatusCode::kAborted, "its connection failed", err));
    }
    return;
  }
  size_t budget = kReadBudgetBytes;
  while (budget > 0 && !p.failed.load()) {
    absl::Span<uint8_t> buf = p.assembler->NextBuffer();
    const ssize_t n = recv(p.fd, buf.data(), std::min(buf.size(), budget), MSG_DONTWAIT);
    if (n > 0) {
      p.last_rx = now;
      budget -= static_cast<size_t>(n);
      absl::Status s = p.assembler->Commit(static_cast<size_t>(n));
      if (!s.ok()) {
        FailPeer(peer, s);
        return;
      }
      if (std::unique_ptr<Frame> f = p.assembler->TakeFrame()) Dispatch(peer, std::move(f));
      continue;
    }
    if (n == 0) {
      if (p.closed.load()) {
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, p.fd, nullptr);
        p.in_epoll = false;
        shutdown(p.fd, SHUT_RDWR);
      } else {
        FailPeer(peer, absl::AbortedError("its connection closed without a goodbye (the process "
                                          "died or was killed)"));
      }
      return;
    }
    if (errno == EAGAIN || errno == EINTR) return;
    FailPeer(peer, ErrnoStatus(absl::StatusCode::kAborted, "its connection failed", errno));
    return;
  }
}

void TcpTransport::Dispatch(int peer, std::unique_ptr<Frame> frame) {
  Peer& p = *peers_[peer];
  if (static_cast<int>(frame->header.src_rank) != peer) {
    FailPeer(peer, absl::DataLossError("it sent a frame claiming another rank"));
    return;
  }
  switch (frame->header.kind) {
    case FrameKind::kHeartbeat:
      return;
    case FrameKind::kGoodbye: {
      p.closed.store(true);
      absl::MutexLock lock(&mu_);
      for (auto& [id, inbox] : inboxes_) inbox->OnPeerClosed(peer);
      return;
    }
    case FrameKind::kHello:
    case FrameKind::kHelloAck:
      FailPeer(peer, absl::DataLossError("it sent a handshake frame after the handshake"));
      return;
    case FrameKind::kData:
    case FrameKind::kP2P:
    case FrameKind::kAbort:
      break;
  }
  const bool abort = frame->header.kind == FrameKind::kAbort;
  absl::MutexLock lock(&mu_);
  auto it = inboxes_.find(frame->header.comm_id);
  if (it != inboxes_.end()) {
    switch (it->second->Deliver(frame)) {
      case Inbox::DeliverResult::kAccepted:
        if (abort) WakeDirectWaiters();  // the inbox broke: wake its pollers
        return;
      case Inbox::DeliverResult::kStale:
        stale_frames_.fetch_add(1);
        return;
      case Inbox::DeliverResult::kFuture:
        break;
    }
  }
  const size_t bytes = frame->header.payload_bytes;
  if (early_bytes_ + bytes > kMaxEarlyBytes) {
    stale_frames_.fetch_add(1);  // nobody claims them; drop rather than grow without bound
    return;
  }
  early_bytes_ += bytes;
  early_[frame->header.comm_id].push_back(std::move(frame));
}

void TcpTransport::FailPeer(int peer, const absl::Status& why) {
  Peer& p = *peers_[peer];
  if (p.failed.exchange(true)) return;
  if (p.in_epoll) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, p.fd, nullptr);
    p.in_epoll = false;
  }
  shutdown(p.fd, SHUT_RDWR);
  {
    absl::MutexLock lock(&mu_);
    peer_status_[peer] =
        absl::Status(why.code(), absl::StrCat("world rank ", peer, ": ", why.message()));
    for (auto& [id, inbox] : inboxes_) inbox->OnPeerFailed(peer, why);
  }
  WakeDirectWaiters();
}

void TcpTransport::Tick(absl::Time now) {
  const absl::Duration silence_limit = options_.heartbeat_interval * options_.heartbeat_misses;
  if (now - last_tick_ > silence_limit / 2) {
    // This process was not running (stopped, or starved): the silence was ours.
    for (auto& p : peers_) {
      if (p != nullptr) p->last_rx = now;
    }
  }
  last_tick_ = now;

  std::vector<PendingAbort> aborts;
  std::vector<std::shared_ptr<Inbox>> inboxes;
  {
    absl::MutexLock lock(&mu_);
    aborts.swap(pending_aborts_);
    for (auto& [id, inbox] : inboxes_) inboxes.push_back(inbox);
  }
  std::vector<PendingAbort> retry;
  for (PendingAbort& a : aborts) {
    Peer& p = *peers_[a.dst];
    if (p.failed.load() || p.closed.load()) continue;
    if (!p.send_mu.TryLock()) {
      retry.push_back(std::move(a));  // a sender is mid-frame; it stops within a slice
      continue;
    }
    p.pending_out.append(a.frame);
    FlushPendingNonBlocking(p);
    p.send_mu.Unlock();
  }
  if (!retry.empty()) {
    absl::MutexLock lock(&mu_);
    for (auto& a : retry) pending_aborts_.push_back(std::move(a));
  }

  const bool heartbeat_due = now - last_heartbeat_ >= options_.heartbeat_interval;
  if (heartbeat_due) last_heartbeat_ = now;
  for (int r = 0; r < options_.size; ++r) {
    if (peers_[r] == nullptr) continue;
    Peer& p = *peers_[r];
    if (p.failed.load() || p.closed.load()) continue;
    if (now - p.last_rx > silence_limit) {
      FailPeer(r, absl::AbortedError(absl::StrCat(
                      "no heartbeat for ", absl::FormatDuration(now - p.last_rx),
                      " (heartbeat_interval_ms x heartbeat_misses); the process hung or stopped")));
      continue;
    }
    if (!p.send_mu.TryLock()) continue;  // a sender holds it: data is flowing
    if (heartbeat_due && p.pending_out.size() < kFrameHeaderBytes * 4) {
      p.pending_out.append(
          EncodeControlFrame(FrameKind::kHeartbeat, options_.rank, 0, 0, "", false));
    }
    FlushPendingNonBlocking(p);
    p.send_mu.Unlock();
  }
  for (auto& inbox : inboxes) {
    inbox->CheckDeadlines(now);
    inbox->RunTickHook(now);
  }
}

void TcpTransport::Shutdown() {
  // Say goodbye so peers tell a clean exit from a crash, then half-close and
  // drain until they close too (closing with unread data would reset the
  // connection and could destroy the goodbye).
  const absl::Time deadline = absl::Now() + absl::Milliseconds(200);
  const std::string bye = EncodeControlFrame(FrameKind::kGoodbye, options_.rank, 0, 0, "", false);
  std::vector<PendingAbort> aborts;
  {
    absl::MutexLock lock(&mu_);
    aborts.swap(pending_aborts_);  // queued just before the end: they go first
  }
  for (int r = 0; r < options_.size; ++r) {
    Peer* p = peers_[r].get();
    if (p == nullptr || p->failed.load()) continue;
    absl::MutexLock lock(&p->send_mu);
    for (const PendingAbort& a : aborts) {
      if (a.dst == r) p->pending_out.append(a.frame);
    }
    p->pending_out.append(bye);
    while (!p->pending_out.empty() && absl::Now() < deadline) {
      FlushPendingNonBlocking(*p);
      if (p->pending_out.empty()) break;
      WaitWritable(*p, PollTimeoutMs(deadline, kSendSliceMs));
    }
    shutdown(p->fd, SHUT_WR);
  }
  std::vector<pollfd> open;
  for (auto& p : peers_) {
    if (p != nullptr && !p->failed.load() && p->in_epoll) open.push_back({p->fd, POLLIN, 0});
  }
  char sink[65536];
  while (!open.empty() && absl::Now() < deadline) {
    if (poll(open.data(), open.size(), PollTimeoutMs(deadline, 50)) <= 0) continue;
    for (size_t i = 0; i < open.size();) {
      if (open[i].revents == 0) {
        ++i;
        continue;
      }
      const ssize_t n = recv(open[i].fd, sink, sizeof(sink), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        open.erase(open.begin() + static_cast<ptrdiff_t>(i));
      } else {
        open[i].revents = 0;
        ++i;
      }
    }
  }
}

}  // namespace braid::collectives::tcp
