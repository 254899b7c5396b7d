// MonitoredBarrier: a barrier whose failure names the ranks that did not
// arrive (PyTorch's monitored_barrier), for finding the rank that hangs.
//
//   absl::Status s = MonitoredBarrier(comm, absl::Now() + absl::Seconds(30));
//   // kDeadlineExceeded: "monitored barrier on 'tcp' (4 ranks): ranks 2, 3 did
//   // not arrive within 30s"
//
// Protocol (point-to-point over the communicator, tag options.tag):
//   1. Every rank other than 0 sends an arrival message (its rank) to rank 0.
//   2. Rank 0 receives the arrivals, all with the one deadline, and notes the
//      ranks whose message did not come.
//   3. Rank 0 sends every arrived rank a release message: 0 when everyone
//      arrived, else the list of missing ranks, so every arrived rank fails
//      with the same error naming them.
//   4. A rank that arrives but gets no release by the deadline (plus 2 s of
//      grace for rank 0's verdict) fails with kDeadlineExceeded naming rank 0.
// Costs n-1 small messages each way (rank 0 is the bottleneck; it is a
// debugging aid, not a fast barrier; use Communicator::Barrier for speed).
//
// A failure aborts `comm` (Communicator::Abort) before returning: the receive
// posted for a rank that never arrived cannot be withdrawn any other way, and
// its buffer is local to this call. Rebuild the communicator, as after a
// fault.
//
// Tensors are CPU tensors: `comm` must take them (tcp, mpi, or a
// DeviceDispatchCommunicator with a CPU backend).
//
// Thread-safety: like any operation on `comm` (post from one thread).
#ifndef BRAID_COLLECTIVES_DEBUG_MONITORED_BARRIER_H_
#define BRAID_COLLECTIVES_DEBUG_MONITORED_BARRIER_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"

namespace braid::collectives {

struct MonitoredBarrierOptions {
  // The point-to-point tag of the barrier's messages; must not be used by
  // other Send/Recv on the communicator at the same time. Default 32001 (below
  // MPI's smallest allowed tag upper bound, 32767).
  int tag = 32001;
};

// Collective: every rank calls it. OK when every rank arrived by `deadline`;
// kDeadlineExceeded naming the missing ranks (on rank 0 and every rank that
// arrived), or naming rank 0 when the release did not come; the
// communicator's own error (e.g. kAborted) when a message failed.
absl::Status MonitoredBarrier(Communicator& comm, absl::Time deadline,
                              const MonitoredBarrierOptions& options = {});

}  // namespace braid::collectives

#endif  // BRAID_COLLECTIVES_DEBUG_MONITORED_BARRIER_H_
