#include "collectives/mpi/mpi_engine.h"

#include <pthread.h>
#include <sched.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace braid::collectives {
namespace {

// Polling: after this many rounds without progress the thread sleeps,
// starting at kMinSleep and doubling up to kMaxSleep. Short sleeps keep
// oversubscribed ranks (more ranks than cores) from starving each other.
constexpr int kSpinRounds = 64;
constexpr absl::Duration kMinSleep = absl::Microseconds(20);
constexpr absl::Duration kMaxSleep = absl::Microseconds(50);
constexpr absl::Duration kIdleSleep = absl::Milliseconds(100);

}  // namespace

std::string MpiErrorString(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return absl::StrCat("MPI error ", code);
  int error_class = code;
  MPI_Error_class(code, &error_class);
  return absl::StrCat(std::string(text, len), " (MPI error class ", error_class, ")");
}

absl::Status MpiError(int code, absl::string_view what) {
  int error_class = code;
  MPI_Error_class(code, &error_class);
  const std::string msg = absl::StrCat(what, " failed: ", MpiErrorString(code));
  switch (error_class) {
    case MPI_ERR_ARG:
    case MPI_ERR_COUNT:
    case MPI_ERR_TYPE:
    case MPI_ERR_ROOT:
    case MPI_ERR_RANK:
    case MPI_ERR_TAG:
    case MPI_ERR_BUFFER:
    case MPI_ERR_OP:
    case MPI_ERR_TRUNCATE:
      return absl::InvalidArgumentError(msg);
    default:
      return absl::AbortedError(
          absl::StrCat(msg,
                       "; the operation was abandoned (a peer may have failed): end the job "
                       "so the launcher restarts it"));
  }
}

absl::Status DuplicateComm(MpiEngine& engine, MPI_Comm parent,
                           const std::shared_ptr<MpiCommState>& state, absl::Duration timeout) {
  auto op = std::make_shared<MpiOp>();
  op->name = absl::StrCat("MPI_Comm_idup for '", state->name(), "' rank ", state->rank(), "/",
                          state->size());
  op->comm = state;
  op->timeout = timeout;
  op->deadline = absl::Now() + timeout;
  op->start = [state, parent](std::vector<MPI_Request>& requests) {
    MPI_Request request = MPI_REQUEST_NULL;
    if (int rc = MPI_Comm_idup(parent, &state->comm, &request); rc != MPI_SUCCESS) {
      return MpiError(rc, "MPI_Comm_idup");
    }
    requests.push_back(request);
    return absl::OkStatus();
  };
  op->finish = [state](absl::Span<MPI_Status>) {
    if (int rc = MPI_Comm_set_errhandler(state->comm, MPI_ERRORS_RETURN); rc != MPI_SUCCESS) {
      return MpiError(rc, "MPI_Comm_set_errhandler");
    }
    return absl::OkStatus();
  };
  return engine.Submit(op)->Wait(op->deadline + absl::Seconds(1));
}

// How long a waiter tests its own requests before sleeping until the
// progress thread completes the op.
constexpr absl::Duration kWaiterSpin = absl::Microseconds(200);

absl::Status MpiWork::Wait(absl::Time deadline) {
  if (direct_) {
    const absl::Time spin_until = std::min(deadline, absl::Now() + kWaiterSpin);
    while (!SettableWork::IsCompleted()) {
      std::shared_ptr<MpiOp> op = op_.lock();
      if (op == nullptr || MpiEngine::TryProgress(*op) || absl::Now() >= spin_until) break;
      sched_yield();
    }
  }
  return SettableWork::Wait(deadline);
}

bool MpiWork::IsCompleted() {
  if (SettableWork::IsCompleted()) return true;
  if (direct_) {
    if (std::shared_ptr<MpiOp> op = op_.lock()) MpiEngine::TryProgress(*op);
  }
  return SettableWork::IsCompleted();
}

void MpiCommState::Break(absl::Status reason) {
  absl::MutexLock lock(&mu_);
  if (broken_.ok()) broken_ = std::move(reason);
}

