#include "collectives/debug/monitored_barrier.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/status_macros.h"
#include "runtime/tensor.h"

namespace braid::collectives {
namespace {

using runtime::DType;
using runtime::Tensor;

// Rank 0 sends its verdict only after its own deadline when a rank is missing:
// the arrived ranks wait this much longer for it.
constexpr absl::Duration kReleaseGrace = absl::Seconds(2);

std::string Where(Communicator& comm) {
  return absl::StrCat("monitored barrier on '", comm.backend(), "' rank ", comm.rank(), "/",
                      comm.size(), " (epoch ", comm.epoch(), ")");
}

absl::Status Missing(Communicator& comm, const std::vector<int>& missing) {
  return absl::DeadlineExceededError(absl::StrCat(
      Where(comm), ": rank", missing.size() == 1 ? " " : "s ", absl::StrJoin(missing, ", "),
      " did not arrive by the deadline; look at what ", missing.size() == 1 ? "it is" : "they are",
      " doing (stack, logs), then abort and rebuild the communicator"));
}

// A receive posted for a rank that never came cannot be withdrawn, and its
// buffer (local to MonitoredBarrier) must outlive it: abort the
// communicator, which completes pending work, and wait for those receives
// before the buffers go out of scope. The caller rebuilds the communicator.
absl::Status AbortWithPending(Communicator& comm, absl::Status status,
                              const std::vector<std::shared_ptr<Work>>& pending) {
  comm.Abort(status);
  const absl::Time limit = absl::Now() + absl::Seconds(5);
  for (const std::shared_ptr<Work>& w : pending) (void)w->Wait(limit);
  return status;
}

}  // namespace

absl::Status MonitoredBarrier(Communicator& comm, absl::Time deadline,
                              const MonitoredBarrierOptions& options) {
  const int n = comm.size();
  const int rank = comm.rank();
  if (n == 1) return absl::OkStatus();
  // Release message: [number of missing ranks, missing ranks..., padding].
  if (rank != 0) {
    BRAID_ASSIGN_OR_RETURN(Tensor arrival, Tensor::Full({1}, DType::kI32, rank));
    BRAID_ASSIGN_OR_RETURN(Tensor release, Tensor::Zeros({n}, DType::kI32));
    std::shared_ptr<Work> recv = comm.Recv(release, 0, options.tag);
    std::shared_ptr<Work> send = comm.Send(arrival, 0, options.tag);
    if (absl::Status sent = send->Wait(deadline); !sent.ok()) {
      return AbortWithPending(comm, sent, {recv, send});
    }
    absl::Status s = recv->Wait(deadline + kReleaseGrace);
    if (absl::IsDeadlineExceeded(s)) {
      return AbortWithPending(comm, absl::DeadlineExceededError(absl::StrCat(
          Where(comm), ": arrived, but rank 0 did not release the barrier by the deadline (rank 0 "
          "is late, hung, or already gave up on this rank)")),
                              {recv});
    }
    BRAID_RETURN_IF_ERROR(s);
    const int32_t* r = release.data<int32_t>();
    if (r[0] == 0) return absl::OkStatus();
    return Missing(comm, std::vector<int>(r + 1, r + 1 + std::min(r[0], n - 1)));
  }
  std::vector<Tensor> arrivals(n);
  std::vector<std::shared_ptr<Work>> recvs(n);
  for (int j = 1; j < n; ++j) {
    BRAID_ASSIGN_OR_RETURN(arrivals[j], Tensor::Full({1}, DType::kI32, -1));
    recvs[j] = comm.Recv(arrivals[j], j, options.tag);
  }
  std::vector<int> missing;
  for (int j = 1; j < n; ++j) {
    absl::Status s = recvs[j]->Wait(deadline);
    if (absl::IsDeadlineExceeded(s)) {
      missing.push_back(j);
    } else if (!s.ok()) {
      std::vector<std::shared_ptr<Work>> pending(recvs.begin() + 1, recvs.end());
      return AbortWithPending(
          comm,
          absl::Status(s.code(),
                       absl::StrCat(Where(comm), ": waiting for rank ", j, ": ", s.message())),
          pending);
    }
  }
  BRAID_ASSIGN_OR_RETURN(Tensor release, Tensor::Zeros({n}, DType::kI32));
  int32_t* r = release.data<int32_t>();
  r[0] = static_cast<int32_t>(missing.size());
  for (size_t i = 0; i < missing.size(); ++i) r[i + 1] = missing[i];
  std::vector<std::shared_ptr<Work>> sends;
  for (int j = 1; j < n; ++j) {
    if (std::find(missing.begin(), missing.end(), j) == missing.end()) {
      sends.push_back(comm.Send(release, j, options.tag));
    }
  }
  // Tell the arrived ranks first, then report; the last moment for the sends
  // is a little past the deadline, since they were posted only now.
  const absl::Time send_deadline = std::max(deadline, absl::Now() + absl::Seconds(1));
  for (const auto& w : sends) {
    absl::Status s = w->Wait(send_deadline);
    if (!s.ok() && missing.empty()) {
      return absl::Status(s.code(), absl::StrCat(Where(comm), ": releasing: ", s.message()));
    }
  }
  if (missing.empty()) return absl::OkStatus();
  std::vector<std::shared_ptr<Work>> pending = sends;
  for (int j : missing) pending.push_back(recvs[j]);
  return AbortWithPending(comm, Missing(comm, missing), pending);
}

}  // namespace braid::collectives
