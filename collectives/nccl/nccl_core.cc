#include "collectives/nccl/nccl_core.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace braid::collectives::nccl_internal {

absl::Status FromNccl(ncclResult_t result, absl::string_view what, ncclComm_t comm) {
  if (result == ncclSuccess || result == ncclInProgress) return absl::OkStatus();
  std::string msg = absl::StrCat(what, " failed: ", ncclGetErrorString(result));
  if (comm != nullptr) {
    const char* last = ncclGetLastError(comm);
    if (last != nullptr && last[0] != '\0') absl::StrAppend(&msg, " (", last, ")");
  }
  switch (result) {
    case ncclInvalidArgument:
    case ncclInvalidUsage:
      return absl::InvalidArgumentError(msg);
    case ncclRemoteError:
    case ncclSystemError:
      return absl::AbortedError(absl::StrCat(msg, "; a peer or the network failed: recover"));
    default:
      return absl::InternalError(msg);
  }
}

absl::Status FromCuda(cudaError_t error, absl::string_view what) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, " failed: ", cudaGetErrorString(error)));
}

absl::Status WaitReady(ncclComm_t comm, absl::string_view what, absl::Time deadline) {
  absl::Duration sleep = absl::Microseconds(50);
  while (true) {
    ncclResult_t state = ncclSuccess;
    ncclResult_t r = ncclCommGetAsyncError(comm, &state);
    if (r != ncclSuccess) return FromNccl(r, "ncclCommGetAsyncError", comm);
    if (state != ncclInProgress) return FromNccl(state, what, comm);
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, " still in progress at the deadline: a peer is missing or slow"));
    }
    absl::SleepFor(sleep);
    sleep = std::min(sleep * 2, absl::Milliseconds(2));
  }
}

// ---- NcclWork ---------------------------------------------------------------------

NcclWork::~NcclWork() {
  absl::MutexLock lock(&mu_);
  if (event_ != nullptr) cudaEventDestroy(event_);
}

void NcclWork::SetEvent(cudaEvent_t event) {
  absl::MutexLock lock(&mu_);
  event_ = event;
}

void NcclWork::Complete(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (done_) return;
  done_ = true;
  status_ = std::move(status);
}

bool NcclWork::PollLocked() {
  if (!device_done_ && event_ != nullptr) {
    const cudaError_t q = cudaEventQuery(event_);
    if (q == cudaSuccess) {
      device_done_ = true;
    } else if (q != cudaErrorNotReady) {
      device_done_ = true;
      if (!done_) {
        done_ = true;
        status_ = FromCuda(q, absl::StrCat(name_, ": cudaEventQuery"));
      }
    }
  }
  if (device_done_ && !done_) {
    done_ = true;
    status_ = absl::OkStatus();
  }
  return done_;
}

bool NcclWork::DeviceDone() {
  absl::MutexLock lock(&mu_);
  PollLocked();
  return device_done_ || event_ == nullptr;
}

bool NcclWork::IsCompleted() {
  bool needs_launch = false;
  {
    absl::MutexLock lock(&mu_);
    if (PollLocked()) return true;
    needs_launch = event_ == nullptr;
  }
  if (needs_launch) {
    if (std::shared_ptr<NcclCore> core = core_.lock()) core->FlushP2P();
  }
  absl::MutexLock lock(&mu_);
  return PollLocked();
}

absl::Status NcclWork::Wait(absl::Time deadline) {
  absl::Duration sleep = absl::Microseconds(5);
  while (!IsCompleted()) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(name_, " still running at the Wait deadline"));
    }
    absl::SleepFor(sleep);
    sleep = std::min(sleep * 2, absl::Microseconds(500));
  }
  absl::MutexLock lock(&mu_);
  return status_;
}

// ---- NcclCore ---------------------------------------------------------------------

NcclCore::~NcclCore() {
  cudaSetDevice(device_);
  if (comm != nullptr) {
    if (aborted_) {
      // ncclCommAbort already freed it.
    } else {
      ncclCommDestroy(comm);
    }
  }
  if (stream != nullptr) cudaStreamDestroy(stream);
  if (barrier_buffer != nullptr) cudaFree(barrier_buffer);
}

std::string NcclCore::OpName(absl::string_view op) {
  return absl::StrCat(op, " op #", seq_.fetch_add(1), " on nccl '", name_, "' rank ", rank_, "/",
                      size_, " (cuda:", device_, ")");
}

absl::Status NcclCore::broken() {
  absl::MutexLock lock(&mu_);
  return broken_;
}

absl::Status NcclCore::RecordLocked(const std::shared_ptr<NcclWork>& work, absl::Time deadline,
                                    std::vector<runtime::Tensor> keep_alive) {
  cudaEvent_t event = nullptr;
  absl::Status s = FromCuda(cudaEventCreateWithFlags(&event, cudaEventDisableTiming),
                            "cudaEventCreateWithFlags");
  if (s.ok()) s = FromCuda(cudaEventRecord(event, stream), "cudaEventRecord");
  if (!s.ok()) {
    if (event != nullptr) cudaEventDestroy(event);
    return s;
  }
  work->SetEvent(event);
  pending_.push_back(Pending{work, deadline, std::move(keep_alive)});
  return absl::OkStatus();
}

