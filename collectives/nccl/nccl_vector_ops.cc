// NcclCommunicator's variable-count, rooted and pre-multiplied operations.
// NCCL has no Allgatherv / Reduce_scatter(v) / Gather / Scatter: they are
// grouped ncclSend/ncclRecv (one NCCL group, so NCCL schedules them
// together) or grouped ncclReduce to each segment's owner. The pre-multiplied
// sums use NCCL's own ncclRedOpCreatePreMulSum with a host-immediate scalar.
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collectives/nccl/nccl_checks.h"
#include "collectives/nccl/nccl_communicator.h"
#include "collectives/nccl/nccl_core.h"
#include "collectives/pre_mul_sum.h"
#include "runtime/half.h"
#include "runtime/status_macros.h"

namespace braid::collectives {

using nccl_internal::CheckPair;
using nccl_internal::CheckTensor;
using nccl_internal::DivideIfAvg;
using nccl_internal::Failed;
using nccl_internal::FromCuda;
using nccl_internal::FromNccl;
using nccl_internal::NcclCore;
using nccl_internal::NcclOp;
using nccl_internal::NcclType;
using nccl_internal::Unaliased;
using runtime::DType;
using runtime::Tensor;

namespace {

char* At(const Tensor& t, int64_t elements) {
  return static_cast<char*>(t.raw_data()) + elements * static_cast<int64_t>(t.element_size());
}

// Segment offsets of `counts` (size()+1 entries), or kInvalidArgument.
absl::StatusOr<std::vector<int64_t>> Offsets(absl::Span<const int64_t> counts, int n) {
  if (static_cast<int>(counts.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("counts has ", counts.size(), " entries; need one per rank (", n, ")"));
  }
  std::vector<int64_t> off(n + 1, 0);
  for (int j = 0; j < n; ++j) {
    if (counts[j] < 0) return absl::InvalidArgumentError(absl::StrCat("negative count for ", j));
    off[j + 1] = off[j] + counts[j];
  }
  return off;
}

absl::Status CheckRoot(int root, int n) {
  if (root >= 0 && root < n) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("root ", root, " is not a rank of a group of ", n));
}

// Copies `bytes` device-to-device on the communicator's stream (no-op when
// the ranges coincide, i.e. in place).
absl::Status CopyOnStream(const NcclCore& c, void* dst, const void* src, size_t bytes) {
  if (dst == src || bytes == 0) return absl::OkStatus();
  return FromCuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c.stream),
                  "cudaMemcpyAsync");
}

// Runs `body` between ncclGroupStart and ncclGroupEnd (always ended).
template <typename Body>
absl::Status Grouped(const NcclCore& c, Body&& body) {
  BRAID_RETURN_IF_ERROR(FromNccl(ncclGroupStart(), "ncclGroupStart", c.comm));
  absl::Status st = body();
  absl::Status end = FromNccl(ncclGroupEnd(), "ncclGroupEnd", c.comm);
  return st.ok() ? end : st;
}

// The host-immediate scalar of a PreMulSum op, in the tensor's type.
struct Scalar {
  alignas(8) unsigned char bytes[8] = {};
};
Scalar ScalarOf(DType dtype, double scale) {
  Scalar s;
  runtime::VisitDType(dtype, [&]<typename T>() {
    T v;
    if constexpr (std::is_integral_v<T>) {
      v = static_cast<T>(static_cast<int64_t>(scale));
    } else {
      v = T(static_cast<float>(scale));
    }
    std::memcpy(s.bytes, &v, sizeof(T));
  });
  return s;
}

// Enqueues one all-reduce (reduce_scatter false) or reduce-scatter with a
// PreMulSum operator created for this call and destroyed once enqueued.
absl::Status EnqueuePreMulSum(NcclCore& c, const Tensor& send, const Tensor& output, double scale,
                              bool reduce_scatter) {
  const ncclDataType_t type = NcclType(send.dtype());
  Scalar scalar = ScalarOf(send.dtype(), scale);
  ncclRedOp_t op;
  BRAID_RETURN_IF_ERROR(FromNccl(
      ncclRedOpCreatePreMulSum(&op, scalar.bytes, type, ncclScalarHostImmediate, c.comm),
      "ncclRedOpCreatePreMulSum", c.comm));
  absl::Status st =
      reduce_scatter
          ? FromNccl(ncclReduceScatter(send.raw_data(), output.raw_data(), output.numel(), type, op,
                                       c.comm, c.stream),
                     "ncclReduceScatter", c.comm)
          : FromNccl(ncclAllReduce(send.raw_data(), output.raw_data(), output.numel(), type, op,
                                   c.comm, c.stream),
                     "ncclAllReduce", c.comm);
  absl::Status destroyed = FromNccl(ncclRedOpDestroy(op, c.comm), "ncclRedOpDestroy", c.comm);
  return st.ok() ? destroyed : st;
}

}  // namespace

