// Inbox: the receive side of one communicator on one rank.
//
// The transport's progress thread delivers every frame addressed to the
// communicator (by comm_id) here; the communicator's executor thread takes
// them out in the order its algorithm needs (Receive), and point-to-point
// receives posted by the user are completed here directly by the progress
// thread (PostRecv), so a Recv never waits behind collectives in the queue.
//
// The inbox is also where the communicator's fault state lives: the first
// error (a peer died or hung, Abort(), an abort frame from a peer, a timeout)
// is stored and wakes every waiter; from then on the communicator is broken.
// Data that already arrived is still handed out, so an operation whose bytes
// all came before a peer exited cleanly completes normally.
//
// Epochs: frames of an older epoch than the inbox's are rejected (counted as
// stale); frames of a newer epoch are handed back to the transport, which
// keeps them for the communicator that Shrink creates next.
//
// Thread-safety: thread-safe. Lock order: the transport's registry lock is
// taken before the inbox lock, never the other way round; the inbox calls
// nothing outside itself while locked except SettableWork::Complete.
#ifndef BRAID_COLLECTIVES_TCP_INBOX_H_
#define BRAID_COLLECTIVES_TCP_INBOX_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collectives/tcp/frame.h"
#include "collectives/work.h"

namespace braid::collectives::tcp {

class Inbox {
 public:
  // `members[g]` is the transport (world) rank of group rank g.
  Inbox(uint64_t comm_id, int64_t epoch, std::vector<int> members);

  uint64_t comm_id() const { return comm_id_; }
  int64_t epoch() const { return epoch_; }
  const std::vector<int>& members() const { return members_; }
  // Group rank of transport rank `global_rank`, or -1 when not a member.
  int GroupRankOf(int global_rank) const;

  // ---- Progress thread ----------------------------------------------------
  enum class DeliverResult { kAccepted, kStale, kFuture };
  // Takes `frame` (kData, kP2P or kAbort) unless the result is kFuture, in
  // which case the caller keeps it.
  DeliverResult Deliver(std::unique_ptr<Frame>& frame) ABSL_LOCKS_EXCLUDED(mu_);
  // A member died or hung: breaks the inbox with kAborted naming it.
  void OnPeerFailed(int global_rank, const absl::Status& why) ABSL_LOCKS_EXCLUDED(mu_);
  // A member said goodbye: receives still waiting for it fail, others go on.
  void OnPeerClosed(int global_rank) ABSL_LOCKS_EXCLUDED(mu_);
  // Fails posted receives whose deadline passed (breaking the inbox).
  void CheckDeadlines(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs the tick hook, if set (on every housekeeping tick, ~5 ms).
  void RunTickHook(absl::Time now) ABSL_LOCKS_EXCLUDED(hook_mu_);

  // ---- Owner ----------------------------------------------------------------
  // Sets (or with nullptr clears) a hook the progress thread calls on every
  // tick; clearing waits for a running call to end. The hook must not call
  // into the transport (it runs on the progress thread).
  void SetTickHook(std::function<void(absl::Time)> hook) ABSL_LOCKS_EXCLUDED(hook_mu_);

  // ---- Executor thread ----------------------------------------------------
  // Consumes bytes [base, base + bytes) of the collective message (src group
  // rank, op_seq, tag), frame by frame in order, calling
  // sink(offset_from_base, data, n) outside the lock. A zero-byte message is
  // one empty frame. Returns the inbox error once the bytes are not there and
  // the inbox is broken; kAborted naming `src` at `deadline`; kInvalidArgument
  // when the peer's frames do not match the expected range (the ranks posted
  // different shapes).
  absl::Status Receive(int src, uint64_t op_seq, uint32_t tag, uint64_t base, size_t bytes,
                       absl::Time deadline,
                       absl::FunctionRef<absl::Status(size_t, const uint8_t*, size_t)> sink)
      ABSL_LOCKS_EXCLUDED(mu_);

  // ---- Any thread -----------------------------------------------------------
  // Posts a point-to-point receive of `bytes` into `dst` from group rank
  // `src` with `tag`; matched with the peer's Sends of that tag in order. The
  // Work completes on the progress thread when the bytes are in `dst`.
  std::shared_ptr<Work> PostRecv(int src, uint32_t tag, void* dst, size_t bytes,
                                 absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  // Breaks the inbox with `status` (first error wins; later calls only add
  // their failed ranks). Returns whether this call broke it.
  bool Break(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  // OK while healthy, else the first error (with all failed ranks).
  absl::Status error() const ABSL_LOCKS_EXCLUDED(mu_);
  // Lock-free "error() is not OK", for the polling loops of the direct
  // channel (direct_channel.h); once true it stays true.
  bool broken() const { return broken_.load(std::memory_order_acquire); }

 private:
  using MsgKey = std::tuple<int, uint64_t, uint32_t>;  // src global, op_seq, tag
  using P2PKey = std::tuple<int, uint32_t, uint64_t>;  // src global, tag, message number
  struct PostedRecv {
    uint8_t* dst = nullptr;
    size_t bytes = 0;
    size_t got = 0;
    bool got_any = false;
    absl::Time deadline;
    std::shared_ptr<SettableWork> work;
  };

  // Applies one frame to a posted receive; true when it completed (or failed).
  bool ApplyLocked(PostedRecv& recv, const Frame& frame, int src_group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BreakLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t comm_id_;
  const int64_t epoch_;
  const std::vector<int> members_;
  std::map<int, int> group_of_;  // global -> group

  std::atomic<bool> broken_{false};
  absl::Mutex hook_mu_;
  std::function<void(absl::Time)> tick_hook_ ABSL_GUARDED_BY(hook_mu_);
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::set<int> closed_ ABSL_GUARDED_BY(mu_);  // global ranks that said goodbye
  std::map<MsgKey, std::deque<std::unique_ptr<Frame>>> messages_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<int, uint32_t>, uint64_t> next_recv_number_ ABSL_GUARDED_BY(mu_);
  std::map<P2PKey, std::deque<std::unique_ptr<Frame>>> unexpected_ ABSL_GUARDED_BY(mu_);
  std::map<P2PKey, PostedRecv> posted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_INBOX_H_
