#include "collectives/work.h"

namespace braid::collectives {

std::shared_ptr<SettableWork> SettableWork::Done(absl::Status status) {
  auto work = std::make_shared<SettableWork>();
  work->Complete(std::move(status));
  return work;
}

bool SettableWork::Complete(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (done_) return false;
  done_ = true;
  status_ = std::move(status);
  return true;
}

absl::Status SettableWork::Wait(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (!mu_.AwaitWithDeadline(absl::Condition(&done_), deadline)) {
    return absl::DeadlineExceededError("operation still running at the Wait deadline");
  }
  return status_;
}

bool SettableWork::IsCompleted() {
  absl::MutexLock lock(&mu_);
  return done_;
}

}  // namespace braid::collectives
