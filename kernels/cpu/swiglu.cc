// CPU SwiGLU: one pass over contiguous elements, f32 math.
#include "kernels/math/swiglu.h"

#include <cstdint>

#include "kernels/internal/nn_backends.h"

namespace braid::kernels::cpu {

absl::Status SwiGluForward(const Tensor& a, const Tensor& b, const Tensor& out, Stream) {
  internal::VisitFloatDType(a.dtype(), [&]<typename T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    const int64_t n = a.numel();
    for (int64_t i = 0; i < n; ++i) {
      po[i] = T(math::SwiGlu(static_cast<float>(pa[i]), static_cast<float>(pb[i])));
    }
  });
  return absl::OkStatus();
}

absl::Status SwiGluBackward(const Tensor& a, const Tensor& b, const Tensor& dout, const Tensor& da,
                            const Tensor& db, Stream) {
  internal::VisitFloatDType(a.dtype(), [&]<typename T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const T* pg = dout.data<T>();
    T* pda = da.data<T>();
    T* pdb = db.data<T>();
    const int64_t n = a.numel();
    for (int64_t i = 0; i < n; ++i) {
      // Read everything first: da or db may alias dout.
      const float av = static_cast<float>(pa[i]);
      const float bv = static_cast<float>(pb[i]);
      const float g = static_cast<float>(pg[i]);
      pda[i] = T(math::SwiGluGradA(av, bv, g));
      pdb[i] = T(math::SwiGluGradB(av, g));
    }
  });
  return absl::OkStatus();
}

}  // namespace braid::kernels::cpu
