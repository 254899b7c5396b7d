// MpiCommunicator's variable-count, rooted and pre-multiplied operations:
// MPI_Iallgatherv, MPI_Ireduce_scatter, MPI_Igather, MPI_Iscatter, and the
// PreMulSum forms of AllReduce / ReduceScatter (scale a copy, then sum).
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collectives/mpi/mpi_checks.h"
#include "collectives/mpi/mpi_communicator.h"
#include "collectives/pre_mul_sum.h"
#include "kernels/reduce.h"
#include "runtime/status_macros.h"

namespace braid::collectives {
namespace {

using mpi_internal::CheckRoot;
using mpi_internal::CheckSame;
using mpi_internal::CheckTensor;
using mpi_internal::CountsAndDispls;
using mpi_internal::Describe;
using mpi_internal::IsViewAt;
using mpi_internal::Post;
using mpi_internal::Unaliased;
using runtime::DType;
using runtime::Tensor;

// A new tensor holding scale * input (the "pre-multiply" step).
absl::StatusOr<Tensor> Scaled(const Tensor& input, double scale) {
  BRAID_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty({input.numel()}, input.dtype()));
  BRAID_RETURN_IF_ERROR(
      PreMultiply(input.raw_data(), out.raw_data(), input.numel(), input.dtype(), scale));
  return out;
}

}  // namespace

std::shared_ptr<Work> MpiCommunicator::AllGatherV(const Tensor& input, const Tensor& output,
                                                  absl::Span<const int64_t> counts) {
  constexpr absl::string_view kCall = "MPI_Iallgatherv";
  absl::Status s = CheckTensor(input, "input");
  if (s.ok()) s = CheckTensor(output, "output");
  int64_t total = 0;
  absl::StatusOr<std::vector<int>> table =
      s.ok() ? CountsAndDispls(counts, size(), &total) : absl::StatusOr<std::vector<int>>(s);
  s = table.status();
  if (s.ok() && input.numel() != counts[rank()]) {
    s = absl::InvalidArgumentError(absl::StrCat("input has ", input.numel(),
                                                " elements but counts[", rank(), "] is ",
                                                counts[rank()]));
  }
  if (s.ok()) s = CheckSame(input, output, total);
  if (!s.ok()) return Fail(kCall, s);
  const int64_t own_offset = (*table)[size() + rank()];
  const bool in_place = IsViewAt(input, output, own_offset);
  absl::StatusOr<Tensor> send = in_place ? input : Unaliased(input, output);
  if (!send.ok()) return Fail(kCall, send.status());
  const DType dtype = input.dtype();
  auto shared_table = std::make_shared<std::vector<int>>(std::move(*table));
  auto mpi_op = NewOp(kCall, absl::StrCat(Describe(dtype, total), " in all"), false);
  mpi_op->start = [comm = state_, send = *send, output, in_place, n = size(), r = rank(),
                   table = shared_table,
                   type = MpiSession::Datatype(dtype)](std::vector<MPI_Request>& requests) {
    const void* sbuf = in_place ? MPI_IN_PLACE : send.raw_data();
    const int* t = table->data();
    return Post(requests, "MPI_Iallgatherv", [&](MPI_Request* req) {
      return MPI_Iallgatherv(sbuf, t[r], type, output.raw_data(), t, t + n, type, comm->comm, req);
    });
  };
  return session_.engine().Submit(std::move(mpi_op));
}

std::shared_ptr<Work> MpiCommunicator::ReduceScatterV(const Tensor& input, const Tensor& output,
                                                      absl::Span<const int64_t> counts,
                                                      ReduceOp op) {
  constexpr absl::string_view kCall = "MPI_Ireduce_scatter";
  absl::Status s = CheckTensor(input, "input");
  if (s.ok()) s = CheckTensor(output, "output");
  int64_t total = 0;
  absl::StatusOr<std::vector<int>> table =
      s.ok() ? CountsAndDispls(counts, size(), &total) : absl::StatusOr<std::vector<int>>(s);
  s = table.status();
  if (s.ok() && input.numel() != total) {
    s = absl::InvalidArgumentError(
        absl::StrCat("input has ", input.numel(), " elements but the counts sum to ", total));
  }
  if (s.ok()) s = CheckSame(input, output, counts[rank()]);
  if (!s.ok()) return Fail(kCall, s);
  // MPI_IN_PLACE would put the result at the start of the buffer, not at this
  // rank's segment: an in-place call sends from a copy instead.
  absl::StatusOr<Tensor> send = Unaliased(input, output);
  if (!send.ok()) return Fail(kCall, send.status());
  const DType dtype = input.dtype();
  const int count = static_cast<int>(output.numel());
  auto shared_table = std::make_shared<std::vector<int>>(std::move(*table));
  auto mpi_op = NewOp(kCall, absl::StrCat(ToString(op), ", ", Describe(dtype, total), " in all"),
                      false);
  mpi_op->start = [comm = state_, send = *send, output, table = shared_table,
                   type = MpiSession::Datatype(dtype),
                   reduce = session_.Operator(dtype, op)](std::vector<MPI_Request>& requests) {
    return Post(requests, "MPI_Ireduce_scatter", [&](MPI_Request* req) {
      return MPI_Ireduce_scatter(send.raw_data(), output.raw_data(), table->data(), type, reduce,
                                 comm->comm, req);
    });
  };
  if (op == ReduceOp::kAvg) {
    mpi_op->finish = [output, count, dtype, n = size()](absl::Span<MPI_Status>) {
      return kernels::DivideInPlace(output.raw_data(), count, dtype, n);
    };
  }
  return session_.engine().Submit(std::move(mpi_op));
}

