// Rendezvous: braidrun agents (one per node) agree on a job's membership
// through any runtime::Store (the embedded store or etcd).
//
// Agents of job `run_id` form rounds. Each round has a generation number
// (1, 2, ...) and a fixed, ordered list of nodes; the node rank is the index
// in that list. All state lives in the store under
// P = <key_prefix>rdzv/<run_id>/ (docs/rendezvous.md):
//
//   P state           the round: generation, phase (open|closed), the node
//                     range, members. Changed only by CompareSet, so every
//                     transition is atomic.
//   P alive/<node>    the agent's liveness, bound to its lease (KeepAlive
//                     every lease_ttl/3). Lease expiry deletes it.
//   P done/<node>     the agent finished its work successfully; its leaving
//                     starts no new round.
//   P failed          "<generation> <node> <reason>": a static job failed for
//                     good in that generation; the others stop instead of
//                     waiting for a round that can never fill.
//   P membership      the latest closed round for workers to Watch:
//                     "generation G\nworld_size W\nnode <rank> <id> <host>
//                     <local_world_size> <first_global_rank>\n..."
//
// Protocol of Join (each step re-reads P with one ListPrefix; a failed
// CompareSet just restarts at step 1):
//   1. No state: create generation 1, phase open, no members.
//   2. Open round, members whose alive key is gone: remove them.
//   3. Open round, not a member: append self if fewer than MAX members, else
//      wait for a change.
//   4. Open round, member: close it when it has MAX members, or when it has
//      >= MIN members and no member joined for `last_call` (each agent times
//      this from its own observation of the latest join; the first to expire
//      closes). Closing fixes the order by seniority: nodes that were in an
//      earlier round first, ordered by (generation of their first round, rank
//      in it), then new nodes in join order (static jobs: by requested rank).
//   5. Closed round, member: if a member's alive key is gone (and it is not
//      done) open generation + 1; else return the round.
//   6. Closed round, not a member (arrived late): if it has fewer than MAX
//      members, or some member is dead, open generation + 1 (the survivors see
//      the generation move and join again, as in torchrun); if it is full,
//      wait for a change.
//   Waiting is a Watch on P bounded by the deadline and the last_call timer.
//   At the deadline: kDeadlineExceeded naming how many of MIN joined.
//
// While a round runs, the agent calls CheckMembership every monitor interval:
// it reports that the agent must Join again when the generation moved on, and
// opens the next round itself when a member of the current round died.
//
// Thread-safety: thread-compatible, except that the internal heartbeat thread
// ("braid-rdzv-hb") runs concurrently; one agent thread calls the methods.
// Failure behaviour: store errors are returned (kUnavailable: retry);
// a malformed state is kDataLoss; disagreeing --nnodes is kInvalidArgument.
#ifndef BRAID_ELASTIC_RENDEZVOUS_RENDEZVOUS_H_
#define BRAID_ELASTIC_RENDEZVOUS_RENDEZVOUS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/store.h"

namespace braid::elastic {

struct RoundState;  // round_state.h

// What an agent tells the others about its node.
struct NodeInfo {
  // Unique per agent; [A-Za-z0-9._-] only. Empty in RendezvousOptions: made
  // from the host name, pid and random bits.
  std::string node_id;
  // Address other nodes reach this node at (MASTER_ADDR when node rank 0).
  std::string host = "127.0.0.1";
  // Workers on this node.
  int local_world_size = 1;
  // A free port on `host` for the workers' own use (MASTER_PORT when node
  // rank 0); 0 when none.
  int port = 0;
  // Static jobs: the node rank this node must get; -1: assigned.
  int requested_rank = -1;
  // Seniority: the generation of this node's first closed round and its node
  // rank there (0 / -1 before it had one). Set by Join; leave at defaults.
  int64_t first_generation = 0;
  int first_rank = -1;
  friend bool operator==(const NodeInfo&, const NodeInfo&) = default;
};

// A closed round as one agent sees it.
struct RoundResult {
  int64_t generation = 0;
  int node_rank = -1;
  std::vector<NodeInfo> nodes;  // in node-rank order

