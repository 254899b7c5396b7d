// CPU cast and accumulate: plain loops over kernels/math/cast.h that GCC
// vectorises (the 16-bit conversions are integer bit operations). Same-dtype
// Cast is a memcpy.
#include "kernels/math/cast.h"

#include <cstdint>
#include <cstring>

#include "kernels/internal/cast_backends.h"
#include "runtime/dtype.h"
#include "runtime/half.h"

namespace braid::kernels::cpu {
namespace {

using runtime::Tensor;

template <typename To, typename From>
void CastLoop(const From* __restrict src, To* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = math::CastValue<To, From>(src[i]);
}

template <typename From>
void AccumulateLoop(const From* src, float* dst, int64_t n) {
  // src may be dst (f32 doubling), so no __restrict here.
  for (int64_t i = 0; i < n; ++i) dst[i] = math::AccumulateValue<From>(dst[i], src[i]);
}

// Calls fn.template operator()<T>() for the floating dtypes (validated).
template <typename Fn>
void VisitFloat(runtime::DType dtype, Fn&& fn) {
  switch (dtype) {
    case runtime::DType::kF32:
      fn.template operator()<float>();
      return;
    case runtime::DType::kF16:
      fn.template operator()<runtime::Half>();
      return;
    case runtime::DType::kBF16:
      fn.template operator()<runtime::BFloat16>();
      return;
    case runtime::DType::kI32:
    case runtime::DType::kI64:
    case runtime::DType::kU8:
      return;  // rejected by kernels/cast.cc
  }
}

}  // namespace

absl::Status Cast(const Tensor& src, const Tensor& dst, Stream) {
  const int64_t n = dst.numel();
  if (src.dtype() == dst.dtype()) {
    std::memmove(dst.raw_data(), src.raw_data(), dst.nbytes());
    return absl::OkStatus();
  }
  VisitFloat(src.dtype(), [&]<typename From>() {
    VisitFloat(dst.dtype(),
               [&]<typename To>() { CastLoop<To, From>(src.data<From>(), dst.data<To>(), n); });
  });
  return absl::OkStatus();
}

absl::Status AccumulateInto(const Tensor& src, const Tensor& dst, Stream) {
  VisitFloat(src.dtype(), [&]<typename From>() {
    AccumulateLoop<From>(src.data<From>(), dst.data<float>(), dst.numel());
  });
  return absl::OkStatus();
}

}  // namespace braid::kernels::cpu
