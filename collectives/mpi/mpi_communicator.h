// MpiCommunicator: the "mpi" backend, a Communicator over an MPI
// communicator (Open MPI 4.1 on Debian).
//
// Every operation is one non-blocking MPI call (MPI_Iallreduce,
// MPI_Ireduce_scatter_block, MPI_Iallgather, MPI_Ibcast, MPI_Ireduce,
// MPI_Ialltoall, MPI_Ialltoallv, MPI_Iallgatherv, MPI_Ireduce_scatter,
// MPI_Igather, MPI_Iscatter, MPI_Isend / MPI_Irecv with the tag,
// MPI_Ibarrier) returning a Work that the session's progress engine completes
// (threading model: mpi_engine.h, docs/mpi.md). The communicator uses
// MPI_ERRORS_RETURN, so every MPI failure is a Status carrying MPI's error
// string. Tensors must be contiguous CPU tensors (use nccl, e.g. through
// DeviceDispatchCommunicator, for CUDA tensors). f16/bf16 reduce in f32
// through user-defined MPI operators; avg is a sum divided by size()
// afterwards (integers truncate toward zero). Overlapping input/output
// buffers (in place) are supported for every operation.
//
// Faults: Open MPI 4.1 has no ULFM. An operation still running after
// op_timeout fails with kAborted naming it and the communicator becomes
// broken (later operations: kFailedPrecondition). Recovery is by ending the
// job and letting the launcher restart it from the last checkpoint; the
// MpiSession destructor calls MPI_Abort when requests are still outstanding,
// so nothing hangs at exit. Shrink is kUnimplemented unless braid was built
// against an MPI with ULFM (MPIX_Comm_shrink/MPIX_Comm_revoke detected at
// configure time: BRAID_MPI_HAS_ULFM), where Abort revokes the communicator
// and Shrink uses MPIX_Comm_shrink.
//
// Thread-safety: as Communicator (posting is thread-safe; Abort from any
// thread). The communicator must be destroyed before its MpiSession.
#ifndef BRAID_COLLECTIVES_MPI_MPI_COMMUNICATOR_H_
#define BRAID_COLLECTIVES_MPI_MPI_COMMUNICATOR_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "collectives/factory.h"
#include "collectives/mpi/mpi_engine.h"
#include "collectives/mpi/mpi_session.h"

namespace braid::collectives {

class MpiCommunicator final : public Communicator {
 public:
  struct Options {
    // No operation runs longer than this (then kAborted). Default 5 minutes.
    absl::Duration op_timeout = absl::Minutes(5);
    // Creation (the collective MPI_Comm_idup) must finish by then.
    absl::Duration connect_timeout = absl::Seconds(60);
    // Names the communicator in error messages.
    std::string name = "world";
  };

  // A communicator over all ranks of the session's MPI_COMM_WORLD (a
  // duplicate of it). Collective over the world.
  static absl::StatusOr<std::unique_ptr<MpiCommunicator>> CreateWorld(MpiSession& session,
                                                                      const Options& options);

  ~MpiCommunicator() override;

  int rank() const override { return state_->rank(); }
  int size() const override { return state_->size(); }
  int64_t epoch() const override { return epoch_; }
  absl::string_view backend() const override { return "mpi"; }
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
  // MPI_Iallgatherv, MPI_Ireduce_scatter, MPI_Igather, MPI_Iscatter
  // (MPI_IN_PLACE for the in-place forms); the pre-multiplied sums scale a
  // copy of the input on the calling thread, then MPI_Iallreduce /
  // MPI_Ireduce_scatter_block with MPI_SUM (mpi_vector_ops.cc).
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

  // An all-gather of (color, key) with the deadline, then MPI_Comm_split
  // (which every peer has then committed to).
  absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key,
                                                      absl::Time deadline) override;
  // kUnimplemented without ULFM (see the file comment).
  absl::StatusOr<std::unique_ptr<Communicator>> Shrink(absl::Span<const int> excluded_ranks,
                                                       absl::Time deadline) override;
  void Abort(absl::Status reason) override;

 private:
  MpiCommunicator(MpiSession& session, std::shared_ptr<MpiCommState> state, const Options& options,
                  int64_t epoch)
      : session_(session), state_(std::move(state)), options_(options), epoch_(epoch) {}

  // Builds an op named "<call>(<detail>) op #N on '<name>' rank r/n".
  std::shared_ptr<MpiOp> NewOp(absl::string_view call, absl::string_view detail, bool cancellable);
  std::shared_ptr<Work> Fail(absl::string_view call, absl::Status status);

  MpiSession& session_;
  const std::shared_ptr<MpiCommState> state_;
  const Options options_;
  const int64_t epoch_;
};

// Registers the "mpi" backend. Its communicators span MPI_COMM_WORLD:
// CommunicatorOptions rank/size must equal the session's world rank/size
// (kInvalidArgument otherwise); the store is not used; op_timeout and
// connect_timeout are honoured. `session` must outlive the factory's use.
absl::Status RegisterMpiBackend(CommunicatorFactory& factory, MpiSession& session);

}  // namespace braid::collectives

#endif  // BRAID_COLLECTIVES_MPI_MPI_COMMUNICATOR_H_
