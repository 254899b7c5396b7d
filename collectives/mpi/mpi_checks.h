// Argument checks and small helpers shared by the mpi backend's operation
// files (mpi_communicator.cc, mpi_vector_ops.cc). Internal to the target.
#ifndef BRAID_COLLECTIVES_MPI_MPI_CHECKS_H_
#define BRAID_COLLECTIVES_MPI_MPI_CHECKS_H_

#include <mpi.h>

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "collectives/mpi/mpi_engine.h"
#include "runtime/tensor.h"

namespace braid::collectives::mpi_internal {

// kInvalidArgument unless `t` is a defined, contiguous CPU tensor whose
// element count fits MPI's int.
inline absl::Status CheckTensor(const runtime::Tensor& t, absl::string_view what) {
  if (!t.defined()) return absl::InvalidArgumentError(absl::StrCat(what, " is undefined"));
  if (!t.device().is_cpu()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is on ", runtime::ToString(t.device()),
                     "; the mpi backend takes CPU tensors: send CUDA tensors through nccl "
                     "(e.g. DeviceDispatchCommunicator with \"cpu:mpi,cuda:nccl\")"));
  }
  if (!t.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not contiguous; call Contiguous()"));
  }
  if (t.numel() > INT_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has ", t.numel(), " elements, more than MPI's int count; split it"));
  }
  return absl::OkStatus();
}

// Same dtype, and b has `b_numel_expected` elements.
inline absl::Status CheckSame(const runtime::Tensor& a, const runtime::Tensor& b,
                              int64_t b_numel_expected) {
  if (a.dtype() != b.dtype()) {
    return absl::InvalidArgumentError(absl::StrCat("input is ", runtime::ToString(a.dtype()),
                                                   " but output is ",
                                                   runtime::ToString(b.dtype())));
  }
  if (b.numel() != b_numel_expected) {
    return absl::InvalidArgumentError(absl::StrCat("output has ", b.numel(), " elements, expected ",
                                                   b_numel_expected, " (input has ", a.numel(),
                                                   ")"));
  }
  return absl::OkStatus();
}

inline absl::Status CheckRoot(int root, int size) {
  if (root >= 0 && root < size) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("root ", root, " is not a rank of a group of ", size));
}

inline bool Overlap(const runtime::Tensor& a, const runtime::Tensor& b) {
  if (a.nbytes() == 0 || b.nbytes() == 0) return false;
  const auto pa = reinterpret_cast<uintptr_t>(a.raw_data());
  const auto pb = reinterpret_cast<uintptr_t>(b.raw_data());
  return pa < pb + b.nbytes() && pb < pa + a.nbytes();
}

// Whether `part` starts `offset_elements` into `whole` (an in-place view).
inline bool IsViewAt(const runtime::Tensor& part, const runtime::Tensor& whole,
                     int64_t offset_elements) {
  if (!part.defined() || !whole.defined() || part.nbytes() == 0) return false;
  return static_cast<const char*>(whole.raw_data()) + offset_elements * whole.element_size() ==
         part.raw_data();
}

// Makes one MPI_I* call, appending its request.
template <typename Call>
absl::Status Post(std::vector<MPI_Request>& requests, absl::string_view what, Call&& call) {
  MPI_Request request = MPI_REQUEST_NULL;
  if (int rc = call(&request); rc != MPI_SUCCESS) return MpiError(rc, what);
  requests.push_back(request);
  return absl::OkStatus();
}

// A send buffer that does not overlap `output`: `input` itself, or a copy.
inline absl::StatusOr<runtime::Tensor> Unaliased(const runtime::Tensor& input,
                                                 const runtime::Tensor& output) {
  if (!Overlap(input, output)) return input;
  return input.Clone();
}

inline std::string Describe(runtime::DType dtype, int64_t count) {
  return absl::StrCat(runtime::ToString(dtype), ", ", count, " elements");
}

// MPI's int counts and displacements for a `counts` span of `size` entries:
// [counts..., displs...]. kInvalidArgument for a wrong length, a negative
// count or a total beyond int.
inline absl::StatusOr<std::vector<int>> CountsAndDispls(absl::Span<const int64_t> counts,
                                                        int size, int64_t* total) {
  if (static_cast<int>(counts.size()) != size) {
    return absl::InvalidArgumentError(
        absl::StrCat("counts has ", counts.size(), " entries; need one per rank (", size, ")"));
  }
  std::vector<int> table(2 * size, 0);
  int64_t sum = 0;
  for (int j = 0; j < size; ++j) {
    if (counts[j] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("negative count for rank ", j));
    }
    table[j] = static_cast<int>(counts[j]);
    table[size + j] = static_cast<int>(sum);
    sum += counts[j];
    if (sum > INT_MAX) {
      return absl::InvalidArgumentError(
          absl::StrCat("counts sum beyond MPI's int displacement; split the operation"));
    }
  }
  *total = sum;
  return table;
}

}  // namespace braid::collectives::mpi_internal

#endif  // BRAID_COLLECTIVES_MPI_MPI_CHECKS_H_