std::shared_ptr<Work> NcclCore::Launch(
    std::string name, std::vector<runtime::Tensor> keep_alive,
    const std::function<absl::Status(std::vector<runtime::Tensor>&)>& enqueue) {
  auto work = std::make_shared<NcclWork>(name, weak_from_this());
  absl::MutexLock lock(&mu_);
  if (!broken_.ok()) {
    work->Complete(absl::FailedPreconditionError(absl::StrCat(
        name, " refused: the communicator is broken (", broken_.message(), "); rebuild it")));
    return work;
  }
  FlushP2PLocked();
  absl::Status s = FromCuda(cudaSetDevice(device_), "cudaSetDevice");
  if (s.ok()) s = enqueue(keep_alive);
  if (s.ok()) s = WaitReady(comm, name, absl::Now() + op_timeout_);
  if (s.ok()) s = RecordLocked(work, absl::Now() + op_timeout_, std::move(keep_alive));
  if (!s.ok()) work->Complete(absl::Status(s.code(), absl::StrCat(name, ": ", s.message())));
  return work;
}

std::shared_ptr<Work> NcclCore::QueueP2P(std::string name, bool is_send,
                                         const runtime::Tensor& tensor, int peer) {
  auto work = std::make_shared<NcclWork>(std::move(name), weak_from_this());
  absl::MutexLock lock(&mu_);
  if (!broken_.ok()) {
    work->Complete(absl::FailedPreconditionError(absl::StrCat(
        work->name(), " refused: the communicator is broken (", broken_.message(), ")")));
    return work;
  }
  queued_.push_back(QueuedP2P{is_send, tensor, peer, work, absl::Now() + op_timeout_});
  return work;
}

void NcclCore::FlushP2P() {
  absl::MutexLock lock(&mu_);
  FlushP2PLocked();
}

void NcclCore::FlushP2PLocked() {
  if (queued_.empty() || !broken_.ok()) return;
  std::vector<QueuedP2P> batch;
  batch.swap(queued_);
  absl::Status s = FromCuda(cudaSetDevice(device_), "cudaSetDevice");
  if (s.ok()) s = FromNccl(ncclGroupStart(), "ncclGroupStart", comm);
  for (const QueuedP2P& p : batch) {
    if (!s.ok()) break;
    const runtime::Tensor& t = p.tensor;
    ncclDataType_t type = ncclUint8;  // bytes: NCCL p2p needs no element type
    const size_t bytes = t.nbytes();
    s = p.is_send
            ? FromNccl(ncclSend(t.raw_data(), bytes, type, p.peer, comm, stream), "ncclSend", comm)
            : FromNccl(ncclRecv(t.raw_data(), bytes, type, p.peer, comm, stream), "ncclRecv", comm);
  }
  absl::Status end = FromNccl(ncclGroupEnd(), "ncclGroupEnd", comm);
  if (s.ok()) s = end;
  if (s.ok()) s = WaitReady(comm, "grouped ncclSend/ncclRecv", absl::Now() + op_timeout_);
  for (QueuedP2P& p : batch) {
    absl::Status r = s.ok() ? RecordLocked(p.work, p.deadline, {p.tensor}) : s;
    if (!r.ok())
      p.work->Complete(absl::Status(r.code(), absl::StrCat(p.work->name(), ": ", r.message())));
  }
}

void NcclCore::AbortLocked(absl::Status status) {
  if (broken_.ok()) broken_ = status;
  if (!aborted_ && comm != nullptr) {
    cudaSetDevice(device_);
    ncclCommAbort(comm);
    aborted_ = true;
  }
  for (Pending& p : pending_) p.work->Complete(status);
  for (QueuedP2P& q : queued_) q.work->Complete(status);
  queued_.clear();
}

void NcclCore::Abort(absl::Status status) {
  absl::MutexLock lock(&mu_);
  AbortLocked(std::move(status));
}

void NcclCore::Check() {
  absl::MutexLock lock(&mu_);
  if (comm != nullptr && !aborted_) {
    ncclResult_t state = ncclSuccess;
    if (ncclCommGetAsyncError(comm, &state) == ncclSuccess && state != ncclSuccess &&
        state != ncclInProgress) {
      AbortLocked(absl::AbortedError(
          absl::StrCat("nccl '", name_, "' rank ", rank_, "/", size_, ": asynchronous error ",
                       ncclGetErrorString(state), " (", ncclGetLastError(comm),
                       "); the communicator was aborted: recover and rebuild it")));
    }
  }
  const absl::Time now = absl::Now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->work->DeviceDone()) {
      it->work->IsCompleted();  // completes it OK if nothing failed it first
      it = pending_.erase(it);
      continue;
    }
    if (now > it->deadline && broken_.ok()) {
      AbortLocked(absl::AbortedError(absl::StrCat(
          it->work->name(), " did not complete within ", absl::FormatDuration(op_timeout_),
          " (op_timeout): a peer died, hangs, or posted a different operation; the "
          "communicator was aborted: recover (Shrink) or rebuild it")));
    }
    ++it;
  }
  for (QueuedP2P& q : queued_) {
    if (now > q.deadline && broken_.ok()) {
      AbortLocked(absl::AbortedError(absl::StrCat(q.work->name(), " was never launched within ",
                                                  absl::FormatDuration(op_timeout_))));
      break;
    }
  }
}

bool NcclCore::Drain(absl::Time deadline) {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      FlushP2PLocked();
      bool all_done = true;
      for (Pending& p : pending_) all_done = all_done && p.work->DeviceDone();
      if (all_done) return true;
    }
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Microseconds(200));
  }
}

}  // namespace braid::collectives::nccl_internal
