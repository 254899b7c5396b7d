// MpiEngine: the progress engine of the mpi backend (internal to
// collectives/mpi; users see MpiSession and MpiCommunicator).
//
// Threading model (docs/mpi.md):
//   * One engine per MpiSession, with one named thread ("braid-mpi-prog")
//     that tests every outstanding MPI request (MPI_Testall), completes the
//     Works, runs post-processing (avg division) and enforces deadlines.
//     Open MPI progresses non-blocking collectives only inside MPI calls, so
//     this thread is also what moves them forward.
//   * MPI_THREAD_MULTIPLE granted ("direct post"): the posting thread makes
//     the MPI_I* call itself, so a post costs no thread hop; the engine only
//     tests the request.
//   * Otherwise (MPI_THREAD_SERIALIZED): every MPI call (posts, tests,
//     MPI_Comm_split, MPI_Comm_free, ...) runs on the engine thread; posts
//     are queued and started in posting order.
//
// Deadlines and faults: an operation still running at its deadline fails
// with kAborted naming it, and breaks its communicator (later operations fail
// with kFailedPrecondition). Without ULFM a pending collective request cannot
// be cancelled: it stays "orphaned" in the engine, its buffers kept alive,
// until it completes (e.g. a late peer arrives) or the session ends the job
// (MpiSession's destructor calls MPI_Abort when orphans remain).
// Point-to-point requests are cancelled with MPI_Cancel.
//
// Thread-safety: all public methods are thread-safe.
#ifndef BRAID_COLLECTIVES_MPI_MPI_ENGINE_H_
#define BRAID_COLLECTIVES_MPI_MPI_ENGINE_H_

#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "collectives/work.h"

namespace braid::collectives {

// "MPI_ERR_TRUNCATE: message truncated" for an MPI error code.
std::string MpiErrorString(int code);

// An MPI error as a Status: argument errors -> kInvalidArgument, anything
// else -> kAborted (the operation was abandoned). `what` names the call.
absl::Status MpiError(int code, absl::string_view what);

// The state of one MPI communicator shared by its MpiCommunicator and the
// operations in flight on it. Thread-safe.
class MpiCommState {
 public:
  MpiCommState(std::string name, int rank, int size)
      : name_(std::move(name)), rank_(rank), size_(size) {}

  // Set once before the communicator is used, then immutable.
  MPI_Comm comm = MPI_COMM_NULL;

  const std::string& name() const { return name_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

  // Marks the communicator broken with `reason` (the first reason wins).
  void Break(absl::Status reason) ABSL_LOCKS_EXCLUDED(mu_);
  // OK while healthy, else the reason it broke.
  absl::Status broken() const ABSL_LOCKS_EXCLUDED(mu_);
  // Operation sequence numbers for messages ("op #12").
  int64_t NextSeq() { return seq_.fetch_add(1); }
  // Serialises direct posts so collectives start in one order per rank.
  absl::Mutex post_mu;

 private:
  const std::string name_;
  const int rank_;
  const int size_;
  mutable absl::Mutex mu_;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> seq_{0};
};

struct MpiOp;

// The Work of an MpiOp. Under direct posts (MPI_THREAD_MULTIPLE) Wait and
// IsCompleted also test the op's requests on the caller's thread (one thread
// at a time per op), so a waiting caller does not depend on the progress
// thread being scheduled: small operations complete without a thread hop.
class MpiWork final : public SettableWork {
 public:
  void Bind(std::weak_ptr<MpiOp> op, bool direct) {
    op_ = std::move(op);
    direct_ = direct;
  }
  absl::Status Wait(absl::Time deadline) override;
  bool IsCompleted() override;