std::shared_ptr<Work> NcclCommunicator::AllGatherV(const Tensor& input, const Tensor& output,
                                                   absl::Span<const int64_t> counts) {
  NcclCore& c = *core_;
  const int n = size(), r = rank();
  absl::StatusOr<std::vector<int64_t>> off = Offsets(counts, n);
  absl::Status s = off.status();
  if (s.ok()) s = CheckPair(c, input, output, (*off)[n]);
  if (s.ok() && input.numel() != counts[r]) {
    s = absl::InvalidArgumentError(
        absl::StrCat("input has ", input.numel(), " elements but counts[", r, "] is ", counts[r]));
  }
  if (!s.ok()) return Failed(c, "AllGatherV", s);
  std::vector<int64_t> o = *off;
  return c.Launch(c.OpName("AllGatherV (grouped ncclSend/ncclRecv)"), {input, output},
                  [&](std::vector<Tensor>& keep) -> absl::Status {
    const bool in_place = At(output, o[r]) == input.raw_data();
    Tensor send = input;
    if (!in_place) {
      BRAID_ASSIGN_OR_RETURN(send, Unaliased(c, input, output, keep));
      BRAID_RETURN_IF_ERROR(CopyOnStream(c, At(output, o[r]), send.raw_data(), send.nbytes()));
    }
    const ncclDataType_t type = NcclType(input.dtype());
    return Grouped(c, [&]() -> absl::Status {
      for (int j = 0; j < n; ++j) {
        if (j == r) continue;
        if (counts[r] > 0) {
          BRAID_RETURN_IF_ERROR(FromNccl(
              ncclSend(send.raw_data(), counts[r], type, j, c.comm, c.stream), "ncclSend", c.comm));
        }
        if (o[j + 1] > o[j]) {
          BRAID_RETURN_IF_ERROR(FromNccl(
              ncclRecv(At(output, o[j]), o[j + 1] - o[j], type, j, c.comm, c.stream), "ncclRecv",
              c.comm));
        }
      }
      return absl::OkStatus();
    });
  });
}

std::shared_ptr<Work> NcclCommunicator::ReduceScatterV(const Tensor& input, const Tensor& output,
                                                       absl::Span<const int64_t> counts,
                                                       ReduceOp op) {
  NcclCore& c = *core_;
  const int n = size(), r = rank();
  absl::StatusOr<std::vector<int64_t>> off = Offsets(counts, n);
  absl::Status s = off.status();
  if (s.ok()) s = CheckPair(c, input, output, counts[r]);
  if (s.ok() && input.numel() != (*off)[n]) {
    s = absl::InvalidArgumentError(
        absl::StrCat("input has ", input.numel(), " elements but the counts sum to ", (*off)[n]));
  }
  if (!s.ok()) return Failed(c, "ReduceScatterV", s);
  std::vector<int64_t> o = *off;
  return c.Launch(
      c.OpName(absl::StrCat("ReduceScatterV(", ToString(op), ") (grouped ncclReduce)")),
      {input, output}, [&](std::vector<Tensor>& keep) -> absl::Status {
        const bool in_place = At(input, o[r]) == output.raw_data();
        Tensor send = input;
        if (!in_place) {
          BRAID_ASSIGN_OR_RETURN(send, Unaliased(c, input, output, keep));
        }
        const ncclDataType_t type = NcclType(input.dtype());
        BRAID_RETURN_IF_ERROR(Grouped(c, [&]() -> absl::Status {
          for (int j = 0; j < n; ++j) {
            if (o[j + 1] == o[j]) continue;
            void* recv = j == r ? output.raw_data() : nullptr;
            BRAID_RETURN_IF_ERROR(FromNccl(ncclReduce(At(send, o[j]), recv, o[j + 1] - o[j], type,
                                                      NcclOp(op), j, c.comm, c.stream),
                                           "ncclReduce", c.comm));
          }
          return absl::OkStatus();
        }));
        return DivideIfAvg(c, op, output);
      });
}

