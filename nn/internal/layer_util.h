// Internal helpers shared by the layers in nn/ (linear, embedding, norm, mlp,
// dropout, loss): argument checks with messages that name the layer, row views
// of [..., C] activations, and the f32 gradient accumulation used under mixed
// precision. Not part of the public model API.
//
// Thread-safety: pure functions.
#ifndef BRAID_NN_INTERNAL_LAYER_UTIL_H_
#define BRAID_NN_INTERNAL_LAYER_UTIL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "kernels/cast.h"
#include "kernels/stream.h"
#include "nn/parameter.h"
#include "runtime/dtype.h"
#include "runtime/status_macros.h"
#include "runtime/tensor.h"

namespace braid::nn::layer_util {

// "f32 [2, 3] on cpu" for messages.
inline std::string Describe(const runtime::Tensor& t) {
  if (!t.defined()) return "an undefined tensor";
  return absl::StrCat(runtime::ToString(t.dtype()), " ", runtime::ShapeToString(t.shape()), " on ",
                      runtime::ToString(t.device()));
}

// Checks that `t` (named `what`, e.g. "Linear::Forward input") is defined, of
// `dtype` on `device`, has at least one dimension and, when last_dim >= 0, a
// last dimension of last_dim. kInvalidArgument naming `what` otherwise.
inline absl::Status CheckActivation(absl::string_view what, const runtime::Tensor& t,
                                    runtime::DType dtype, runtime::Device device,
                                    int64_t last_dim) {
  if (!t.defined() || t.ndim() < 1 || t.dtype() != dtype || !(t.device() == device) ||
      (last_dim >= 0 && t.dim(-1) != last_dim)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": got ", Describe(t), ", want ", runtime::ToString(dtype), " [..., ",
        last_dim >= 0 ? absl::StrCat(last_dim) : std::string("C"), "] on ",
        runtime::ToString(device), " (activations follow the parameters' compute dtype)"));
  }
  return absl::OkStatus();
}

// Checks that `dy` has exactly `shape` and `x`'s dtype and device.
inline absl::Status CheckGradient(absl::string_view what, const runtime::Tensor& dy,
                                  const runtime::Shape& shape, runtime::DType dtype,
                                  runtime::Device device) {
  if (!dy.defined() || dy.shape() != shape || dy.dtype() != dtype || !(dy.device() == device)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": output gradient is ", Describe(dy), ", want ",
                     runtime::ToString(dtype), " ", runtime::ShapeToString(shape), " on ",
                     runtime::ToString(device), " (the shape of the forward output)"));
  }
  return absl::OkStatus();
}

// `t` as a contiguous [rows, cols] matrix (cols = t.dim(-1)); copies only when
// `t` is not contiguous.
inline absl::StatusOr<runtime::Tensor> Rows(const runtime::Tensor& t) {
  BRAID_ASSIGN_OR_RETURN(runtime::Tensor c, t.Contiguous());
  const int64_t cols = c.dim(-1);
  const int64_t rows = cols == 0 ? 0 : c.numel() / cols;
  return c.View({rows, cols});
}

// `shape` with its last dimension replaced by `last`.
inline runtime::Shape WithLastDim(runtime::Shape shape, int64_t last) {
  shape.back() = last;
  return shape;
}

// Runs `compute(dst)`, which writes (overwrites) this microbatch's gradient of
// `grad`'s shape in `dtype` into dst, and adds it into the f32 gradient
// `grad`. For f32 the caller's `accumulate_f32(grad)` adds in place instead
// (a GEMM with beta = 1, a kernel that accumulates), saving the temporary.
template <typename Overwrite, typename AccumulateF32>
absl::Status AddToGradient(const runtime::Tensor& grad, runtime::DType dtype,
                           const kernels::Stream& stream, Overwrite compute,
                           AccumulateF32 accumulate_f32) {
  if (dtype == runtime::DType::kF32) return accumulate_f32(grad);
  BRAID_ASSIGN_OR_RETURN(runtime::Tensor tmp,
                         runtime::Tensor::Empty(grad.shape(), dtype, grad.device()));
  BRAID_RETURN_IF_ERROR(compute(tmp));
  return kernels::AccumulateInto(tmp, grad, stream);
}

}  // namespace braid::nn::layer_util

#endif  // BRAID_NN_INTERNAL_LAYER_UTIL_H_