  int num_nodes() const { return static_cast<int>(nodes.size()); }
  // Sum of local_world_size over all nodes.
  int world_size() const;
  // Global rank of local rank 0 on node `node_rank`.
  int first_global_rank(int node_rank) const;
};

struct RendezvousOptions {
  // The store, borrowed; must outlive the Rendezvous. REQUIRED.
  runtime::Store* store = nullptr;
  // Job id (--rdzv-id); [A-Za-z0-9._-]. REQUIRED.
  std::string run_id;
  // Prefix of every key. Default "/braid/".
  std::string key_prefix = "/braid/";
  // Node range (--nnodes MIN:MAX). REQUIRES 1 <= min_nodes <= max_nodes.
  int min_nodes = 1;
  int max_nodes = 1;
  // See step 4 of the protocol. Default 1 s.
  absl::Duration last_call = absl::Seconds(1);
  // Lease TTL: an agent silent this long counts as dead. Default 5 s.
  absl::Duration lease_ttl = absl::Seconds(5);
  // This node.
  NodeInfo node;
  // Deadline for the store calls made by Create and the destructor.
  absl::Duration call_timeout = absl::Seconds(10);
};

class Rendezvous {
 public:
  // Grants the lease, publishes P alive/<node_id> and starts the heartbeat
  // thread. kInvalidArgument for bad options; store errors as returned.
  static absl::StatusOr<std::unique_ptr<Rendezvous>> Create(const RendezvousOptions& options);
  // Stops the heartbeat and revokes the lease (like Leave).
  ~Rendezvous();
  Rendezvous(const Rendezvous&) = delete;
  Rendezvous& operator=(const Rendezvous&) = delete;

  // Runs the protocol above until this node is in a closed round, and writes
  // P membership for it. kDeadlineExceeded at `deadline`; kAborted when
  // another node marked the job failed in this generation or later.
  absl::StatusOr<RoundResult> Join(absl::Time deadline);

  // True when the agent must Join again: the generation moved past the one
  // Join returned, or a member died (then this call opened the next round).
  // kAborted when another node marked the job failed (MarkFailed). Makes one
  // or two store calls.
  absl::StatusOr<bool> CheckMembership(absl::Time deadline);

  // Opens generation + 1 (static jobs restart this way; the other agents see
  // it through CheckMembership). No-op when the generation already moved.
  absl::Status RequestNextRound(absl::Time deadline);

  // Records that this node finished successfully (P done/<node_id>), so that
  // its departure starts no new round.
  absl::Status MarkDone(absl::Time deadline);

  // True when every node of the current round has called MarkDone or is
  // gone (its alive key expired), or the generation moved on. The agent that
  // hosts the store waits for this before it exits, so that the others can
  // still reach the store while they finish (torchrun's exit barrier).
  absl::StatusOr<bool> AllDone(absl::Time deadline);

  // Records that the job failed for good on this node (P failed), so that
  // Join and CheckMembership of the other agents return kAborted instead of
  // re-forming. For static jobs, whose rounds cannot close without this node.
  absl::Status MarkFailed(absl::string_view reason, absl::Time deadline);

  // Stops the heartbeat and revokes the lease: the node's alive key goes and
  // the other agents start a new round (unless MarkDone was called).
  absl::Status Leave(absl::Time deadline);

  // The heartbeat's last error (OK while the lease is being renewed).
  absl::Status heartbeat_status() const;

  const std::string& node_id() const { return options_.node.node_id; }
  // Key of the membership record for workers (P membership).
  std::string membership_key() const;
  // The generation of the last Join (0 before).
  int64_t generation() const { return generation_; }

 private:
  struct Snapshot;

  Rendezvous(const RendezvousOptions& options, runtime::LeaseId lease);
  void HeartbeatLoop();
  absl::StatusOr<Snapshot> Read(absl::Time deadline);
  // CompareSet of the state from `expected` to `next`; false on a lost race.
  absl::StatusOr<bool> Swap(const Snapshot& expected, const RoundState& next, absl::Time deadline);
  absl::Status WaitForChange(const Snapshot& seen, absl::Time until, absl::Time deadline);
  absl::Status WriteMembership(const RoundResult& round, absl::Time deadline);
  absl::Status StopHeartbeat();

  RendezvousOptions options_;
  int64_t generation_ = 0;
  int64_t watch_revision_ = 0;
  absl::Time last_change_;
  std::string last_members_;

  mutable absl::Mutex mu_;
  runtime::LeaseId lease_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool left_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status heartbeat_status_ ABSL_GUARDED_BY(mu_);
  std::thread heartbeat_;
};

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_RENDEZVOUS_RENDEZVOUS_H_
