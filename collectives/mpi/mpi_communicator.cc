#include "collectives/mpi/mpi_communicator.h"

#include <climits>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/mpi/mpi_checks.h"
#include "kernels/reduce.h"
#include "runtime/status_macros.h"

#if BRAID_MPI_HAS_ULFM
#include <mpi-ext.h>
#endif

namespace braid::collectives {
namespace {

using runtime::DType;
using runtime::Tensor;
using mpi_internal::CheckSame;
using mpi_internal::CheckTensor;
using mpi_internal::Describe;
using mpi_internal::Post;
using mpi_internal::Unaliased;

}  // namespace

absl::StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::CreateWorld(
    MpiSession& session, const Options& options) {
  auto state =
      std::make_shared<MpiCommState>(options.name, session.world_rank(), session.world_size());
  BRAID_RETURN_IF_ERROR(
      DuplicateComm(session.engine(), MPI_COMM_WORLD, state, options.connect_timeout));
  return std::unique_ptr<MpiCommunicator>(
      new MpiCommunicator(session, std::move(state), options, 0));
}

MpiCommunicator::~MpiCommunicator() {
  // Pending operations keep running (MPI frees the communicator after them).
  std::shared_ptr<MpiCommState> state = state_;
  (void)session_.engine().Run(
      [state] {
        if (state->comm != MPI_COMM_NULL) MPI_Comm_free(&state->comm);
        return absl::OkStatus();
      },
      absl::Now() + absl::Seconds(10));
}

Capabilities MpiCommunicator::capabilities() const {
  Capabilities c;
  c.cpu_tensors = true;
  c.cuda_tensors = false;
#if BRAID_MPI_HAS_ULFM
  c.shrink = true;
  c.fault_tolerant = true;
#endif
  return c;
}

std::shared_ptr<MpiOp> MpiCommunicator::NewOp(absl::string_view call, absl::string_view detail,
                                              bool cancellable) {
  auto op = std::make_shared<MpiOp>();
  op->name = absl::StrCat(call, "(", detail, ") op #", state_->NextSeq(), " on '", state_->name(),
                          "' rank ", rank(), "/", size());
  op->comm = state_;
  op->timeout = options_.op_timeout;
  op->deadline = absl::Now() + options_.op_timeout;
  op->cancellable = cancellable;
  return op;
}

std::shared_ptr<Work> MpiCommunicator::Fail(absl::string_view call, absl::Status status) {
  return SettableWork::Done(
      absl::Status(status.code(), absl::StrCat(call, " on '", state_->name(), "' rank ", rank(),
                                               "/", size(), ": ", status.message())));
}

std::shared_ptr<Work> MpiCommunicator::AllReduce(const Tensor& input, const Tensor& output,
                                                 ReduceOp op) {
  constexpr absl::string_view kCall = "MPI_Iallreduce";
  absl::Status s = CheckTensor(input, "input");
  if (s.ok()) s = CheckTensor(output, "output");
  if (s.ok()) s = CheckSame(input, output, input.numel());
  if (!s.ok()) return Fail(kCall, s);
  const bool in_place = input.raw_data() == output.raw_data();
  absl::StatusOr<Tensor> send = in_place ? input : Unaliased(input, output);
  if (!send.ok()) return Fail(kCall, send.status());
  const DType dtype = input.dtype();
  const int count = static_cast<int>(input.numel());
  auto mpi_op = NewOp(kCall, absl::StrCat(ToString(op), ", ", Describe(dtype, count)), false);
  mpi_op->start = [comm = state_, send = *send, output, in_place, count,
                   type = MpiSession::Datatype(dtype),
                   reduce = session_.Operator(dtype, op)](std::vector<MPI_Request>& requests) {
    const void* sbuf = in_place ? MPI_IN_PLACE : send.raw_data();
    return Post(requests, "MPI_Iallreduce", [&](MPI_Request* r) {
      return MPI_Iallreduce(sbuf, output.raw_data(), count, type, reduce, comm->comm, r);
    });
  };
  if (op == ReduceOp::kAvg) {
    mpi_op->finish = [output, count, dtype, n = size()](absl::Span<MPI_Status>) {
      return kernels::DivideInPlace(output.raw_data(), count, dtype, n);
    };
  }
  return session_.engine().Submit(std::move(mpi_op));
}

std::shared_ptr<Work> MpiCommunicator::ReduceScatter(const Tensor& input, const Tensor& output,
                                                     ReduceOp op) {
  constexpr absl::string_view kCall = "MPI_Ireduce_scatter_block";
  absl::Status s = CheckTensor(input, "input");
  if (s.ok()) s = CheckTensor(output, "output");
  if (s.ok() && input.numel() % size() != 0) {
    s = absl::InvalidArgumentError(absl::StrCat(
        "input has ", input.numel(), " elements, not a multiple of the group size ", size()));
  }
  if (s.ok()) s = CheckSame(input, output, input.numel() / size());
  if (!s.ok()) return Fail(kCall, s);
  absl::StatusOr<Tensor> send = Unaliased(input, output);
  if (!send.ok()) return Fail(kCall, send.status());
  const DType dtype = input.dtype();
  const int count = static_cast<int>(output.numel());
  auto mpi_op =
      NewOp(kCall, absl::StrCat(ToString(op), ", ", Describe(dtype, count), " per rank"), false);
  mpi_op->start = [comm = state_, send = *send, output, count, type = MpiSession::Datatype(dtype),
                   reduce = session_.Operator(dtype, op)](std::vector<MPI_Request>& requests) {
    return Post(requests, "MPI_Ireduce_scatter_block", [&](MPI_Request* r) {
      return MPI_Ireduce_scatter_block(send.raw_data(), output.raw_data(), count, type, reduce,
                                       comm->comm, r);
    });
  };
  if (op == ReduceOp::kAvg) {
    mpi_op->finish = [output, count, dtype, n = size()](absl::Span<MPI_Status>) {
      return kernels::DivideInPlace(output.raw_data(), count, dtype, n);
    };
  }
  return session_.engine().Submit(std::move(mpi_op));
}

std::shared_ptr<Work> MpiCommunicator::AllGather(const Tensor& input, const Tensor& output) {
  constexpr absl::string_view kCall = "MPI_Iallgather";
  absl::Status s = CheckTensor(input, "input");
  if (s.ok()) s = CheckTensor(output, "output");
  if (s.ok()) s = CheckSame(input, output, input.numel() * size());
  if (!s.ok()) return Fail(kCall, s);
  // MPI_IN_PLACE when the input already sits at this rank's slot of output.
  const bool in_place =
      input.nbytes() > 0 &&
      static_cast<const char*>(output.raw_data()) + rank() * input.nbytes() == input.raw_data();
  absl::StatusOr<Tensor> send = in_place ? input : Unaliased(input, output);
  if (!send.ok()) return Fail(kCall, send.status());
  const DType dtype = input.dtype();
  const int count = static_cast<int>(input.numel());
  auto mpi_op = NewOp(kCall, absl::StrCat(Describe(dtype, count), " per rank"), false);
  mpi_op->start = [comm = state_, send = *send, output, in_place, count,
                   type = MpiSession::Datatype(dtype)](std::vector<MPI_Request>& requests) {
    const void* sbuf = in_place ? MPI_IN_PLACE : send.raw_data();
    return Post(requests, "MPI_Iallgather", [&](MPI_Request* r) {
      return MPI_Iallgather(sbuf, count, type, output.raw_data(), count, type, comm->comm, r);
    });
  };
  return session_.engine().Submit(std::move(mpi_op));
}

std::shared_ptr<Work> MpiCommunicator::Broadcast(const Tensor& tensor, int root) {
  constexpr absl::string_view kCall = "MPI_Ibcast";
  absl::Status s = CheckTensor(tensor, "tensor");
  if (s.ok() && (root < 0 || root >= size())) {
    s = absl::InvalidArgumentError(
        absl::StrCat("root ", root, " is not a rank of a group of ", size()));
  }
  if (!s.ok()) return Fail(kCall, s);
  const DType dtype = tensor.dtype();
  const int count = static_cast<int>(tensor.numel());
  auto mpi_op = NewOp(kCall, absl::StrCat(Describe(dtype, count), ", root ", root), false);
  mpi_op->start = [comm = state_, tensor, count, root,
                   type = MpiSession::Datatype(dtype)](std::vector<MPI_Request>& requests) {
    return Post(requests, "MPI_Ibcast", [&](MPI_Request* r) {
      return MPI_Ibcast(tensor.raw_data(), count, type, root, comm->comm, r);
    });
  };
  return session_.engine().Submit(std::move(mpi_op));
}

std::shared_ptr<Work> MpiCommunicator::Reduce(const Tensor& input, const Tensor& output,
                                              ReduceOp op, int root) {
  constexpr absl::string_view kCall = "MPI_Ireduce";
  absl::Status s = CheckTensor(input, "input");
  if (s.ok() && (root < 0 || root >= size())) {
    s = absl::InvalidArgumentError(
        absl::StrCat("root ", root, " is not a rank of a group of ", size()));
  }
  const bool is_root = rank() == root;
  if (s.ok() && is_root) s = CheckTensor(output, "output (on the root)");
  if (s.ok() && is_root) s = CheckSame(input, output, input.numel());
  if (!s.ok()) return Fail(kCall, s);
  const bool in_place = is_root && input.raw_data() == output.raw_data();
  absl::StatusOr<Tensor> send = (!is_root || in_place) ? input : Unaliased(input, output);
  if (!send.ok()) return Fail(kCall, send.status());
  const DType dtype = input.dtype();
  const int count = static_cast<int>(input.numel());
  auto mpi_op = NewOp(
      kCall, absl::StrCat(ToString(op), ", ", Describe(dtype, count), ", root ", root), false);
  Tensor recv = is_root ? output : Tensor();
  mpi_op->start = [comm = state_, send = *send, recv, in_place, count, root,
                   type = MpiSession::Datatype(dtype),
                   reduce = session_.Operator(dtype, op)](std::vector<MPI_Request>& requests) {
    const void* sbuf = in_place ? MPI_IN_PLACE : send.raw_data();
    void* rbuf = recv.defined() ? recv.raw_data() : nullptr;
    return Post(requests, "MPI_Ireduce", [&](MPI_Request* r) {
      return MPI_Ireduce(sbuf, rbuf, count, type, reduce, root, comm->comm, r);
    });
  };
  if (op == ReduceOp::kAvg && is_root) {
    mpi_op->finish = [recv, count, dtype, n = size()](absl::Span<MPI_Status>) {
      return kernels::DivideInPlace(recv.raw_data(), count, dtype, n);
    };
  }
  return session_.engine().Submit(std::move(mpi_op));
}

std::shared_ptr<Work> MpiCommunicator::AllToAll(const Tensor& input, const Tensor& output) {
  constexpr absl::string_view kCall = "MPI_Ialltoall";
  absl::Status s = CheckTensor(input, "input");
  if (s.ok()) s = CheckTensor(output, "output");
  if (s.ok() && input.numel() % size() != 0) {
    s = absl::InvalidArgumentError(absl::StrCat(
        "input has ", input.numel(), " elements, not a multiple of the group size ", size()));
  }
  if (s.ok()) s = CheckSame(input, output, input.numel());
  if (!s.ok()) return Fail(kCall, s);
  absl::StatusOr<Tensor> send = Unaliased(input, output);
  if (!send.ok()) return Fail(kCall, send.status());
  const DType dtype = input.dtype();
  const int count = static_cast<int>(input.numel() / size());
  auto mpi_op = NewOp(kCall, absl::StrCat(Describe(dtype, count), " per peer"), false);
  mpi_op->start = [comm = state_, send = *send, output, count,
                   type = MpiSession::Datatype(dtype)](std::vector<MPI_Request>& requests) {
    return Post(requests, "MPI_Ialltoall", [&](MPI_Request* r) {
      return MPI_Ialltoall(send.raw_data(), count, type, output.raw_data(), count, type, comm->comm,
                           r);
    });
  };
  return session_.engine().Submit(std::move(mpi_op));
}

std::shared_ptr<Work> MpiCommunicator::AllToAllV(const Tensor& input,
                                                 absl::Span<const int64_t> send_counts,
                                                 const Tensor& output,
                                                 absl::Span<const int64_t> recv_counts) {
  constexpr absl::string_view kCall = "MPI_Ialltoallv";
  absl::Status s = CheckTensor(input, "input");
  if (s.ok()) s = CheckTensor(output, "output");
  if (s.ok() && input.dtype() != output.dtype()) s = CheckSame(input, output, output.numel());
  const int n = size();
  if (s.ok() &&
      (static_cast<int>(send_counts.size()) != n || static_cast<int>(recv_counts.size()) != n)) {
    s = absl::InvalidArgumentError(absl::StrCat("send_counts has ", send_counts.size(),
                                                " entries and recv_counts ", recv_counts.size(),
                                                "; both need one per rank (", n, ")"));
  }
  // Counts and displacements as MPI's ints; they live as long as the op.
  auto table = std::make_shared<std::vector<int>>(4 * n, 0);
  int64_t send_total = 0, recv_total = 0;
  for (int j = 0; s.ok() && j < n; ++j) {
    if (send_counts[j] < 0 || recv_counts[j] < 0) {
      s = absl::InvalidArgumentError(absl::StrCat("negative count for rank ", j));
      break;
    }
    (*table)[j] = static_cast<int>(send_counts[j]);
    (*table)[n + j] = static_cast<int>(send_total);
    (*table)[2 * n + j] = static_cast<int>(recv_counts[j]);
    (*table)[3 * n + j] = static_cast<int>(recv_total);
    send_total += send_counts[j];
    recv_total += recv_counts[j];
  }
  if (s.ok() && (send_total > input.numel() || recv_total > output.numel())) {
    s = absl::InvalidArgumentError(absl::StrCat("send_counts sum to ", send_total, " (input holds ",
                                                input.numel(), ") and recv_counts to ", recv_total,
                                                " (output holds ", output.numel(), ")"));
  }
  if (!s.ok()) return Fail(kCall, s);
  absl::StatusOr<Tensor> send = Unaliased(input, output);
  if (!send.ok()) return Fail(kCall, send.status());
  const DType dtype = input.dtype();
  auto mpi_op = NewOp(kCall,
                      absl::StrCat(runtime::ToString(dtype), ", ", send_total, " elements out, ",
                                   recv_total, " in"),
                      false);
  mpi_op->start = [comm = state_, send = *send, output, table, n,
                   type = MpiSession::Datatype(dtype)](std::vector<MPI_Request>& requests) {
    int* t = table->data();
    return Post(requests, "MPI_Ialltoallv", [&](MPI_Request* r) {
      return MPI_Ialltoallv(send.raw_data(), t, t + n, type, output.raw_data(), t + 2 * n,
                            t + 3 * n, type, comm->comm, r);
    });
  };
  return session_.engine().Submit(std::move(mpi_op));
}

std::shared_ptr<Work> MpiCommunicator::Send(const Tensor& tensor, int peer, int tag) {
  constexpr absl::string_view kCall = "MPI_Isend";
  absl::Status s = CheckTensor(tensor, "tensor");
  if (s.ok() && (peer < 0 || peer >= size())) {
    s = absl::InvalidArgumentError(
        absl::StrCat("peer ", peer, " is not a rank of a group of ", size()));
  }
  if (s.ok() && (tag < 0 || tag > session_.tag_ub())) {
    s = absl::InvalidArgumentError(
        absl::StrCat("tag ", tag, " is outside [0, ", session_.tag_ub(), "]"));
  }
  if (!s.ok()) return Fail(kCall, s);
  const DType dtype = tensor.dtype();
  const int count = static_cast<int>(tensor.numel());
  auto mpi_op =
      NewOp(kCall, absl::StrCat(Describe(dtype, count), " to ", peer, ", tag ", tag), true);
  mpi_op->start = [comm = state_, tensor, count, peer, tag,
                   type = MpiSession::Datatype(dtype)](std::vector<MPI_Request>& requests) {
    return Post(requests, "MPI_Isend", [&](MPI_Request* r) {
      return MPI_Isend(tensor.raw_data(), count, type, peer, tag, comm->comm, r);
    });
  };
  return session_.engine().Submit(std::move(mpi_op));
}

std::shared_ptr<Work> MpiCommunicator::Recv(const Tensor& tensor, int peer, int tag) {
  constexpr absl::string_view kCall = "MPI_Irecv";
  absl::Status s = CheckTensor(tensor, "tensor");
  if (s.ok() && (peer < 0 || peer >= size())) {
    s = absl::InvalidArgumentError(
        absl::StrCat("peer ", peer, " is not a rank of a group of ", size()));
  }
  if (s.ok() && (tag < 0 || tag > session_.tag_ub())) {
    s = absl::InvalidArgumentError(
        absl::StrCat("tag ", tag, " is outside [0, ", session_.tag_ub(), "]"));
  }
  if (!s.ok()) return Fail(kCall, s);
  const DType dtype = tensor.dtype();
  const int count = static_cast<int>(tensor.numel());
  auto mpi_op =
      NewOp(kCall, absl::StrCat(Describe(dtype, count), " from ", peer, ", tag ", tag), true);
  const MPI_Datatype type = MpiSession::Datatype(dtype);
  mpi_op->start = [comm = state_, tensor, count, peer, tag,
                   type](std::vector<MPI_Request>& requests) {
    return Post(requests, "MPI_Irecv", [&](MPI_Request* r) {
      return MPI_Irecv(tensor.raw_data(), count, type, peer, tag, comm->comm, r);
    });
  };
  mpi_op->finish = [count, type, name = mpi_op->name](absl::Span<MPI_Status> statuses) {
    int got = 0;
    MPI_Get_count(&statuses[0], type, &got);
    if (got != count) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": received ", got, " elements; Send and Recv shapes must agree"));
    }
    return absl::OkStatus();
  };
  return session_.engine().Submit(std::move(mpi_op));
}