absl::Status MpiCommState::broken() const {
  absl::MutexLock lock(&mu_);
  return broken_;
}

MpiEngine::MpiEngine(bool direct_post) : direct_post_(direct_post) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "braid-mpi-prog");
    Loop();
  });
}

MpiEngine::~MpiEngine() { Stop(); }

std::shared_ptr<Work> MpiEngine::Submit(std::shared_ptr<MpiOp> op) {
  op->work->Bind(op, direct_post_);
  std::shared_ptr<Work> work = op->work;
  if (absl::Status broken = op->comm->broken(); !broken.ok()) {
    op->work->Complete(absl::FailedPreconditionError(
        absl::StrCat(op->name, " refused: the communicator is broken (", broken.message(),
                     "); rebuild it (without ULFM: restart the job)")));
    return work;
  }
  if (!direct_post_) {
    absl::MutexLock lock(&mu_);
    if (stop_) {
      op->work->Complete(absl::AbortedError(absl::StrCat(op->name, ": the MPI session is ending")));
      return work;
    }
    ++outstanding_;
    incoming_.push_back(std::move(op));
    return work;
  }
  // Direct post: start here, then hand the requests to the engine to test.
  {
    absl::MutexLock post_lock(&op->comm->post_mu);
    absl::Status s = op->start(op->requests);
    if (!s.ok()) {
      op->work->Complete(std::move(s));
      if (op->requests.empty()) return work;
      op->orphaned = true;  // partly started: let the engine reap what was posted
    }
  }
  absl::MutexLock lock(&mu_);
  if (stop_) {
    op->work->Complete(absl::AbortedError(absl::StrCat(op->name, ": the MPI session is ending")));
    return work;
  }
  ++outstanding_;
  op->started = true;
  incoming_.push_back(std::move(op));
  return work;
}

absl::Status MpiEngine::Run(std::function<absl::Status()> fn, absl::Time deadline) {
  struct Result {
    absl::Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    absl::Status status ABSL_GUARDED_BY(mu);
  };
  auto result = std::make_shared<Result>();
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return absl::AbortedError("the MPI session is ending");
    calls_.push_back([result, fn = std::move(fn)] {
      absl::Status s = fn();
      absl::MutexLock l(&result->mu);
      result->status = std::move(s);
      result->done = true;
    });
  }
  absl::MutexLock lock(&result->mu);
  if (!result->mu.AwaitWithDeadline(absl::Condition(&result->done), deadline)) {
    return absl::DeadlineExceededError(
        "MPI call on the progress thread did not finish by the deadline");
  }
  return result->status;
}

int MpiEngine::Drain(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return outstanding_ == 0 || stop_; };
  mu_.AwaitWithDeadline(absl::Condition(&drained), deadline);
  return outstanding_;
}

void MpiEngine::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

void MpiEngine::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void MpiEngine::FailOp(MpiOp& op, absl::Status status) {
  op.work->Complete(std::move(status));
  if (op.orphaned) return;
  op.orphaned = true;
  if (op.cancellable) {
    for (MPI_Request& r : op.requests) {
      if (r != MPI_REQUEST_NULL) MPI_Cancel(&r);
    }
  }
}

void MpiEngine::StartOp(const std::shared_ptr<MpiOp>& op) {
  if (!op->started) {  // queued (serialized mode): start it here
    if (absl::Status broken = op->comm->broken(); !broken.ok()) {
      op->work->Complete(absl::FailedPreconditionError(
          absl::StrCat(op->name, " refused: the communicator is broken (", broken.message(), ")")));
      op->orphaned = true;
    } else if (absl::Status s = op->start(op->requests); !s.ok()) {
      op->work->Complete(std::move(s));
      op->orphaned = true;
    }
    op->started = true;
  }
  active_.push_back(op);
}

