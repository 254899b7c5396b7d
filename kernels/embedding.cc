#include "kernels/embedding.h"

#include "absl/strings/str_cat.h"
#include "kernels/internal/nn_backends.h"
#include "kernels/internal/nn_validate.h"
#include "runtime/status_macros.h"

namespace braid::kernels {

using runtime::DType;
using runtime::Shape;
using runtime::Tensor;

namespace {

absl::Status CheckIds(absl::string_view op, const Tensor& ids) {
  BRAID_RETURN_IF_ERROR(internal::CheckContiguous(op, "ids", ids));
  if (ids.dtype() != DType::kI32 && ids.dtype() != DType::kI64) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": ids have dtype ", runtime::ToString(ids.dtype()), "; expected i32 or i64"));
  }
  return absl::OkStatus();
}

// The shape of rows gathered for `ids` from a table of row width `width`.
Shape RowsShape(const Tensor& ids, int64_t width) {
  Shape s(ids.shape().begin(), ids.shape().end());
  s.push_back(width);
  return s;
}

absl::Status CheckTable(absl::string_view op, absl::string_view name, const Tensor& table) {
  BRAID_RETURN_IF_ERROR(internal::CheckFloat(op, name, table));
  if (table.ndim() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": ", name, " has shape ", runtime::ShapeToString(table.shape()), "; expected [V, C]"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EmbeddingForward(const Tensor& weight, const Tensor& ids, const Tensor& out,
                              Stream stream) {
  constexpr absl::string_view kOp = "EmbeddingForward";
  BRAID_RETURN_IF_ERROR(CheckTable(kOp, "weight", weight));
  BRAID_RETURN_IF_ERROR(CheckIds(kOp, ids));
  BRAID_RETURN_IF_ERROR(
      internal::CheckTensor(kOp, "ids", ids, ids.dtype(), weight.device(), ids.shape()));
  BRAID_RETURN_IF_ERROR(internal::CheckTensor(kOp, "out", out, weight.dtype(), weight.device(),
                                              RowsShape(ids, weight.dim(1))));
  if (out.numel() == 0) return absl::OkStatus();
  if (weight.device().is_cuda()) return cuda::EmbeddingForward(weight, ids, out, stream);
  return cpu::EmbeddingForward(weight, ids, out, stream);
}

absl::Status EmbeddingBackward(const Tensor& ids, const Tensor& dout, const Tensor& dweight,
                               Stream stream) {
  constexpr absl::string_view kOp = "EmbeddingBackward";
  BRAID_RETURN_IF_ERROR(CheckTable(kOp, "dweight", dweight));
  BRAID_RETURN_IF_ERROR(CheckIds(kOp, ids));
  BRAID_RETURN_IF_ERROR(
      internal::CheckTensor(kOp, "ids", ids, ids.dtype(), dweight.device(), ids.shape()));
  BRAID_RETURN_IF_ERROR(internal::CheckTensor(kOp, "dout", dout, dweight.dtype(), dweight.device(),
                                              RowsShape(ids, dweight.dim(1))));
  if (dout.numel() == 0) return absl::OkStatus();
  if (dweight.device().is_cuda()) return cuda::EmbeddingBackward(ids, dout, dweight, stream);
  return cpu::EmbeddingBackward(ids, dout, dweight, stream);
}

}  // namespace braid::kernels
