#include "collectives/tcp/inbox.h"

#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/status_payload.h"

namespace braid::collectives::tcp {

Inbox::Inbox(uint64_t comm_id, int64_t epoch, std::vector<int> members)
    : comm_id_(comm_id), epoch_(epoch), members_(std::move(members)) {
  for (size_t g = 0; g < members_.size(); ++g) group_of_[members_[g]] = static_cast<int>(g);
}

int Inbox::GroupRankOf(int global_rank) const {
  auto it = group_of_.find(global_rank);
  return it == group_of_.end() ? -1 : it->second;
}

void Inbox::BreakLocked(const absl::Status& status) {
  if (error_.ok()) {
    error_ = status;
  } else {
    std::vector<int> more = FailedRanks(status);
    error_ = WithFailedRanks(error_, more);
  }
  broken_.store(true, std::memory_order_release);
  for (auto& [key, recv] : posted_) recv.work->Complete(error_);
  posted_.clear();
  cv_.SignalAll();
}

bool Inbox::Break(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  const bool first = error_.ok();
  BreakLocked(status);
  return first;
}

absl::Status Inbox::error() const {
  // broken_ is set after error_, under mu_: without it there is no error.
  if (!broken()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  return error_;
}

bool Inbox::ApplyLocked(PostedRecv& recv, const Frame& frame, int src_group) {
  const FrameHeader& h = frame.header;
  if (h.offset != recv.got || recv.got + h.payload_bytes > recv.bytes) {
    absl::Status s = absl::InvalidArgumentError(absl::StrCat(
        "tcp Recv from rank ", src_group, " tag ", h.tag, " on communicator ", comm_id_,
        " epoch ", epoch_, ": the matching Send carries more than the ", recv.bytes,
        " bytes posted (or out of order); post Send and Recv with the same shape"));
    recv.work->Complete(s);
    return true;
  }
  if (h.payload_bytes > 0) std::memcpy(recv.dst + recv.got, frame.payload.get(), h.payload_bytes);
  recv.got += h.payload_bytes;
  recv.got_any = true;
  if (recv.got == recv.bytes) {
    recv.work->Complete(absl::OkStatus());
    return true;
  }
  return false;
}

Inbox::DeliverResult Inbox::Deliver(std::unique_ptr<Frame>& frame) {
  const FrameHeader& h = frame->header;
  if (h.epoch < epoch_) return DeliverResult::kStale;
  if (h.epoch > epoch_) return DeliverResult::kFuture;
  const int src_global = static_cast<int>(h.src_rank);
  const int src_group = GroupRankOf(src_global);
  if (src_group < 0) return DeliverResult::kStale;
  absl::MutexLock lock(&mu_);
  switch (h.kind) {
    case FrameKind::kData: {
      messages_[MsgKey(src_global, h.op_seq, h.tag)].push_back(std::move(frame));
      cv_.SignalAll();
      return DeliverResult::kAccepted;
    }
    case FrameKind::kP2P: {
      const P2PKey key(src_global, h.tag, h.op_seq);
      auto it = posted_.find(key);
      if (it != posted_.end()) {
        if (ApplyLocked(it->second, *frame, src_group)) posted_.erase(it);
        frame.reset();
      } else {
        unexpected_[key].push_back(std::move(frame));
      }
      return DeliverResult::kAccepted;
    }
    case FrameKind::kAbort: {
      std::vector<int> failed;
      std::string message;
      absl::Status parsed = DecodeAbortPayload(
          absl::MakeConstSpan(frame->payload.get(), h.payload_bytes), &failed, &message);
      absl::Status s = absl::AbortedError(absl::StrCat(
          "communicator ", comm_id_, " epoch ", epoch_, " was aborted by rank ", src_group,
          ": ", parsed.ok() ? message : parsed.ToString(),
          "; rebuild it (Shrink over the survivors) and retry the step"));
      BreakLocked(WithFailedRanks(s, failed));
      frame.reset();
      return DeliverResult::kAccepted;
    }
    case FrameKind::kHello:
    case FrameKind::kHelloAck:
    case FrameKind::kHeartbeat:
    case FrameKind::kGoodbye:
      break;
  }
  return DeliverResult::kStale;
}

void Inbox::OnPeerFailed(int global_rank, const absl::Status& why) {
  const int g = GroupRankOf(global_rank);
  if (g < 0) return;
  absl::Status s(why.code(), absl::StrCat("communicator ", comm_id_, " epoch ", epoch_,
                                          ": peer rank ", g, " (world rank ", global_rank,
                                          ") failed: ", why.message(),
                                          "; rebuild the communicator (Shrink) and retry"));
  absl::MutexLock lock(&mu_);
  BreakLocked(WithFailedRanks(s, {g}));
}

void Inbox::OnPeerClosed(int global_rank) {
  const int g = GroupRankOf(global_rank);
  if (g < 0) return;
  absl::MutexLock lock(&mu_);
  closed_.insert(global_rank);
  for (auto it = posted_.begin(); it != posted_.end();) {
    if (std::get<0>(it->first) == global_rank) {
      it->second.work->Complete(WithFailedRanks(
          absl::AbortedError(absl::StrCat("tcp Recv: peer rank ", g,
                                          " closed its connection before sending")),
          {g}));
      it = posted_.erase(it);
    } else {
      ++it;
    }
  }
  cv_.SignalAll();
}

void Inbox::SetTickHook(std::function<void(absl::Time)> hook) {
  absl::MutexLock lock(&hook_mu_);
  tick_hook_ = std::move(hook);
}

void Inbox::RunTickHook(absl::Time now) {
  absl::MutexLock lock(&hook_mu_);
  if (tick_hook_) tick_hook_(now);
}

void Inbox::CheckDeadlines(absl::Time now) {
  absl::MutexLock lock(&mu_);
  for (auto it = posted_.begin(); it != posted_.end(); ++it) {
    if (it->second.deadline <= now) {
      const int g = GroupRankOf(std::get<0>(it->first));
      BreakLocked(WithFailedRanks(
          absl::AbortedError(absl::StrCat("tcp Recv from rank ", g, " tag ",
                                          std::get<1>(it->first), " on communicator ", comm_id_,
                                          " timed out (op_timeout); the peer hung or never sent")),
          {g}));
      return;
    }
  }
}

absl::Status Inbox::Receive(int src, uint64_t op_seq, uint32_t tag, uint64_t base, size_t bytes,
                            absl::Time deadline,
                            absl::FunctionRef<absl::Status(size_t, const uint8_t*, size_t)> sink) {
  const int src_global = members_[src];
  const MsgKey key(src_global, op_seq, tag);
  size_t got = 0;
  bool first = true;
  while (got < bytes || (bytes == 0 && first)) {
    std::unique_ptr<Frame> frame;
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        auto it = messages_.find(key);
        if (it != messages_.end() && !it->second.empty()) {
          frame = std::move(it->second.front());
          it->second.pop_front();
          if (it->second.empty()) messages_.erase(it);
          break;
        }
        if (!error_.ok()) return error_;
        if (closed_.count(src_global) != 0) {
          return WithFailedRanks(
              absl::AbortedError(absl::StrCat("op ", op_seq, " on communicator ", comm_id_,
                                              ": peer rank ", src,
                                              " closed its connection before sending step ", tag,
                                              "; the ranks did not post the same operations")),
              {src});
        }
        if (cv_.WaitWithDeadline(&mu_, deadline) && absl::Now() >= deadline) {
          return WithFailedRanks(
              absl::AbortedError(absl::StrCat("op ", op_seq, " on communicator ", comm_id_,
                                              " epoch ", epoch_, " timed out (op_timeout) waiting ",
                                              "for rank ", src, " (step ", tag,
                                              "); the peer hung or is far behind")),
              {src});
        }
      }
    }
    first = false;
    const FrameHeader& h = frame->header;
    if (h.offset != base + got || got + h.payload_bytes > bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "op ", op_seq, " on communicator ", comm_id_, ": rank ", src, " sent bytes [",
          h.offset - base, ", ", h.offset - base + h.payload_bytes, ") of step ", tag,
          " but this rank expects ", bytes,
          "; every rank must post the same operation with the same dtype and count"));
    }
    if (h.payload_bytes > 0) {
      absl::Status s = sink(got, frame->payload.get(), h.payload_bytes);
      if (!s.ok()) return s;
    }
    got += h.payload_bytes;
  }
  return absl::OkStatus();
}