std::shared_ptr<Work> MpiCommunicator::Gather(const Tensor& input, const Tensor& output,
                                              int root) {
  constexpr absl::string_view kCall = "MPI_Igather";
  absl::Status s = CheckTensor(input, "input");
  if (s.ok()) s = CheckRoot(root, size());
  const bool is_root = rank() == root;
  if (s.ok() && is_root) s = CheckTensor(output, "output (on the root)");
  if (s.ok() && is_root) s = CheckSame(input, output, input.numel() * size());
  if (!s.ok()) return Fail(kCall, s);
  const bool in_place = is_root && IsViewAt(input, output, root * input.numel());
  absl::StatusOr<Tensor> send = (!is_root || in_place) ? input : Unaliased(input, output);
  if (!send.ok()) return Fail(kCall, send.status());
  const DType dtype = input.dtype();
  const int count = static_cast<int>(input.numel());
  auto mpi_op =
      NewOp(kCall, absl::StrCat(Describe(dtype, count), " per rank, root ", root), false);
  Tensor recv = is_root ? output : Tensor();
  mpi_op->start = [comm = state_, send = *send, recv, in_place, count, root,
                   type = MpiSession::Datatype(dtype)](std::vector<MPI_Request>& requests) {
    const void* sbuf = in_place ? MPI_IN_PLACE : send.raw_data();
    void* rbuf = recv.defined() ? recv.raw_data() : nullptr;
    return Post(requests, "MPI_Igather", [&](MPI_Request* req) {
      return MPI_Igather(sbuf, count, type, rbuf, count, type, root, comm->comm, req);
    });
  };
  return session_.engine().Submit(std::move(mpi_op));
}

std::shared_ptr<Work> MpiCommunicator::Scatter(const Tensor& input, const Tensor& output,
                                               int root) {
  constexpr absl::string_view kCall = "MPI_Iscatter";
  absl::Status s = CheckTensor(output, "output");
  if (s.ok()) s = CheckRoot(root, size());
  const bool is_root = rank() == root;
  if (s.ok() && is_root) s = CheckTensor(input, "input (on the root)");
  if (s.ok() && is_root) s = CheckSame(output, input, output.numel() * size());
  if (!s.ok()) return Fail(kCall, s);
  const bool in_place = is_root && IsViewAt(output, input, root * output.numel());
  // The root's send buffer must not overlap its receive buffer unless in place.
  absl::StatusOr<Tensor> send = (!is_root || in_place) ? input : Unaliased(input, output);
  if (!send.ok()) return Fail(kCall, send.status());
  const DType dtype = output.dtype();
  const int count = static_cast<int>(output.numel());
  auto mpi_op =
      NewOp(kCall, absl::StrCat(Describe(dtype, count), " per rank, root ", root), false);
  mpi_op->start = [comm = state_, send = *send, output, in_place, count, root,
                   type = MpiSession::Datatype(dtype)](std::vector<MPI_Request>& requests) {
    const void* sbuf = send.defined() ? send.raw_data() : nullptr;
    void* rbuf = in_place ? MPI_IN_PLACE : output.raw_data();
    return Post(requests, "MPI_Iscatter", [&](MPI_Request* req) {
      return MPI_Iscatter(sbuf, count, type, rbuf, count, type, root, comm->comm, req);
    });
  };
  return session_.engine().Submit(std::move(mpi_op));
}

std::shared_ptr<Work> MpiCommunicator::AllReducePreMulSum(const Tensor& input,
                                                          const Tensor& output, double scale) {
  absl::Status s = CheckTensor(input, "input");
  if (s.ok()) s = CheckTensor(output, "output");
  if (s.ok()) s = CheckSame(input, output, input.numel());
  if (!s.ok()) return Fail(absl::StrCat("MPI_Iallreduce(", PreMulSumName(scale), ")"), s);
  absl::StatusOr<Tensor> scaled = Scaled(input, scale);
  if (!scaled.ok()) return Fail("MPI_Iallreduce", scaled.status());
  return AllReduce(*scaled, output, ReduceOp::kSum);
}

std::shared_ptr<Work> MpiCommunicator::ReduceScatterPreMulSum(const Tensor& input,
                                                              const Tensor& output, double scale) {
  absl::Status s = CheckTensor(input, "input");
  if (s.ok()) s = CheckTensor(output, "output");
  if (!s.ok()) {
    return Fail(absl::StrCat("MPI_Ireduce_scatter_block(", PreMulSumName(scale), ")"), s);
  }
  absl::StatusOr<Tensor> scaled = Scaled(input, scale);
  if (!scaled.ok()) return Fail("MPI_Ireduce_scatter_block", scaled.status());
  return ReduceScatter(*scaled, output, ReduceOp::kSum);
}

}  // namespace braid::collectives