std::shared_ptr<Work> MpiCommunicator::Barrier() {
  auto mpi_op = NewOp("MPI_Ibarrier", "", false);
  mpi_op->start = [comm = state_](std::vector<MPI_Request>& requests) {
    return Post(requests, "MPI_Ibarrier",
                [&](MPI_Request* r) { return MPI_Ibarrier(comm->comm, r); });
  };
  return session_.engine().Submit(std::move(mpi_op));
}

absl::StatusOr<std::unique_ptr<Communicator>> MpiCommunicator::Split(int color, int key,
                                                                     absl::Time deadline) {
  // 1. Every rank learns that every other rank entered Split (bounded by the
  //    deadline); 2. then MPI_Comm_split, which they all have committed to.
  auto table = std::make_shared<std::vector<int>>(2 * size() + 2, 0);
  (*table)[0] = color;
  (*table)[1] = key;
  auto gather = NewOp("MPI_Iallgather", "Split color/key", false);
  gather->deadline = std::min(gather->deadline, deadline);
  gather->start = [comm = state_, table](std::vector<MPI_Request>& requests) {
    return Post(requests, "MPI_Iallgather", [&](MPI_Request* r) {
      return MPI_Iallgather(table->data(), 2, MPI_INT, table->data() + 2, 2, MPI_INT, comm->comm,
                            r);
    });
  };
  const std::string gather_name = gather->name;
  BRAID_RETURN_IF_ERROR(
      session_.engine().Submit(std::move(gather))->Wait(deadline + absl::Seconds(1)));

  struct Result {
    MPI_Comm comm = MPI_COMM_NULL;
    int rank = 0;
    int size = 0;
  };
  auto result = std::make_shared<Result>();
  BRAID_RETURN_IF_ERROR(session_.engine().Run(
      [parent = state_, result, color, key] {
        const int c = color < 0 ? MPI_UNDEFINED : color;
        if (int rc = MPI_Comm_split(parent->comm, c, key, &result->comm); rc != MPI_SUCCESS) {
          return MpiError(rc, "MPI_Comm_split");
        }
        if (result->comm == MPI_COMM_NULL) return absl::OkStatus();
        MPI_Comm_set_errhandler(result->comm, MPI_ERRORS_RETURN);
        MPI_Comm_rank(result->comm, &result->rank);
        MPI_Comm_size(result->comm, &result->size);
        return absl::OkStatus();
      },
      std::max(deadline, absl::Now() + options_.op_timeout)));
  if (result->comm == MPI_COMM_NULL) return std::unique_ptr<Communicator>();
  Options child_options = options_;
  child_options.name = absl::StrCat(state_->name(), "/split(", color, ")");
  auto state = std::make_shared<MpiCommState>(child_options.name, result->rank, result->size);
  state->comm = result->comm;
  return std::unique_ptr<Communicator>(
      new MpiCommunicator(session_, std::move(state), child_options, epoch_));
}

