// TcpCommunicator: braid's native fault-tolerant backend ("tcp").
//
//   CommunicatorOptions o;
//   o.rank = rank; o.size = size; o.store = &store;   // store outlives comm
//   BRAID_ASSIGN_OR_RETURN(auto comm, TcpCommunicator::Create(o));
//   auto work = comm->AllReduce(grads, grads, ReduceOp::kSum);
//   ... compute ...
//   BRAID_RETURN_IF_ERROR(work->Wait(absl::Now() + absl::Minutes(1)));
//
// Create bootstraps a full mesh of TCP connections through the store (see
// transport.h and docs/tcp_wire.md). Split and Shrink reuse those
// connections: the new communicators share the transport, and frames carry a
// communicator id and epoch.
//
// Threading model:
//   - Fast path: when every rank is on this host (the direct channel,
//     direct_channel.h), an operation of the world communicator (or its
//     Shrink successors) whose buffers are at most fast_path_bytes runs over
//     polled shared memory with no progress-thread hand-off, and the thread
//     that Waits for it runs it inline when it heads an idle queue and the
//     Wait's deadline is at least kInlineWaitMin away: no executor hand-off
//     either. Posting still never blocks and wakes nobody: an operation
//     nobody waits for is started by the executor within kInlineGrace plus
//     one transport tick (~5 ms), or at once when another operation is
//     posted behind it. Faults reach an inline operation as below, within
//     ~1 ms. Caveat: an inline Wait returns when the operation ends, which
//     may be after its deadline when a peer posts its part later than that
//     (it still ends by op_timeout).
//   - Posting an operation validates its arguments (kInvalidArgument
//     through the Work, communicator unharmed), gives it the next sequence
//     number and queues it. One named executor thread per communicator
//     ("braid-tcp-exec") runs the queue in FIFO order, each operation as
//     sequential algorithm code over transport primitives (algorithms.h), so
//     the caller computes meanwhile. Operations therefore complete in posting
//     order.
//   - Recv is not queued: it is posted to the inbox and completed by the
//     transport's progress thread when the matching Send's bytes arrive, so
//     "Recv from left, Send to right" on every rank cannot deadlock behind
//     the queue. Send is queued like a collective and completes once its bytes
//     are in the kernel (the receiver reads eagerly, never waiting for the
//     matching Recv).
//   - The transport's progress thread (transport.h) reads all sockets,
//     watches heartbeats and reports peer failures to the inbox.
//
// Faults: the first error (a member died or hung, Abort(), an abort frame
// from a member, an operation's timeout or a cross-rank mismatch) breaks the
// communicator: pending and running operations complete with it (kAborted,
// FailedRanks payload naming the group ranks at fault, status_payload.h);
// operations posted afterwards fail with kFailedPrecondition carrying the
// same payload. An operation that fails on this rank sends an abort frame to
// the other members so they fail fast instead of waiting for their timeout.
// Shrink(excluded) builds the successor over the survivors (epoch + 1);
// frames of the old epoch are then rejected.
//
// f16/bf16 reductions are computed in f32 (converted in, reduced, converted
// back once); integer avg truncates toward zero.
//
// Thread-safety: as Communicator (communicator.h). The store passed at
// creation must outlive the communicator and everything split or shrunk
// from it (Split and Shrink agree through it).
#ifndef BRAID_COLLECTIVES_TCP_TCP_COMMUNICATOR_H_
#define BRAID_COLLECTIVES_TCP_TCP_COMMUNICATOR_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "collectives/communicator.h"
#include "collectives/factory.h"
#include "collectives/tcp/inbox.h"
#include "collectives/tcp/op_context.h"
#include "collectives/tcp/tcp_options.h"
#include "collectives/tcp/transport.h"

namespace braid::collectives::tcp {

class TcpCommunicator final : public Communicator {
 public:
  // Bootstraps the world: kInvalidArgument for bad options, kUnavailable when
  // a peer cannot be reached, kDeadlineExceeded when the store wait or a
  // handshake outlives options.connect_timeout.
  static absl::StatusOr<std::unique_ptr<TcpCommunicator>> Create(const CommunicatorOptions& options);

  // Pending operations are aborted; the executor thread is joined.
  ~TcpCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(inbox_->members().size()); }
  int64_t epoch() const override { return inbox_->epoch(); }
  absl::string_view backend() const override { return "tcp"; }
  Capabilities capabilities() const override;

