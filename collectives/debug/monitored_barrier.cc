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
    BRAID_RETURN_IF_ERROR(comm.Send(arrival, 0, options.tag)->Wait(deadline));
    absl::Status s = recv->Wait(deadline + kReleaseGrace);
    if (absl::IsDeadlineExceeded(s)) {
      return absl::DeadlineExceededError(absl::StrCat(
          Where(comm), ": arrived, but rank 0 did not release the barrier by the deadline (rank 0 "
          "is late, hung, or already gave up on this rank)"));
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
      return absl::Status(s.code(), absl::StrCat(Where(comm), ": waiting for rank ", j, ": ",
                                                 s.message()));
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
  if (!missing.empty()) return Missing(comm, missing);
  return absl::OkStatus();
}

}  // namespace braid::collectives
