// Validation and dispatch for kernels/index.h.
#include "kernels/index.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/internal/core_backends.h"

namespace braid::kernels {
namespace {

using runtime::Tensor;

// Checks what gather and scatter share: dtypes, index tensor, contiguity,
// one device, equal row shapes. Sets *empty when there is nothing to do.
absl::Status Check(absl::string_view op, const Tensor& in, const Tensor& indices, const Tensor& out,
                   bool* empty) {
  auto invalid = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("kernels::", op, ": ", what));
  };
  if (!in.defined() || !indices.defined() || !out.defined()) return invalid("undefined tensor");
  if (!runtime::IsFloatingPoint(in.dtype()) || in.dtype() != out.dtype()) {
    return invalid(absl::StrCat("in ", in.DebugString(), " and out ", out.DebugString(),
                                " must share one dtype of f32, f16, bf16"));
  }
  if (indices.ndim() != 1 ||
      (indices.dtype() != runtime::DType::kI64 && indices.dtype() != runtime::DType::kI32)) {
    return invalid(absl::StrCat("indices ", indices.DebugString(), " must be 1-D i64 or i32"));
  }
  if (!in.is_contiguous() || !out.is_contiguous() || !indices.is_contiguous()) {
    return invalid("in, indices and out must be contiguous");
  }
  if (!(in.device() == out.device()) || !(indices.device() == out.device())) {
    return invalid(absl::StrCat(
        "in, indices and out must be on one device; got ", runtime::ToString(in.device()), ", ",
        runtime::ToString(indices.device()), ", ", runtime::ToString(out.device())));
  }
  if (in.ndim() < 1 || in.ndim() != out.ndim() ||
      !std::equal(in.shape().begin() + 1, in.shape().end(), out.shape().begin() + 1)) {
    return invalid(absl::StrCat("in ", in.DebugString(), " and out ", out.DebugString(),
                                " must have the same row shape (all but the first dimension)"));
  }
  *empty = indices.numel() == 0 || in.numel() == 0 || out.numel() == 0;
  return absl::OkStatus();
}

}  // namespace

absl::Status GatherRows(const Tensor& in, const Tensor& indices, const Tensor& out,
                        const Stream& stream) {
  bool empty = false;
  if (absl::Status s = Check("GatherRows", in, indices, out, &empty); !s.ok()) return s;
  if (out.dim(0) != indices.numel()) {
    return absl::InvalidArgumentError(absl::StrCat("kernels::GatherRows: out ", out.DebugString(),
                                                   " needs one row per index (", indices.numel(),
                                                   ")"));
  }
  if (empty) return absl::OkStatus();
  return out.device().is_cuda() ? cuda::GatherRows(in, indices, out, stream)
                                : cpu::GatherRows(in, indices, out, stream);
}

absl::Status ScatterAddRows(const Tensor& in, const Tensor& indices, const Tensor& out,
                            const Stream& stream) {
  bool empty = false;
  if (absl::Status s = Check("ScatterAddRows", in, indices, out, &empty); !s.ok()) return s;
  if (in.dim(0) != indices.numel()) {
    return absl::InvalidArgumentError(absl::StrCat("kernels::ScatterAddRows: in ", in.DebugString(),
                                                   " needs one row per index (", indices.numel(),
                                                   ")"));
  }
  if (empty) return absl::OkStatus();
  return out.device().is_cuda() ? cuda::ScatterAddRows(in, indices, out, stream)
                                : cpu::ScatterAddRows(in, indices, out, stream);
}

}  // namespace braid::kernels
