// CPU GELU: one pass over contiguous elements, f32 math.
#include "kernels/math/gelu.h"

#include <cstdint>

#include "kernels/internal/nn_backends.h"

namespace braid::kernels::cpu {

absl::Status GeluForward(const Tensor& x, const Tensor& y, Stream) {
  internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
    const T* in = x.data<T>();
    T* out = y.data<T>();
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) out[i] = T(math::Gelu(static_cast<float>(in[i])));
  });
  return absl::OkStatus();
}

absl::Status GeluBackward(const Tensor& x, const Tensor& dy, const Tensor& dx, Stream) {
  internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
    const T* in = x.data<T>();
    const T* g = dy.data<T>();
    T* out = dx.data<T>();
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) {
      out[i] = T(static_cast<float>(g[i]) * math::GeluGrad(static_cast<float>(in[i])));
    }
  });
  return absl::OkStatus();
}

}  // namespace braid::kernels::cpu
