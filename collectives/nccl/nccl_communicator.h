// NcclCommunicator: the "nccl" backend, a Communicator over NCCL for CUDA
// tensors (docs/nccl.md).
//
// Set-up: rank 0 creates an ncclUniqueId and publishes it in the Store under
// "<store_prefix>nccl/unique_id"; the others wait for it; every rank then
// calls ncclCommInitRankConfig with a non-blocking config and polls until the
// communicator is ready or connect_timeout passes (then ncclCommAbort and
// kUnavailable). The store is used only during Create.
//
// Operations: each is enqueued on the communicator's own CUDA stream
// (non-blocking w.r.t. the legacy default stream) on the calling thread and
// returns a Work backed by a CUDA event recorded after it: IsCompleted
// queries the event; Wait polls it until the deadline. Stream contract: the
// operation reads its inputs only after work already queued on *this
// communicator's stream*; a caller that produced the input on another stream
// must synchronise that stream (or Wait on its event) before posting, and may
// read outputs / reuse inputs only after Wait returns OK. avg is a sum
// followed by a divide kernel on the same stream (integers truncate toward
// zero). AllToAll, AllToAllV and point-to-point use grouped
// ncclSend/ncclRecv (ncclGroupStart/End). NCCL has no tags: Send/Recv to one
// peer match in posting order whatever the tag, and are queued and launched
// as one NCCL group when a collective is posted or one of their Works is
// waited on or queried, so a ring of Recv-then-Send does not deadlock.
// Barrier is a one-element all-reduce.
//
// Faults: a watchdog thread ("braid-nccl-wd") polls ncclCommGetAsyncError and
// the deadline of every operation (op_timeout). On an error or an expired
// deadline it calls ncclCommAbort, so kernels waiting for a dead peer exit,
// and fails every pending operation with kAborted; the communicator is then
// broken (later operations: kFailedPrecondition). Abort() does the same.
// Shrink uses ncclCommShrink (NCCL >= 2.27, NCCL_HAS_COMM_SHRINK at build
// time; with NCCL_SHRINK_ABORT after a fault); without it Shrink returns
// kUnimplemented: rebuild braid against a newer NCCL, or create a fresh
// communicator over the survivors.
//
// backend_options: "device" = CUDA ordinal to use (default: rank modulo the
// number of visible GPUs).
//
// Thread-safety: as Communicator. Destroying the communicator waits (up to
// op_timeout, at most 10 s) for pending operations, then destroys or aborts
// the NCCL communicator.
#ifndef BRAID_COLLECTIVES_NCCL_NCCL_COMMUNICATOR_H_
#define BRAID_COLLECTIVES_NCCL_NCCL_COMMUNICATOR_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collectives/communicator.h"
#include "collectives/factory.h"

namespace braid::collectives {

namespace nccl_internal {
class NcclCore;
}  // namespace nccl_internal

class NcclCommunicator final : public Communicator {
 public:
  // kFailedPrecondition without a usable GPU; kUnavailable / kDeadlineExceeded
  // when the peers or the store do not answer by connect_timeout;
  // kInvalidArgument for bad options.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(
      const CommunicatorOptions& options);

  ~NcclCommunicator() override;

  int rank() const override;
  int size() const override;
  int64_t epoch() const override { return epoch_; }
  absl::string_view backend() const override { return "nccl"; }
  Capabilities capabilities() const override;
  // The CUDA ordinal this communicator's tensors must live on.
  int device() const;

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
  // Grouped ncclSend/ncclRecv (AllGatherV, Gather, Scatter), grouped
  // ncclReduce to each segment's owner (ReduceScatterV), and
  // ncclRedOpCreatePreMulSum (the pre-multiplied sums); nccl_vector_ops.cc.
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
  // ncclCommSplit (color < 0: NCCL_SPLIT_NOCOLOR, returns nullptr).
  absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key,
                                                      absl::Time deadline) override;
  absl::StatusOr<std::unique_ptr<Communicator>> Shrink(absl::Span<const int> excluded_ranks,
                                                       absl::Time deadline) override;
  void Abort(absl::Status reason) override;

 private:
  NcclCommunicator(std::shared_ptr<nccl_internal::NcclCore> core, int64_t epoch);
  void WatchdogLoop();

  const std::shared_ptr<nccl_internal::NcclCore> core_;
  const int64_t epoch_;
  absl::Mutex watchdog_mu_;
  bool stop_ ABSL_GUARDED_BY(watchdog_mu_) = false;
  std::thread watchdog_;
};

// Registers the "nccl" backend (NcclCommunicator::Create).
absl::Status RegisterNcclBackend(CommunicatorFactory& factory);

}  // namespace braid::collectives

#endif  // BRAID_COLLECTIVES_NCCL_NCCL_COMMUNICATOR_H_
