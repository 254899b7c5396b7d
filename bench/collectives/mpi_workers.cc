// Workers run under mpirun: Open MPI's own collectives (the "ompi" peer) and
// braid's "mpi" backend. Built when MPI is found (see mpi_workers_none.cc).
#include <mpi.h>

#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/collectives/communicator_group.h"
#include "bench/collectives/workers.h"
#include "collectives/factory.h"
#include "collectives/mpi/mpi_communicator.h"
#include "collectives/mpi/mpi_session.h"
#include "elastic/store/store_client.h"

namespace braid::bench {
namespace {

absl::Status MpiError(int rc, absl::string_view call) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  return absl::InternalError(absl::StrCat(call, " failed: ", absl::string_view(text, len)));
}

// Open MPI's collectives on MPI_COMM_WORLD, out of place (as nccl-tests),
// broadcast from rank 0 in place: the blocking calls ("ompi"), or the
// non-blocking ones followed by MPI_Wait ("ompi-nb"), the same contract as
// braid's Work handles.
class OmpiGroup final : public BenchGroup {
 public:
  explicit OmpiGroup(bool nonblocking) : nonblocking_(nonblocking) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  absl::Status Prepare(BenchOp op, float* in, float* out, int64_t size_elements) override {
    op_ = op;
    in_ = in;
    out_ = out;
    counts_ = OpBufferCounts(op, size_elements, size_);
    if (size_elements > (int64_t{1} << 31) - 1) {
      return absl::InvalidArgumentError("MPI counts are int: size too large");
    }
    return absl::OkStatus();
  }
  absl::Status RunOnce() override {
    if (nonblocking_) return RunNonBlocking();
    int rc = MPI_SUCCESS;
    switch (op_) {
      case BenchOp::kAllReduce:
        rc = MPI_Allreduce(in_, out_, static_cast<int>(counts_.output), MPI_FLOAT, MPI_SUM,
                           MPI_COMM_WORLD);
        break;
      case BenchOp::kReduceScatter:
        rc = MPI_Reduce_scatter_block(in_, out_, static_cast<int>(counts_.output), MPI_FLOAT,
                                      MPI_SUM, MPI_COMM_WORLD);
        break;
      case BenchOp::kAllGather:
        rc = MPI_Allgather(in_, static_cast<int>(counts_.input), MPI_FLOAT, out_,
                           static_cast<int>(counts_.input), MPI_FLOAT, MPI_COMM_WORLD);
        break;
      case BenchOp::kBroadcast:
        rc = MPI_Bcast(out_, static_cast<int>(counts_.output), MPI_FLOAT, 0, MPI_COMM_WORLD);
        break;
      case BenchOp::kAllToAll:
        rc = MPI_Alltoall(in_, static_cast<int>(counts_.input / size_), MPI_FLOAT, out_,
                          static_cast<int>(counts_.output / size_), MPI_FLOAT, MPI_COMM_WORLD);
        break;
    }
    if (rc != MPI_SUCCESS) return MpiError(rc, ToString(op_));
    return absl::OkStatus();
  }
  absl::Status RunNonBlocking() {
    MPI_Request request = MPI_REQUEST_NULL;
    int rc = MPI_SUCCESS;
    switch (op_) {
      case BenchOp::kAllReduce:
        rc = MPI_Iallreduce(in_, out_, static_cast<int>(counts_.output), MPI_FLOAT, MPI_SUM,
                            MPI_COMM_WORLD, &request);
        break;
      case BenchOp::kReduceScatter:
        rc = MPI_Ireduce_scatter_block(in_, out_, static_cast<int>(counts_.output), MPI_FLOAT,
                                       MPI_SUM, MPI_COMM_WORLD, &request);
        break;
      case BenchOp::kAllGather:
        rc = MPI_Iallgather(in_, static_cast<int>(counts_.input), MPI_FLOAT, out_,
                            static_cast<int>(counts_.input), MPI_FLOAT, MPI_COMM_WORLD, &request);
        break;
      case BenchOp::kBroadcast:
        rc = MPI_Ibcast(out_, static_cast<int>(counts_.output), MPI_FLOAT, 0, MPI_COMM_WORLD,
                        &request);
        break;
      case BenchOp::kAllToAll:
        rc = MPI_Ialltoall(in_, static_cast<int>(counts_.input / size_), MPI_FLOAT, out_,
                           static_cast<int>(counts_.output / size_), MPI_FLOAT, MPI_COMM_WORLD,
                           &request);
        break;
    }
    if (rc == MPI_SUCCESS) rc = MPI_Wait(&request, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return MpiError(rc, ToString(op_));
    return absl::OkStatus();
  }
  absl::Status Barrier() override {
    const int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? absl::OkStatus() : MpiError(rc, "MPI_Barrier");
  }

 private:
  const bool nonblocking_;
  int rank_ = 0;
  int size_ = 1;
  BenchOp op_ = BenchOp::kAllReduce;
  float* in_ = nullptr;
  float* out_ = nullptr;
  BufferCounts counts_;
};

absl::Status RunOmpi(const WorkerArgs& args, bool nonblocking) {
  int provided = 0;
  if (int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SINGLE, &provided); rc != MPI_SUCCESS) {
    return MpiError(rc, "MPI_Init_thread");
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  OmpiGroup group(nonblocking);
  absl::Status s = RunSweep(group, args.sweep, args.result_path);
  if (!s.ok()) {
    // The other ranks may sit in a collective this rank will never join.
    std::fprintf(stderr, "ompi rank %d: %s\n", group.rank(), std::string(s.message()).c_str());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return s;
}

absl::Status RunBraidMpi(const WorkerArgs& args) {
  absl::StatusOr<std::unique_ptr<collectives::MpiSession>> session =
      collectives::MpiSession::Create({});
  if (!session.ok()) return session.status();
  elastic::StoreClientOptions store_options;
  store_options.address = args.store_address;
  absl::StatusOr<std::unique_ptr<elastic::StoreClient>> store =
      elastic::StoreClient::Create(store_options);
  if (!store.ok()) return store.status();
  absl::Status s;
  {
    collectives::CommunicatorFactory factory;
    if (s = collectives::RegisterMpiBackend(factory, **session); !s.ok()) return s;
    collectives::CommunicatorOptions o;
    o.rank = (*session)->world_rank();
    o.size = (*session)->world_size();
    o.store = store->get();
    o.store_prefix = args.store_prefix;
    o.op_timeout = absl::Seconds(120);
    absl::StatusOr<std::unique_ptr<collectives::Communicator>> comm = factory.Create("mpi", o);
    if (!comm.ok()) return comm.status();
    CommunicatorGroup group(**comm);
    s = RunSweep(group, args.sweep, args.result_path);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "braid mpi rank %d: %s\n", (*session)->world_rank(),
                 std::string(s.message()).c_str());
    (*session)->AbortJob(s);
  }
  return s;
}

}  // namespace

absl::Status RunMpiWorker(const WorkerArgs& args, MpiWorker which) {
  switch (which) {
    case MpiWorker::kBraid: return RunBraidMpi(args);
    case MpiWorker::kOmpi: return RunOmpi(args, /*nonblocking=*/false);
    case MpiWorker::kOmpiNonBlocking: return RunOmpi(args, /*nonblocking=*/true);
  }
  return absl::InternalError("unknown mpi worker");
}

bool HaveMpi() { return true; }

std::string MpiexecPath() { return BRAID_BENCH_MPIEXEC; }

}  // namespace braid::bench
