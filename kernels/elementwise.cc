// Validation and dispatch for kernels/elementwise.h.
#include "kernels/elementwise.h"

#include <initializer_list>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/internal/core_backends.h"

namespace braid::kernels {
namespace {

using runtime::Tensor;

// All tensors defined, contiguous, floating point, and of the first one's
// shape, dtype and device. Sets *empty when there is nothing to do.
absl::Status Check(absl::string_view op,
                   std::initializer_list<std::pair<const char*, const Tensor*>> tensors,
                   bool* empty) {
  const Tensor& first = *tensors.begin()->second;
  for (const auto& [name, t] : tensors) {
    if (!t->defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kernels::", op, ": tensor '", name, "' is undefined"));
    }
    if (!runtime::IsFloatingPoint(t->dtype())) {
      return absl::InvalidArgumentError(absl::StrCat("kernels::", op, ": tensor '", name, "' ",
                                                     t->DebugString(),
                                                     " must be f32, f16 or bf16"));
    }
    if (!t->is_contiguous()) {
      return absl::InvalidArgumentError(absl::StrCat("kernels::", op, ": tensor '", name, "' ",
                                                     t->DebugString(),
                                                     " is not contiguous; call Contiguous()"));
    }
    if (t->shape() != first.shape() || t->dtype() != first.dtype() ||
        !(t->device() == first.device())) {
      return absl::InvalidArgumentError(
          absl::StrCat("kernels::", op, ": tensor '", name, "' ", t->DebugString(),
                       " does not match '", tensors.begin()->first, "' ", first.DebugString(),
                       " (same shape, dtype and device required)"));
    }
  }
  *empty = first.numel() == 0;
  return absl::OkStatus();
}

}  // namespace

absl::Status Add(const Tensor& a, const Tensor& b, const Tensor& out, const Stream& stream) {
  bool empty = false;
  if (absl::Status s = Check("Add", {{"a", &a}, {"b", &b}, {"out", &out}}, &empty); !s.ok())
    return s;
  if (empty) return absl::OkStatus();
  return out.device().is_cuda() ? cuda::Add(a, b, out, stream) : cpu::Add(a, b, out, stream);
}

absl::Status Mul(const Tensor& a, const Tensor& b, const Tensor& out, const Stream& stream) {
  bool empty = false;
  if (absl::Status s = Check("Mul", {{"a", &a}, {"b", &b}, {"out", &out}}, &empty); !s.ok())
    return s;
  if (empty) return absl::OkStatus();
  return out.device().is_cuda() ? cuda::Mul(a, b, out, stream) : cpu::Mul(a, b, out, stream);
}

absl::Status Scale(const Tensor& x, float alpha, const Tensor& out, const Stream& stream) {
  bool empty = false;
  if (absl::Status s = Check("Scale", {{"x", &x}, {"out", &out}}, &empty); !s.ok()) return s;
  if (empty) return absl::OkStatus();
  return out.device().is_cuda() ? cuda::Scale(x, alpha, out, stream)
                                : cpu::Scale(x, alpha, out, stream);
}

absl::Status Axpy(float alpha, const Tensor& x, const Tensor& y, const Stream& stream) {
  bool empty = false;
  if (absl::Status s = Check("Axpy", {{"x", &x}, {"y", &y}}, &empty); !s.ok()) return s;
  if (empty) return absl::OkStatus();
  return y.device().is_cuda() ? cuda::Axpy(alpha, x, y, stream) : cpu::Axpy(alpha, x, y, stream);
}

}  // namespace braid::kernels