bool MpiEngine::TestOnce(MpiOp& op) {
  if (op.finished) return true;
  if (!op.started) return false;
  std::vector<MPI_Status> statuses(op.requests.size(), MPI_Status{});
  int flag = 0;
  const int rc = op.requests.empty() ? MPI_SUCCESS
                                     : MPI_Testall(static_cast<int>(op.requests.size()),
                                                   op.requests.data(), &flag, statuses.data());
  if (op.requests.empty()) flag = 1;
  if (rc != MPI_SUCCESS) {
    int code = rc;
    if (rc == MPI_ERR_IN_STATUS) {
      for (const MPI_Status& st : statuses) {
        if (st.MPI_ERROR != MPI_SUCCESS && st.MPI_ERROR != MPI_ERR_PENDING) code = st.MPI_ERROR;
      }
    }
    op.work->Complete(MpiError(code, op.name));
    op.finished = true;
  } else if (flag) {
    if (!op.orphaned) {
      absl::Status s = op.finish ? op.finish(absl::MakeSpan(statuses)) : absl::OkStatus();
      op.work->Complete(std::move(s));
    }
    op.finished = true;
  }
  return op.finished;
}

bool MpiEngine::TryProgress(MpiOp& op) {
  if (op.busy.exchange(true, std::memory_order_acquire)) return false;
  const bool done = op.orphaned ? op.finished : TestOnce(op);
  op.busy.store(false, std::memory_order_release);
  return done;
}

bool MpiEngine::Progress() {
  bool progressed = false;
  const absl::Time now = absl::Now();
  for (auto it = active_.begin(); it != active_.end();) {
    MpiOp& op = **it;
    if (op.busy.exchange(true, std::memory_order_acquire)) {  // a waiter is testing it
      ++it;
      continue;
    }
    if (!op.orphaned && !op.finished) {
      if (absl::Status broken = op.comm->broken(); !broken.ok()) {
        FailOp(op, absl::AbortedError(absl::StrCat(op.name, " abandoned: ", broken.message())));
      } else if (now > op.deadline) {
        absl::Status timeout = absl::AbortedError(absl::StrCat(
            op.name, " did not complete within ", absl::FormatDuration(op.timeout),
            " (op_timeout): a peer died, hangs, or posted a different operation. Open MPI has no "
            "ULFM, so the job cannot recover in place: end it (exit non-zero or "
            "MpiSession::AbortJob) so the launcher restarts it from the last checkpoint"));
        op.comm->Break(timeout);
        FailOp(op, timeout);
      }
    }
    const bool done = TestOnce(op);
    op.busy.store(false, std::memory_order_release);
    if (done) {
      progressed = true;
      it = active_.erase(it);
      absl::MutexLock lock(&mu_);
      --outstanding_;
    } else {
      ++it;
    }
  }
  return progressed;
}

void MpiEngine::Loop() {
  int idle_rounds = 0;
  absl::Duration sleep = kMinSleep;
  while (true) {
    std::deque<std::shared_ptr<MpiOp>> incoming;
    std::deque<std::function<void()>> calls;
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      auto has_input = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || wake_ || !incoming_.empty() || !calls_.empty();
      };
      if (active_.empty()) {
        mu_.AwaitWithTimeout(absl::Condition(&has_input), kIdleSleep);
      } else if (idle_rounds > kSpinRounds) {
        mu_.AwaitWithTimeout(absl::Condition(&has_input), sleep);
        sleep = std::min(sleep * 2, kMaxSleep);
      }
      wake_ = false;
      incoming.swap(incoming_);
      calls.swap(calls_);
      stopping = stop_;
    }
    // Ops first: a call queued after an op (e.g. MPI_Comm_free) must see it started.
    for (auto& op : incoming) StartOp(op);
    for (auto& call : calls) call();
    if (stopping) {
      for (auto& op : active_) {
        op->work->Complete(
            absl::AbortedError(absl::StrCat(op->name, ": the MPI session is ending")));
      }
      return;
    }
    if (Progress() || !incoming.empty() || !calls.empty()) {
      idle_rounds = 0;
      sleep = kMinSleep;
    } else if (++idle_rounds <= kSpinRounds) {
      sched_yield();
    }
  }
}

}  // namespace braid::collectives
