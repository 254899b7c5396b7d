// Argument checks and small helpers shared by the nccl backend's operation
// files (nccl_communicator.cc, nccl_vector_ops.cc). Internal to the target.
#ifndef BRAID_COLLECTIVES_NCCL_NCCL_CHECKS_H_
#define BRAID_COLLECTIVES_NCCL_NCCL_CHECKS_H_

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "collectives/communicator.h"
#include "collectives/nccl/nccl_core.h"
#include "kernels/reduce.h"
#include "runtime/status_macros.h"
#include "runtime/tensor.h"

namespace braid::collectives::nccl_internal {

using runtime::DType;
using runtime::Tensor;

inline ncclDataType_t NcclType(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return ncclFloat32;
    case DType::kF16:
      return ncclFloat16;
    case DType::kBF16:
      return ncclBfloat16;
    case DType::kI32:
      return ncclInt32;
    case DType::kI64:
      return ncclInt64;
    case DType::kU8:
      return ncclUint8;
  }
  return ncclUint8;
}

inline ncclRedOp_t NcclOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      return ncclSum;  // avg: sum, then a divide kernel
    case ReduceOp::kProd:
      return ncclProd;
    case ReduceOp::kMin:
      return ncclMin;
    case ReduceOp::kMax:
      return ncclMax;
  }
  return ncclSum;
}

inline bool Overlap(const Tensor& a, const Tensor& b) {
  if (a.nbytes() == 0 || b.nbytes() == 0) return false;
  const auto pa = reinterpret_cast<uintptr_t>(a.raw_data());
  const auto pb = reinterpret_cast<uintptr_t>(b.raw_data());
  return pa < pb + b.nbytes() && pb < pa + a.nbytes();
}

inline absl::Status CheckTensor(const NcclCore& core, const Tensor& t, absl::string_view what) {
  if (!t.defined()) return absl::InvalidArgumentError(absl::StrCat(what, " is undefined"));
  if (!t.device().is_cuda()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what,
        " is a CPU tensor; nccl takes CUDA tensors: send CPU tensors through tcp or mpi "
        "(e.g. DeviceDispatchCommunicator with \"cpu:tcp,cuda:nccl\")"));
  }
  if (t.device().index != core.device()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is on cuda:", t.device().index,
                     " but this communicator uses cuda:", core.device()));
  }
  if (!t.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not contiguous; call Contiguous()"));
  }
  return absl::OkStatus();
}

inline absl::Status CheckPair(const NcclCore& core, const Tensor& in, const Tensor& out,
                       int64_t out_numel) {
  BRAID_RETURN_IF_ERROR(CheckTensor(core, in, "input"));
  BRAID_RETURN_IF_ERROR(CheckTensor(core, out, "output"));
  if (in.dtype() != out.dtype()) {
    return absl::InvalidArgumentError(absl::StrCat("input is ", runtime::ToString(in.dtype()),
                                                   " but output is ",
                                                   runtime::ToString(out.dtype())));
  }
  if (out.numel() != out_numel) {
    return absl::InvalidArgumentError(
        absl::StrCat("output has ", out.numel(), " elements, expected ", out_numel));
  }
  return absl::OkStatus();
}

inline std::shared_ptr<Work> Failed(const NcclCore& core, absl::string_view op,
                                    const absl::Status& s) {
  return SettableWork::Done(
      absl::Status(s.code(), absl::StrCat(op, " on nccl '", core.name(), "' rank ", core.rank(),
                                          "/", core.size(), ": ", s.message())));
}

// A device copy of `t` when it overlaps `other` (enqueued on the stream).
inline absl::StatusOr<Tensor> Unaliased(const NcclCore& core, const Tensor& t,
                                        const Tensor& other, std::vector<Tensor>& keep) {
  if (!Overlap(t, other)) return t;
  BRAID_ASSIGN_OR_RETURN(Tensor copy, Tensor::Empty(t.shape(), t.dtype(), t.device()));
  BRAID_RETURN_IF_ERROR(FromCuda(cudaMemcpyAsync(copy.raw_data(), t.raw_data(), t.nbytes(),
                                                 cudaMemcpyDeviceToDevice, core.stream),
                                 "cudaMemcpyAsync"));
  keep.push_back(copy);
  return copy;
}

inline absl::Status DivideIfAvg(const NcclCore& core, ReduceOp op, const Tensor& t) {
  if (op != ReduceOp::kAvg || t.numel() == 0) return absl::OkStatus();
  return kernels::cuda::DivideInPlace(t.raw_data(), t.numel(), t.dtype(), core.size(),
                                      kernels::Stream{core.stream});
}

}  // namespace braid::collectives::nccl_internal

#endif  // BRAID_COLLECTIVES_NCCL_NCCL_CHECKS_H_
