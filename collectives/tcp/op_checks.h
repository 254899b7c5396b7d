// Argument checks shared by TcpCommunicator's operations (tcp_operations.cc,
// tcp_vector_operations.cc): the caller's tensors must be defined, on the CPU
// and contiguous, and input/output dtypes must agree. Errors are
// kInvalidArgument naming the operation and the tensor.
#ifndef BRAID_COLLECTIVES_TCP_OP_CHECKS_H_
#define BRAID_COLLECTIVES_TCP_OP_CHECKS_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "runtime/tensor.h"

namespace braid::collectives::tcp {

inline absl::Status CheckHostTensor(const runtime::Tensor& t, absl::string_view op,
                                    absl::string_view name) {
  if (!t.defined()) {
    return absl::InvalidArgumentError(absl::StrCat("tcp ", op, ": ", name, " is undefined"));
  }
  if (!t.device().is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tcp ", op, ": ", name, " is on ", runtime::ToString(t.device()),
        "; the tcp backend moves host memory (use nccl, or copy to the CPU)"));
  }
  if (!t.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat("tcp ", op, ": ", name, " is not contiguous"));
  }
  return absl::OkStatus();
}

inline absl::Status CheckSameDType(const runtime::Tensor& input, const runtime::Tensor& output,
                                   absl::string_view op) {
  if (input.dtype() == output.dtype()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("tcp ", op, ": input is ",
                                                 runtime::ToString(input.dtype()),
                                                 " but output is ",
                                                 runtime::ToString(output.dtype())));
}

// `many` (a gathered or scattered buffer) must hold `n` times the elements
// of `one` (one rank's piece).
inline absl::Status CheckRanksTimes(const runtime::Tensor& many, absl::string_view many_name,
                                    const runtime::Tensor& one, absl::string_view one_name, int n,
                                    absl::string_view op) {
  if (many.numel() == one.numel() * n) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("tcp ", op, ": ", many_name, " has ",
                                                 many.numel(), " elements, expected size() x ",
                                                 one_name, " = ", one.numel() * n));
}

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_OP_CHECKS_H_
