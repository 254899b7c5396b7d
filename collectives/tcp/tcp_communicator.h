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
//   - Posting an operation validates its arguments (kInvalidArgument through
//     the Work, communicator unharmed), gives it the next sequence number and
//     queues it. One named executor thread per communicator
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
    std::shared_ptr<SettableWork> work;
  };

  TcpCommunicator(std::shared_ptr<TcpTransport> transport, std::shared_ptr<Inbox> inbox,
                  TcpOptions options, runtime::Store* store, int rank);

  // Queues `body` as the next collective; or a completed Work when broken.
  std::shared_ptr<Work> Post(std::string name, OpBody body) ABSL_LOCKS_EXCLUDED(mu_);
  // kFailedPrecondition (with the failed ranks) when broken, else OK.
  absl::Status CheckUsable(absl::string_view what) const;
  void ExecutorLoop() ABSL_LOCKS_EXCLUDED(mu_);
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

  mutable absl::Mutex mu_;
  std::deque<Op> queue_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t split_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::pair<int, int>, uint64_t> send_numbers_ ABSL_GUARDED_BY(mu_);
  std::thread executor_;
};

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_TCP_COMMUNICATOR_H_
