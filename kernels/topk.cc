// Validation and dispatch for kernels/topk.h.
#include "kernels/topk.h"

#include "absl/strings/str_cat.h"
#include "kernels/internal/core_backends.h"
#include "runtime/status_macros.h"

namespace braid::kernels {
namespace {

using runtime::Tensor;

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("kernels::TopK: ", what));
}

// The output shape: x's shape with the last dimension replaced by k.
absl::StatusOr<runtime::Shape> OutShape(const Tensor& x, int64_t k) {
  if (!x.defined()) return Invalid("x is undefined");
  if (x.ndim() < 1) return Invalid(absl::StrCat("x ", x.DebugString(), " has no last dimension"));
  if (!runtime::IsFloatingPoint(x.dtype())) {
    return Invalid(absl::StrCat("x ", x.DebugString(), " must be f32, f16 or bf16"));
  }
  if (k < 0 || k > x.dim(-1)) {
    return Invalid(
        absl::StrCat("k = ", k, " is outside [0, ", x.dim(-1), "] for x ", x.DebugString()));
  }
  runtime::Shape shape = x.shape();
  shape.back() = k;
  return shape;
}

}  // namespace

absl::Status TopK(const Tensor& x, int64_t k, const Tensor& values, const Tensor& indices,
                  const Stream& stream) {
  BRAID_ASSIGN_OR_RETURN(runtime::Shape shape, OutShape(x, k));
  if (!x.is_contiguous()) return Invalid(absl::StrCat("x ", x.DebugString(), " is not contiguous"));
  if (!values.defined() || !indices.defined()) return Invalid("an output is undefined");
  if (values.shape() != shape || indices.shape() != shape) {
    return Invalid(absl::StrCat("outputs must be ", runtime::ShapeToString(shape), ", got values ",
                                values.DebugString(), " and indices ", indices.DebugString()));
  }
  if (values.dtype() != x.dtype() || indices.dtype() != runtime::DType::kI64) {
    return Invalid(absl::StrCat("values must have x's dtype ", runtime::ToString(x.dtype()),
                                " and indices i64; got ", values.DebugString(), " and ",
                                indices.DebugString()));
  }
  if (!values.is_contiguous() || !indices.is_contiguous()) {
    return Invalid("outputs must be contiguous");
  }
  if (!(values.device() == x.device()) || !(indices.device() == x.device())) {
    return Invalid(absl::StrCat("outputs must be on x's device ", runtime::ToString(x.device())));
  }
  if (k == 0 || values.numel() == 0) return absl::OkStatus();
  return x.device().is_cuda() ? cuda::TopK(x, k, values, indices, stream)
                              : cpu::TopK(x, k, values, indices, stream);
}

absl::StatusOr<TopKResult> TopK(const Tensor& x, int64_t k, const Stream& stream) {
  BRAID_ASSIGN_OR_RETURN(runtime::Shape shape, OutShape(x, k));
  TopKResult result;
  BRAID_ASSIGN_OR_RETURN(result.values, Tensor::Empty(shape, x.dtype(), x.device()));
  BRAID_ASSIGN_OR_RETURN(result.indices, Tensor::Empty(shape, runtime::DType::kI64, x.device()));
  BRAID_RETURN_IF_ERROR(TopK(x, k, result.values, result.indices, stream));
  return result;
}

}  // namespace braid::kernels
