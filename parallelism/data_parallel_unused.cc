// DataParallel's unused-parameter handling (DDP's find_unused_parameters):
// EndBackward, MarkUnused and the per-step list of parameters without
// gradient. docs/data_parallel.md, "Unused parameters".
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "parallelism/data_parallel_impl.h"

namespace braid::parallelism {

using dp_internal::Phase;
using dp_internal::ToString;

void DataParallel::Impl::CollectUnused() {
  unused_names_.clear();
  for (const Member& m : members_) {
    if (m.ready_calls < m.registrations || m.marked_unused) unused_names_.push_back(m.name);
  }
  stats_.unused_parameters = static_cast<int>(unused_names_.size());
}

absl::Status DataParallel::Impl::EndBackward(absl::string_view caller) {
  if (!options_.find_unused_parameters) {
    return absl::FailedPreconditionError(absl::StrCat(
        "DataParallel::", caller, ": needs DataParallelOptions::find_unused_parameters"));
  }
  if (phase_ != Phase::kAccumulating || next_index_ != count_ || !last_microbatch_ ||
      backward_ended_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "DataParallel::", caller, ": call it once, after the backward of the step's last "
        "microbatch (not under NoSync) and before FinishGradients (the step is ",
        ToString(phase_), ", microbatch ", next_index_, " of ", count_, ")"));
  }
  backward_ended_ = true;
  CollectUnused();
  // The same call on every rank posts every remaining bucket, in order.
  absl::Status s = PostReady(/*force=*/true);
  if (!s.ok() && deferred_.ok()) deferred_ = s;
  PollCompletions();
  return absl::OkStatus();
}

absl::Status DataParallel::Impl::MarkUnused(const std::vector<nn::NamedParameter>& parameters) {
  if (!options_.find_unused_parameters) {
    return absl::FailedPreconditionError(
        "DataParallel::MarkUnused: needs DataParallelOptions::find_unused_parameters");
  }
  std::vector<Member*> marked;
  for (const nn::NamedParameter& np : parameters) {
    auto it = member_of_.find(np.parameter);
    if (it == member_of_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "DataParallel::MarkUnused: parameter '", np.name,
          "' is not one of this DataParallel's parameters"));
    }
    marked.push_back(&members_[it->second]);
  }
  if (phase_ != Phase::kAccumulating || !last_microbatch_ || backward_ended_) {
    return absl::OkStatus();  // nothing is counted outside the last microbatch
  }
  for (Member* m : marked) {
    const int missing = m->registrations - m->ready_calls;
    if (missing == 0) {  // marked twice, or marked after its gradient came
      CountReady(*m, 1);  // records the double report
      continue;
    }
    m->marked_unused = true;
    CountReady(*m, missing);
  }
  return absl::OkStatus();
}

}  // namespace braid::parallelism