absl::StatusOr<std::unique_ptr<Communicator>> MpiCommunicator::Shrink(
    absl::Span<const int> excluded_ranks, absl::Time deadline) {
#if BRAID_MPI_HAS_ULFM
  // ULFM agrees on the failed ranks itself; excluded_ranks is checked against
  // the size of the result.
  struct Result {
    MPI_Comm comm = MPI_COMM_NULL;
    int rank = 0;
    int size = 0;
  };
  auto result = std::make_shared<Result>();
  BRAID_RETURN_IF_ERROR(session_.engine().Run(
      [parent = state_, result] {
        if (int rc = MPIX_Comm_shrink(parent->comm, &result->comm); rc != MPI_SUCCESS) {
          return MpiError(rc, "MPIX_Comm_shrink");
        }
        MPI_Comm_set_errhandler(result->comm, MPI_ERRORS_RETURN);
        MPI_Comm_rank(result->comm, &result->rank);
        MPI_Comm_size(result->comm, &result->size);
        return absl::OkStatus();
      },
      deadline));
  if (result->size != size() - static_cast<int>(excluded_ranks.size())) {
    return absl::AbortedError(absl::StrCat("MPIX_Comm_shrink left ", result->size,
                                           " ranks, expected ", size() - excluded_ranks.size()));
  }
  auto state = std::make_shared<MpiCommState>(options_.name, result->rank, result->size);
  state->comm = result->comm;
  return std::unique_ptr<Communicator>(
      new MpiCommunicator(session_, std::move(state), options_, epoch_ + 1));
#else
  return absl::UnimplementedError(absl::StrCat(
      "Shrink on mpi communicator '", state_->name(),
      "': this MPI has no ULFM (MPIX_Comm_shrink), so a failed rank cannot be removed in place; "
      "end the job and let the launcher restart it with the survivors, or use the tcp backend "
      "for in-place recovery"));
#endif
}