  std::shared_ptr<Work> AllReduce(const runtime::Tensor& input, const runtime::Tensor& output,
                                  ReduceOp op) override;
  std::shared_ptr<Work> ReduceScatter(const runtime::Tensor& input, const runtime::Tensor& output,
                                      ReduceOp op) override;
  std::shared_ptr<Work> AllGather(const runtime::Tensor& input,
                                  const runtime::Tensor& output) override;
  std::shared_ptr<Work> Broadcast(const runtime::Tensor& tensor, int root) override;
  std::shared_ptr<Work> Reduce(const runtime::Tensor& input, const runtime::Tensor& output,
                               ReduceOp op, int root) override;
  std::shared_ptr<Work> AllToAll(const runtime::Tensor& input,
                                 const runtime::Tensor& output) override;
  std::shared_ptr<Work> AllToAllV(const runtime::Tensor& input,
                                  absl::Span<const int64_t> send_counts,
                                  const runtime::Tensor& output,
                                  absl::Span<const int64_t> recv_counts) override;
  // Variable counts, rooted movement, pre-multiplied sums (vector_algorithms.h,
  // tcp_vector_operations.cc).
  std::shared_ptr<Work> AllGatherV(const runtime::Tensor& input, const runtime::Tensor& output,
                                   absl::Span<const int64_t> counts) override;
  std::shared_ptr<Work> ReduceScatterV(const runtime::Tensor& input,
                                       const runtime::Tensor& output,
                                       absl::Span<const int64_t> counts, ReduceOp op) override;
  std::shared_ptr<Work> Gather(const runtime::Tensor& input, const runtime::Tensor& output,
                               int root) override;
  std::shared_ptr<Work> Scatter(const runtime::Tensor& input, const runtime::Tensor& output,
                                int root) override;
  std::shared_ptr<Work> AllReducePreMulSum(const runtime::Tensor& input,
                                           const runtime::Tensor& output, double scale) override;
  std::shared_ptr<Work> ReduceScatterPreMulSum(const runtime::Tensor& input,
                                               const runtime::Tensor& output,
                                               double scale) override;
  std::shared_ptr<Work> Send(const runtime::Tensor& tensor, int peer, int tag) override;
  std::shared_ptr<Work> Recv(const runtime::Tensor& tensor, int peer, int tag) override;
  std::shared_ptr<Work> Barrier() override;

  absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key,
                                                      absl::Time deadline) override;
  absl::StatusOr<std::unique_ptr<Communicator>> Shrink(absl::Span<const int> excluded_ranks,
                                                       absl::Time deadline) override;
  void Abort(absl::Status reason) override;

  // Identifies this communicator on the wire (with epoch()).
  uint64_t comm_id() const { return inbox_->comm_id(); }
  // For tests of the wire protocol (e.g. injecting stale-epoch frames).
  TcpTransport& transport() { return *transport_; }
  const Inbox& inbox() const { return *inbox_; }

 private:
  using OpBody = std::function<absl::Status(OpContext&)>;
  struct Op {
    std::string name;
    uint64_t seq = 0;
    OpBody body;
    bool direct = false;  // over the direct channel (FitsDirect)
    // When posted, for an inline candidate (a direct operation posted to an
    // idle queue, left to its Wait); InfinitePast once it is the executor's.
    absl::Time posted = absl::InfinitePast();
    std::shared_ptr<SettableWork> work;
  };
  class InlineWork;
  // Lets an InlineWork that outlives the communicator find out (comm null).
  struct InlineRunner {
    absl::Mutex mu;
    TcpCommunicator* comm ABSL_GUARDED_BY(mu) = nullptr;
    void TryRun(SettableWork* work, absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu);
  };
  // A Wait runs its operation inline only when its deadline is this far off
  // (the operation may wait for late peers up to op_timeout).
  static constexpr absl::Duration kInlineWaitMin = absl::Seconds(1);
  // How long an inline candidate is left to its caller's Wait before the
  // executor starts it (checked on the transport's ~5 ms tick).
  static constexpr absl::Duration kInlineGrace = absl::Milliseconds(1);

  TcpCommunicator(std::shared_ptr<TcpTransport> transport, std::shared_ptr<Inbox> inbox,
                  TcpOptions options, runtime::Store* store, int rank);

  // Queues `body` as the next collective; or a completed Work when broken.
  // A `direct` body (FitsDirect) may be run by the thread that Waits for it
  // (TryRunInline).
  std::shared_ptr<Work> Post(std::string name, OpBody body, bool direct = false)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Whether an operation whose largest buffer (and so every message) has
  // `largest_bytes` goes over the direct channel. The same on every rank for
  // the same operation, as it must be: both ends of a message use one path.
  bool FitsDirect(size_t largest_bytes) const;
  // Whether an operation moving `bytes` per buffer copies its data by
  // cross-memory attach (cma.cc): every rank on this host, CMA agreed at
  // bootstrap and on, and at least cma_min_bytes.
  bool UseCma(const OpContext& ctx, int64_t bytes) const;
  // Progress thread tick: hands an unclaimed inline candidate to the executor.
  void OnTick(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  // The fast path: when `work` heads the queue and nothing runs, pops it and
  // runs it on the calling thread (the caller's, in Wait).
  void TryRunInline(SettableWork* work, absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs one operation's body on the calling thread; breaks the
  // communicator when it fails. REQUIRES: running_ was set by this thread.
  absl::Status RunOp(const std::string& name, uint64_t seq, OpBody& body, bool direct)
      ABSL_LOCKS_EXCLUDED(mu_);
  // kFailedPrecondition (with the failed ranks) when broken, else OK.
  absl::Status CheckUsable(absl::string_view what) const;
  void ExecutorLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the executor may take the queue's head now.
  bool ExecutorHasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Breaks the inbox; the first break also tells the other members.
  void BreakAndNotify(const absl::Status& status);
  // Runs an all-reduce-like body in f32 for f16/bf16 tensors.
  kernels::ReduceKind KindOf(ReduceOp op) const;

  const std::shared_ptr<TcpTransport> transport_;
  const std::shared_ptr<Inbox> inbox_;
  const TcpOptions options_;
  runtime::Store* const store_;
  const int rank_;
  std::string key_prefix_;
  DirectChannel* const direct_;  // null unless this communicator may use it

  mutable absl::Mutex mu_;
  std::deque<Op> queue_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar executor_cv_;  // signalled when ExecutorHasWorkLocked() or stopping_ turns true
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t split_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::pair<int, int>, uint64_t> send_numbers_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<InlineRunner> runner_;
  std::thread executor_;
};

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_TCP_COMMUNICATOR_H_
