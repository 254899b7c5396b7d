// Validation and dispatch for kernels/cast.h.
#include "kernels/cast.h"

#include "absl/strings/str_cat.h"
#include "kernels/internal/cast_backends.h"

namespace braid::kernels {
namespace {

using runtime::Tensor;

absl::Status CheckOne(absl::string_view op, const char* name, const Tensor& t) {
  if (!t.defined()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernels::", op, ": tensor '", name, "' is undefined"));
  }
  if (!runtime::IsFloatingPoint(t.dtype())) {
    return absl::InvalidArgumentError(absl::StrCat("kernels::", op, ": tensor '", name, "' ",
                                                   t.DebugString(), " must be f32, f16 or bf16"));
  }
  if (!t.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat("kernels::", op, ": tensor '", name, "' ",
                                                   t.DebugString(),
                                                   " is not contiguous; call Contiguous()"));
  }
  return absl::OkStatus();
}

// Both tensors valid and of one shape and device; sets *empty when there is
// nothing to do.
absl::Status Check(absl::string_view op, const Tensor& src, const Tensor& dst, bool* empty) {
  if (absl::Status s = CheckOne(op, "src", src); !s.ok()) return s;
  if (absl::Status s = CheckOne(op, "dst", dst); !s.ok()) return s;
  if (src.shape() != dst.shape() || !(src.device() == dst.device())) {
    return absl::InvalidArgumentError(absl::StrCat("kernels::", op, ": src ", src.DebugString(),
                                                   " and dst ", dst.DebugString(),
                                                   " must have the same shape and device"));
  }
  *empty = dst.numel() == 0;
  return absl::OkStatus();
}

}  // namespace

absl::Status Cast(const Tensor& src, const Tensor& dst, const Stream& stream) {
  bool empty = false;
  if (absl::Status s = Check("Cast", src, dst, &empty); !s.ok()) return s;
  if (empty) return absl::OkStatus();
  if (src.dtype() == dst.dtype() && src.raw_data() == dst.raw_data()) return absl::OkStatus();
  return dst.device().is_cuda() ? cuda::Cast(src, dst, stream) : cpu::Cast(src, dst, stream);
}

absl::Status AccumulateInto(const Tensor& src, const Tensor& dst, const Stream& stream) {
  bool empty = false;
  if (absl::Status s = Check("AccumulateInto", src, dst, &empty); !s.ok()) return s;
  if (dst.dtype() != runtime::DType::kF32) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernels::AccumulateInto: dst ", dst.DebugString(),
                     " must be f32 (the accumulator); cast it or accumulate into an f32 buffer"));
  }
  if (empty) return absl::OkStatus();
  return dst.device().is_cuda() ? cuda::AccumulateInto(src, dst, stream)
                                : cpu::AccumulateInto(src, dst, stream);
}

}  // namespace braid::kernels