std::shared_ptr<Work> Inbox::PostRecv(int src, uint32_t tag, void* dst, size_t bytes,
                                      absl::Time deadline) {
  const int src_global = members_[src];
  auto work = std::make_shared<SettableWork>();
  absl::MutexLock lock(&mu_);
  if (!error_.ok()) {
    work->Complete(error_);
    return work;
  }
  const uint64_t number = next_recv_number_[{src_global, tag}]++;
  const P2PKey key(src_global, tag, number);
  PostedRecv recv;
  recv.dst = static_cast<uint8_t*>(dst);
  recv.bytes = bytes;
  recv.deadline = deadline;
  recv.work = work;
  auto it = unexpected_.find(key);
  if (it != unexpected_.end()) {
    std::deque<std::unique_ptr<Frame>> frames = std::move(it->second);
    unexpected_.erase(it);
    for (auto& f : frames) {
      if (ApplyLocked(recv, *f, src)) return work;
    }
  }
  if (bytes == 0 && recv.got_any) {
    work->Complete(absl::OkStatus());
    return work;
  }
  if (closed_.count(src_global) != 0) {
    work->Complete(WithFailedRanks(
        absl::AbortedError(absl::StrCat("tcp Recv: peer rank ", src, " has closed its connection")),
        {src}));
    return work;
  }
  posted_.emplace(key, std::move(recv));
  return work;
}

}  // namespace braid::collectives::tcp
