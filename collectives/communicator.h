// Communicator: a group of ranks that run collectives and point-to-point
// transfers together (MPI's and NCCL's word; c10d's ProcessGroup).
//
// Every operation is asynchronous: it returns a Work at once and runs in the
// backend's progress engine, so the caller can compute meanwhile; several
// operations may be in flight, and they complete in the order they were posted
// on every rank. All ranks must post the same collectives in the same order
// with matching dtype and counts.
//
// Buffers: the caller keeps every tensor passed in alive and untouched until
// the Work completes. Input and output may be the same tensor (in place).
// Tensors must be contiguous. Counts below are in elements.
//
// Faults (the contract of fault-tolerant backends, "tcp"): when a peer dies or
// stops responding, or Abort() is called, every pending operation completes
// with kAborted naming the peer (the failed global ranks ride as a FailedRanks
// payload, see status_payload.h). From then on the communicator is broken: new
// operations fail with kFailedPrecondition (with the same FailedRanks payload)
// until the caller rebuilds it, e.g. with Shrink over the survivors. No operation ever waits
// longer than the operation timeout.
//
// Thread-safety: posting operations is thread-safe, but operations posted
// concurrently from several threads are ordered arbitrarily, so ranks must
// agree on the order by construction (post from one thread). Abort() may be
// called from any thread at any time.
#ifndef BRAID_COLLECTIVES_COMMUNICATOR_H_
#define BRAID_COLLECTIVES_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "collectives/work.h"
#include "runtime/tensor.h"

namespace braid::collectives {

enum class ReduceOp : uint8_t {
  kSum = 0,
  kProd = 1,
  kMin = 2,
  kMax = 3,
  kAvg = 4,  // sum / size; integer avg truncates toward zero
};

inline constexpr ReduceOp kAllReduceOps[] = {ReduceOp::kSum, ReduceOp::kProd, ReduceOp::kMin,
                                             ReduceOp::kMax, ReduceOp::kAvg};

// "sum", "prod", "min", "max", "avg".
absl::string_view ToString(ReduceOp op);

// What a backend can do, checked once at setup by the layers above.
struct Capabilities {
  bool cpu_tensors = false;
  bool cuda_tensors = false;
  // Shrink() works in place after a peer died (tcp; nccl with ncclCommShrink;
  // mpi only with ULFM).
  bool shrink = false;
  // A dead or hung peer is detected and reported instead of hanging.
  bool fault_tolerant = false;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  // This process's rank in the group, 0 <= rank() < size().
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Incremented by every Shrink/Grow; frames of older epochs are rejected.
  virtual int64_t epoch() const = 0;
  // "tcp", "mpi", "nccl".
  virtual absl::string_view backend() const = 0;
  virtual Capabilities capabilities() const = 0;

  // output = op over all ranks of input. Same shape on every rank.
  virtual std::shared_ptr<Work> AllReduce(const runtime::Tensor& input,
                                          const runtime::Tensor& output, ReduceOp op) = 0;

  // input holds size() equal chunks; rank r receives op over all ranks of
  // chunk r in output (numel = input.numel() / size()).
  virtual std::shared_ptr<Work> ReduceScatter(const runtime::Tensor& input,
                                              const runtime::Tensor& output, ReduceOp op) = 0;

  // output (numel = size() * input.numel()) holds every rank's input in rank
  // order.
  virtual std::shared_ptr<Work> AllGather(const runtime::Tensor& input,
                                          const runtime::Tensor& output) = 0;

  // Copies `root`'s tensor into `tensor` on every other rank.
  virtual std::shared_ptr<Work> Broadcast(const runtime::Tensor& tensor, int root) = 0;

  // output on `root` = op over all ranks of input; output is unused elsewhere
  // (may be undefined there).
  virtual std::shared_ptr<Work> Reduce(const runtime::Tensor& input, const runtime::Tensor& output,
                                       ReduceOp op, int root) = 0;

  // input and output hold size() equal chunks; chunk j of rank i's input
  // becomes chunk i of rank j's output.
  virtual std::shared_ptr<Work> AllToAll(const runtime::Tensor& input,
                                         const runtime::Tensor& output) = 0;

  // Like AllToAll with per-peer counts: rank i sends send_counts[j] elements
  // (packed in rank order in input) to rank j, and receives recv_counts[j]
  // elements from rank j (packed in rank order in output). recv_counts on j
  // must equal send_counts on i for each pair.
  virtual std::shared_ptr<Work> AllToAllV(const runtime::Tensor& input,
                                          absl::Span<const int64_t> send_counts,
                                          const runtime::Tensor& output,
                                          absl::Span<const int64_t> recv_counts) = 0;