std::shared_ptr<Work> NcclCommunicator::Gather(const Tensor& input, const Tensor& output,
                                               int root) {
  NcclCore& c = *core_;
  const int n = size(), r = rank();
  absl::Status s = CheckTensor(c, input, "input");
  if (s.ok()) s = CheckRoot(root, n);
  const bool is_root = r == root;
  if (s.ok() && is_root) s = CheckPair(c, input, output, input.numel() * n);
  if (!s.ok()) return Failed(c, "Gather", s);
  Tensor recv = is_root ? output : Tensor();
  return c.Launch(c.OpName(absl::StrCat("Gather(root ", root, ") (grouped ncclSend/ncclRecv)")),
                  {input, recv}, [&](std::vector<Tensor>& keep) -> absl::Status {
    const int64_t count = input.numel();
    if (count == 0) return absl::OkStatus();
    const ncclDataType_t type = NcclType(input.dtype());
    if (!is_root) {
      return FromNccl(ncclSend(input.raw_data(), count, type, root, c.comm, c.stream), "ncclSend",
                      c.comm);
    }
    if (At(recv, root * count) != input.raw_data()) {
      BRAID_ASSIGN_OR_RETURN(Tensor send, Unaliased(c, input, recv, keep));
      BRAID_RETURN_IF_ERROR(
          CopyOnStream(c, At(recv, root * count), send.raw_data(), send.nbytes()));
    }
    return Grouped(c, [&]() -> absl::Status {
      for (int j = 0; j < n; ++j) {
        if (j == root) continue;
        BRAID_RETURN_IF_ERROR(FromNccl(
            ncclRecv(At(recv, j * count), count, type, j, c.comm, c.stream), "ncclRecv", c.comm));
      }
      return absl::OkStatus();
    });
  });
}

std::shared_ptr<Work> NcclCommunicator::Scatter(const Tensor& input, const Tensor& output,
                                                int root) {
  NcclCore& c = *core_;
  const int n = size(), r = rank();
  absl::Status s = CheckTensor(c, output, "output");
  if (s.ok()) s = CheckRoot(root, n);
  const bool is_root = r == root;
  if (s.ok() && is_root) s = CheckPair(c, output, input, output.numel() * n);
  if (!s.ok()) return Failed(c, "Scatter", s);
  Tensor send = is_root ? input : Tensor();
  return c.Launch(c.OpName(absl::StrCat("Scatter(root ", root, ") (grouped ncclSend/ncclRecv)")),
                  {send, output}, [&](std::vector<Tensor>& keep) -> absl::Status {
    const int64_t count = output.numel();
    if (count == 0) return absl::OkStatus();
    const ncclDataType_t type = NcclType(output.dtype());
    if (!is_root) {
      return FromNccl(ncclRecv(output.raw_data(), count, type, root, c.comm, c.stream), "ncclRecv",
                      c.comm);
    }
    Tensor src = send;
    if (At(send, root * count) != output.raw_data()) {
      BRAID_ASSIGN_OR_RETURN(src, Unaliased(c, send, output, keep));
      BRAID_RETURN_IF_ERROR(CopyOnStream(c, output.raw_data(), At(src, root * count),
                                         output.nbytes()));
    }
    return Grouped(c, [&]() -> absl::Status {
      for (int j = 0; j < n; ++j) {
        if (j == root) continue;
        BRAID_RETURN_IF_ERROR(FromNccl(
            ncclSend(At(src, j * count), count, type, j, c.comm, c.stream), "ncclSend", c.comm));
      }
      return absl::OkStatus();
    });
  });
}

std::shared_ptr<Work> NcclCommunicator::AllReducePreMulSum(const Tensor& input,
                                                           const Tensor& output, double scale) {
  NcclCore& c = *core_;
  if (absl::Status s = CheckPair(c, input, output, input.numel()); !s.ok()) {
    return Failed(c, "ncclAllReduce(premulsum)", s);
  }
  return c.Launch(c.OpName(absl::StrCat("ncclAllReduce(", PreMulSumName(scale), ")")),
                  {input, output}, [&](std::vector<Tensor>& keep) -> absl::Status {
    BRAID_ASSIGN_OR_RETURN(Tensor send, input.raw_data() == output.raw_data()
                                            ? absl::StatusOr<Tensor>(input)
                                            : Unaliased(c, input, output, keep));
    return EnqueuePreMulSum(c, send, output, scale, /*reduce_scatter=*/false);
  });
}

std::shared_ptr<Work> NcclCommunicator::ReduceScatterPreMulSum(const Tensor& input,
                                                               const Tensor& output,
                                                               double scale) {
  NcclCore& c = *core_;
  absl::Status s = input.numel() % size() == 0
                       ? CheckPair(c, input, output, input.numel() / size())
                       : absl::InvalidArgumentError("input numel is not a multiple of size()");
  if (!s.ok()) return Failed(c, "ncclReduceScatter(premulsum)", s);
  return c.Launch(c.OpName(absl::StrCat("ncclReduceScatter(", PreMulSumName(scale), ")")),
                  {input, output}, [&](std::vector<Tensor>& keep) -> absl::Status {
    const bool in_place = At(input, rank() * output.numel()) == output.raw_data();
    BRAID_ASSIGN_OR_RETURN(Tensor send, in_place ? absl::StatusOr<Tensor>(input)
                                                 : Unaliased(c, input, output, keep));
    return EnqueuePreMulSum(c, send, output, scale, /*reduce_scatter=*/true);
  });
}

}  // namespace braid::collectives
