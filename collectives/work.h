// Work: the handle of one asynchronous collective or point-to-point operation.
//
// Every Communicator operation returns a Work at once; the operation proceeds
// in the backend's progress engine while the caller computes. Wait is the one
// failure channel: argument errors found when the operation was posted, peer
// failures, aborts and timeouts all arrive there.
//
// Thread-safety: Wait and IsCompleted may be called from any thread, several
// times; once completed, the status never changes.
#ifndef BRAID_COLLECTIVES_WORK_H_
#define BRAID_COLLECTIVES_WORK_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace braid::collectives {

class Work {
 public:
  virtual ~Work() = default;

  // Blocks until the operation completes or `deadline` passes. Returns the
  // operation's status, or kDeadlineExceeded when it is still running at the
  // deadline (the operation itself goes on; Wait may be called again, or the
  // communicator aborted). Output buffers may be read only after an OK Wait.
  virtual absl::Status Wait(absl::Time deadline) = 0;

  // True once the operation has finished, successfully or not.
  virtual bool IsCompleted() = 0;
};

// A Work completed by whoever runs the operation, through Complete(status).
// Backends use it directly or derive from it.
class SettableWork : public Work {
 public:
  SettableWork() = default;

  // A Work already completed with `status` (e.g. an argument error).
  static std::shared_ptr<SettableWork> Done(absl::Status status);

  // Completes the work; only the first call has an effect. Returns whether this
  // call completed it.
  bool Complete(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);

  absl::Status Wait(absl::Time deadline) override ABSL_LOCKS_EXCLUDED(mu_);
  bool IsCompleted() override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace braid::collectives

#endif  // BRAID_COLLECTIVES_WORK_H_