 private:
  std::weak_ptr<MpiOp> op_;
  bool direct_ = false;
};

// One asynchronous MPI operation. Filled by the poster, then owned by the
// engine until its requests have completed.
struct MpiOp {
  // "MPI_Iallreduce(sum, f32, 1000 elements) op #12 on 'world' rank 1/4".
  std::string name;
  std::shared_ptr<MpiCommState> comm;
  absl::Time deadline = absl::InfiniteFuture();
  // The timeout that set `deadline`, for the error message.
  absl::Duration timeout = absl::InfiniteDuration();
  // Point-to-point: cancelled with MPI_Cancel on timeout or abort.
  bool cancellable = false;
  // Makes the MPI_I* calls, appending their requests. Captures keep the
  // buffers alive until the op is destroyed. A non-OK return completes the op.
  std::function<absl::Status(std::vector<MPI_Request>& requests)> start;
  // Optional: runs on the engine thread once every request completed without
  // error (e.g. divide for avg, check received counts).
  std::function<absl::Status(absl::Span<MPI_Status> statuses)> finish;
  std::shared_ptr<MpiWork> work = std::make_shared<MpiWork>();

  // Engine-private. (`start` is kept after it ran: its captures own buffers.)
  bool started = false;
  std::vector<MPI_Request> requests;
  bool orphaned = false;
  // Whoever sets `busy` (engine or waiter) may touch requests/finished.
  std::atomic<bool> busy{false};
  bool finished = false;  // requests completed and the Work completed
};

class MpiEngine;

// Fills state->comm with a duplicate of `parent` (MPI_Comm_idup, so the wait
// honours `timeout`) using MPI_ERRORS_RETURN. Collective over `parent`.
absl::Status DuplicateComm(MpiEngine& engine, MPI_Comm parent,
                           const std::shared_ptr<MpiCommState>& state, absl::Duration timeout);

class MpiEngine {
 public:
  // Starts the progress thread. `direct_post`: MPI_THREAD_MULTIPLE was granted.
  explicit MpiEngine(bool direct_post);
  ~MpiEngine();
  MpiEngine(const MpiEngine&) = delete;
  MpiEngine& operator=(const MpiEngine&) = delete;

  bool direct_post() const { return direct_post_; }

  // Tests `op`'s requests once from the calling thread unless another thread
  // is testing it; completes its Work when done. Returns whether it is done.
  static bool TryProgress(MpiOp& op);

  // Starts `op` (on this thread under direct post, else queued in order) and
  // returns its Work. Fails the Work with kFailedPrecondition when the
  // communicator is broken and kAborted when the engine is stopping.
  std::shared_ptr<Work> Submit(std::shared_ptr<MpiOp> op) ABSL_LOCKS_EXCLUDED(mu_);

  // Runs `fn` on the engine thread and returns its status; the caller waits
  // until `deadline` (then kDeadlineExceeded, and `fn` still runs later, so it
  // must own what it touches). For blocking MPI calls made only after every
  // peer committed to them (e.g. MPI_Comm_split after an all-gather).
  absl::Status Run(std::function<absl::Status()> fn, absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until no request is outstanding (orphans included) or `deadline`;
  // returns how many operations are still outstanding.
  int Drain(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  // Wakes the progress thread (e.g. after a communicator broke).
  void Wake() ABSL_LOCKS_EXCLUDED(mu_);

  // Fails every queued and running operation with kAborted and joins the
  // thread. Outstanding requests are left to MPI (the session then aborts the
  // job). Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop();
  void StartOp(const std::shared_ptr<MpiOp>& op);
  // Tests every active op once; true when any completed.
  bool Progress();
  void FailOp(MpiOp& op, absl::Status status);
  // REQUIRES: the caller holds op.busy. Tests once; true when finished.
  static bool TestOnce(MpiOp& op);

  const bool direct_post_;
  absl::Mutex mu_;
  std::deque<std::shared_ptr<MpiOp>> incoming_ ABSL_GUARDED_BY(mu_);
  std::deque<std::function<void()>> calls_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  // Operations started and not yet finished (orphans included).
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  // Only the engine thread touches active_.
  std::list<std::shared_ptr<MpiOp>> active_;
  std::thread thread_;
};

}  // namespace braid::collectives

#endif  // BRAID_COLLECTIVES_MPI_MPI_ENGINE_H_
