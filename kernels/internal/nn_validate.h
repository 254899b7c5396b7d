// Argument checks shared by the dispatch code of the NN op families (gelu,
// swiglu, softmax, layernorm, rmsnorm, embedding, cross_entropy, attention).
//
// Every check returns kInvalidArgument with a message naming the op, the
// argument and what was expected, so a caller can fix the call. Internal to
// kernels/: not installed, not part of the public API.
#ifndef BRAID_KERNELS_INTERNAL_NN_VALIDATE_H_
#define BRAID_KERNELS_INTERNAL_NN_VALIDATE_H_

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "runtime/dtype.h"
#include "runtime/tensor.h"

namespace braid::kernels::internal {

// `t` is defined and contiguous.
inline absl::Status CheckContiguous(absl::string_view op, absl::string_view name,
                                    const runtime::Tensor& t) {
  if (!t.defined()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": tensor '", name, "' is undefined; pass an allocated tensor"));
  }
  if (!t.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": tensor '", name, "' ", t.DebugString(),
                                                   " is not contiguous; call Contiguous() first"));
  }
  return absl::OkStatus();
}

// `t` is defined, contiguous and of a floating-point dtype (f32, f16, bf16).
inline absl::Status CheckFloat(absl::string_view op, absl::string_view name,
                               const runtime::Tensor& t) {
  if (absl::Status s = CheckContiguous(op, name, t); !s.ok()) return s;
  if (!runtime::IsFloatingPoint(t.dtype())) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": tensor '", name, "' has dtype ",
                                                   runtime::ToString(t.dtype()),
                                                   "; expected f32, f16 or bf16"));
  }
  return absl::OkStatus();
}

// `t` is defined, contiguous, of `dtype`, on `device` and of `shape`.
inline absl::Status CheckTensor(absl::string_view op, absl::string_view name,
                                const runtime::Tensor& t, runtime::DType dtype,
                                runtime::Device device, absl::Span<const int64_t> shape) {
  if (absl::Status s = CheckContiguous(op, name, t); !s.ok()) return s;
  if (t.dtype() != dtype) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": tensor '", name, "' has dtype ",
                                                   runtime::ToString(t.dtype()), "; expected ",
                                                   runtime::ToString(dtype)));
  }
  if (!(t.device() == device)) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": tensor '", name, "' is on ", runtime::ToString(t.device()),
                     "; expected ", runtime::ToString(device), " like the other operands"));
  }
  if (!std::equal(t.shape().begin(), t.shape().end(), shape.begin(), shape.end())) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": tensor '", name, "' has shape ",
                                                   runtime::ShapeToString(t.shape()), "; expected ",
                                                   runtime::ShapeToString(shape)));
  }
  return absl::OkStatus();
}

// `t` matches `ref` in dtype, device and shape, and is contiguous.
inline absl::Status CheckLike(absl::string_view op, absl::string_view name,
                              const runtime::Tensor& t, const runtime::Tensor& ref) {
  return CheckTensor(op, name, t, ref.dtype(), ref.device(), ref.shape());
}

// `t` has at least `min_rank` dimensions.
inline absl::Status CheckMinRank(absl::string_view op, absl::string_view name,
                                 const runtime::Tensor& t, int min_rank) {
  if (t.ndim() < min_rank) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": tensor '", name, "' has shape ", runtime::ShapeToString(t.shape()),
                     "; expected at least ", min_rank, " dimension(s)"));
  }
  return absl::OkStatus();
}

// The shape of `t` without its last dimension.
inline runtime::Shape LeadingShape(const runtime::Tensor& t) {
  runtime::Shape s(t.shape().begin(), t.shape().end());
  if (!s.empty()) s.pop_back();
  return s;
}

}  // namespace braid::kernels::internal

#endif  // BRAID_KERNELS_INTERNAL_NN_VALIDATE_H_