  // ---- Variable counts and rooted data movement (MPI's Allgatherv,
  // Reduce_scatter, Gather, Scatter). `counts` has size() entries, the same on
  // every rank; segment j of a packed buffer starts at counts[0] + ... +
  // counts[j-1]. Zero counts are allowed.

  // output (sum of counts elements) receives rank j's input in segment j.
  // REQUIRES: input.numel() == counts[rank()]. In place (MPI_IN_PLACE): input
  // is this rank's segment of output (a view).
  virtual std::shared_ptr<Work> AllGatherV(const runtime::Tensor& input,
                                           const runtime::Tensor& output,
                                           absl::Span<const int64_t> counts) = 0;

  // input holds sum(counts) elements on every rank; rank r receives op over
  // all ranks of segment r in output (counts[r] elements). In place: output is
  // this rank's segment of input (a view).
  virtual std::shared_ptr<Work> ReduceScatterV(const runtime::Tensor& input,
                                               const runtime::Tensor& output,
                                               absl::Span<const int64_t> counts,
                                               ReduceOp op) = 0;

  // output on `root` (size() * input.numel() elements) receives every rank's
  // input in rank order; output is unused elsewhere (may be undefined). Every
  // rank passes the same input numel. In place: on the root, input is the
  // root's chunk of output (a view).
  virtual std::shared_ptr<Work> Gather(const runtime::Tensor& input,
                                       const runtime::Tensor& output, int root) = 0;

  // input on `root` holds size() chunks of output.numel() elements; rank r
  // receives chunk r in output. input is unused off the root (may be
  // undefined). In place: on the root, output is the root's chunk of input.
  virtual std::shared_ptr<Work> Scatter(const runtime::Tensor& input,
                                        const runtime::Tensor& output, int root) = 0;

  // ---- Pre-multiplied sum (NCCL's ncclRedOpCreatePreMulSum): like
  // AllReduce / ReduceScatter with kSum, but each rank's input is first
  // multiplied by `scale`: output = sum over ranks i of (scale * input_i).
  // Floating types multiply in f32 (f16/bf16 widened first; f32 rounds the
  // product once); integer types multiply by the scale truncated toward zero
  // (NCCL's scalar has the tensor's type). Used e.g. to average gradients
  // without a division afterwards (scale = 1 / size()). In place as AllReduce
  // and ReduceScatter. Backends without a native form scale a copy of the
  // input (or the output in place), then sum.
  virtual std::shared_ptr<Work> AllReducePreMulSum(const runtime::Tensor& input,
                                                   const runtime::Tensor& output,
                                                   double scale) = 0;
  virtual std::shared_ptr<Work> ReduceScatterPreMulSum(const runtime::Tensor& input,
                                                       const runtime::Tensor& output,
                                                       double scale) = 0;

  // Point-to-point. A Send matches the Recv of the same (peer, tag) pair in
  // posting order; shapes must agree.
  virtual std::shared_ptr<Work> Send(const runtime::Tensor& tensor, int peer, int tag) = 0;
  virtual std::shared_ptr<Work> Recv(const runtime::Tensor& tensor, int peer, int tag) = 0;

  // Completes once every rank has posted its Barrier.
  virtual std::shared_ptr<Work> Barrier() = 0;

  // Collective: every rank calls it. Ranks with the same `color` form a new
  // communicator, ordered by (key, rank). color < 0 takes no part and gets
  // nullptr. The new communicator reuses existing connections where it can.
  virtual absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key,
                                                              absl::Time deadline) = 0;

  // Collective over the survivors (every rank not in `excluded_ranks` calls
  // it, with the same list): a new communicator with epoch() + 1 over the
  // remaining ranks, renumbered in order. Works after a fault; the old
  // communicator stays broken. kUnimplemented when !capabilities().shrink.
  virtual absl::StatusOr<std::unique_ptr<Communicator>> Shrink(
      absl::Span<const int> excluded_ranks, absl::Time deadline) = 0;

  // Fails every pending operation with kAborted (carrying `reason`'s message)
  // and releases the peers; operations posted afterwards fail with
  // kFailedPrecondition (the communicator is broken). Returns promptly;
  // idempotent.
  virtual void Abort(absl::Status reason) = 0;
};

}  // namespace braid::collectives

#endif  // BRAID_COLLECTIVES_COMMUNICATOR_H_
