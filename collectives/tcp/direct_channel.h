// DirectChannel: polled shared-memory mailboxes between the ranks of a world
// that runs entirely on one host -- the data path of small collectives and
// the control path of cross-memory-attach (CMA) ones.
//
// Why: the frame path (transport.h) hands every message from the sender's
// thread through a ring to the receiver's progress thread, which parses it
// into the inbox and wakes the executor: two thread hand-offs per message,
// each a futex wake and a context switch on a loaded machine. Here the thread
// that runs the operation (the caller's own thread on the fast path, or the
// executor) writes a record straight into the peer's ring and polls its own
// incoming rings: when ranks <= cores, spin up to 30 us while spinning pays
// off (adaptive: ranks that share a core stop), then poll with sched_yield
// for up to 2 ms (0.2 ms beyond 4 ranks per core), then sleep on the ring's futex in slices of at most 1 ms, so an Abort(), a
// dead peer (seen by the progress thread on the socket) or the deadline
// stops the wait within about a millisecond.
//
// Wire (docs/tcp_wire.md, "Direct channel"): per ordered pair one ShmRing
// ("/braid-<world>-<src>-<dst>-d") carrying records
//   magic u32 | tag u32 | comm_id u64 | epoch i64 | op_seq u64 | bytes u32 | pad u32
// followed by `bytes` payload bytes padded to 8. A record is written whole
// (the writer waits for room for all of it), so an abandoned operation never
// leaves half a record. Only the world communicator and its Shrink
// successors use the channel (same comm_id, rising epoch): records of an
// older epoch are skipped, so a survivor's leftovers from an aborted
// operation never confuse the next epoch. Operations run in the same order
// on every rank, so each pair's records arrive in exactly the order the
// receiver asks for them; any other record is a cross-rank mismatch.
//
// Deadlock freedom: a record is at most max_message_bytes() (a quarter of
// the ring), and an operation uses the channel only when every message it
// sends fits; a rank can be at most two operations ahead of a peer, so a
// writer finds room once the peer catches up, never waiting on a reader that
// waits on it.
//
// Thread-safety: thread-safe; each direction of each pair is serialised by
// an in-process mutex (one operation of one communicator uses it at a time
// anyway; the mutex covers a Shrink successor racing an aborted op).
#ifndef BRAID_COLLECTIVES_TCP_DIRECT_CHANNEL_H_
#define BRAID_COLLECTIVES_TCP_DIRECT_CHANNEL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collectives/tcp/inbox.h"
#include "collectives/tcp/shm_ring.h"

namespace braid::collectives::tcp {

// Identifies one message: which communicator epoch, operation and step.
struct DirectKey {
  uint64_t comm_id = 0;
  int64_t epoch = 0;
  uint64_t op_seq = 0;
  uint32_t tag = 0;
};

// How a waiting thread behaves; see the file comment.
struct DirectWaitPolicy {
  absl::Duration spin = absl::Microseconds(30);   // adaptive busy-poll, at most
  absl::Duration yield = absl::Milliseconds(2);   // then poll with sched_yield
  absl::Duration sleep_slice = absl::Milliseconds(10);  // then futex sleeps of this
  // The default for `ranks` processes on this host: the adaptive spin only
  // when ranks <= cores (direct_channel.cc says why).
  static DirectWaitPolicy ForRanks(int ranks);
};

class DirectChannel {
 public:
  static constexpr size_t kRecordHeaderBytes = 40;

  // `tx[r]`/`rx[r]`: the rings to/from world rank r (null for self only).
  // `cma` says whether every rank can process_vm_readv every other (agreed
  // at bootstrap); `pids[r]` is rank r's process id.
  DirectChannel(int rank, std::vector<std::unique_ptr<ShmRing>> tx,
                std::vector<std::unique_ptr<ShmRing>> rx, std::vector<int64_t> pids, bool cma,
                DirectWaitPolicy policy);

  int rank() const { return rank_; }
  // The largest payload of one record.
  size_t max_message_bytes() const { return max_message_bytes_; }
  bool cma() const { return cma_; }
  int64_t pid(int world_rank) const { return pids_[world_rank]; }

  // Writes one record to world rank `dst`. Stops with inbox's error once it
  // is broken, kDeadlineExceeded at `deadline`; kInternal when bytes exceed
  // max_message_bytes().
  absl::Status Send(int dst, const DirectKey& key, const void* data, size_t bytes,
                    absl::Time deadline, const Inbox& inbox);
  // Takes the next record from world rank `src`, which must be `key` with
  // `bytes` payload bytes (else kInvalidArgument: the ranks posted different
  // operations or shapes), and calls sink(offset, data, n) on its payload in
  // one or two pieces (each a multiple of 8 bytes except the last), in place
  // in the ring. Records of an older epoch are skipped. Stops as Send.
  absl::Status Receive(int src, const DirectKey& key, size_t bytes, absl::Time deadline,
                       const Inbox& inbox,
                       absl::FunctionRef<absl::Status(size_t, const uint8_t*, size_t)> sink);

  // Wakes every local thread sleeping in Send or Receive, so it re-checks
  // its communicator (called whenever a communicator breaks).
  void WakeAll();

 private:
  struct Lane {
    std::unique_ptr<ShmRing> tx;
    std::unique_ptr<ShmRing> rx;
    absl::Mutex tx_mu;
    absl::Mutex rx_mu;
  };

  const int rank_;
  std::vector<std::unique_ptr<Lane>> lanes_;  // index: world rank; null for self
  const std::vector<int64_t> pids_;
  const bool cma_;
  const DirectWaitPolicy policy_;
  size_t max_message_bytes_ = 0;
  // Adaptive spin (direct_channel.cc, Poll): relaxed, a hint only.
  std::atomic<int> spin_score_{0};
  std::atomic<uint32_t> waits_{0};
};

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_DIRECT_CHANNEL_H_