void MpiCommunicator::Abort(absl::Status reason) {
  state_->Break(absl::AbortedError(
      absl::StrCat("communicator '", state_->name(), "' aborted: ", reason.message())));
#if BRAID_MPI_HAS_ULFM
  std::shared_ptr<MpiCommState> state = state_;
  (void)session_.engine().Run(
      [state] {
        MPIX_Comm_revoke(state->comm);
        return absl::OkStatus();
      },
      absl::Now() + absl::Seconds(1));
#endif
  session_.engine().Wake();
}

absl::Status RegisterMpiBackend(CommunicatorFactory& factory, MpiSession& session) {
  return factory.Register(
      "mpi",
      [&session](
          const CommunicatorOptions& options) -> absl::StatusOr<std::unique_ptr<Communicator>> {
        if (options.rank != session.world_rank() || options.size != session.world_size()) {
          return absl::InvalidArgumentError(
              absl::StrCat("the mpi backend spans MPI_COMM_WORLD (rank ", session.world_rank(),
                           " of ", session.world_size(), ") but was asked for rank ", options.rank,
                           " of ", options.size, "; use Split for sub-groups"));
        }
        MpiCommunicator::Options mpi_options;
        mpi_options.op_timeout = options.op_timeout;
        mpi_options.connect_timeout = options.connect_timeout;
        BRAID_ASSIGN_OR_RETURN(std::unique_ptr<MpiCommunicator> comm,
                               MpiCommunicator::CreateWorld(session, mpi_options));
        return std::unique_ptr<Communicator>(std::move(comm));
      });
}

}  // namespace braid::collectives
