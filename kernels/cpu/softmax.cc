// CPU softmax over the last dimension: per row, a max pass, an exp-sum pass
// (keeping the exponentials in an f32 row buffer) and a scaling pass.
#include "kernels/math/softmax.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/internal/nn_backends.h"

namespace braid::kernels::cpu {

absl::Status SoftmaxForward(const Tensor& x, const Tensor& y, Stream) {
  const int64_t cols = x.dim(-1);
  const int64_t rows = x.numel() / cols;
  internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
    std::vector<float> e(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      const T* in = x.data<T>() + r * cols;
      T* out = y.data<T>() + r * cols;
      float row_max = -INFINITY;
      for (int64_t c = 0; c < cols; ++c) row_max = std::max(row_max, static_cast<float>(in[c]));
      // One exp per element: keep the unnormalised values in f32.
      float sum = 0.0f;
      for (int64_t c = 0; c < cols; ++c) {
        e[c] = math::SoftmaxExp(static_cast<float>(in[c]), row_max);
        sum += e[c];
      }
      const float inv = 1.0f / sum;
      for (int64_t c = 0; c < cols; ++c) out[c] = T(e[c] * inv);
    }
  });
  return absl::OkStatus();
}

absl::Status SoftmaxBackward(const Tensor& y, const Tensor& dy, const Tensor& dx, Stream) {
  const int64_t cols = y.dim(-1);
  const int64_t rows = y.numel() / cols;
  internal::VisitFloatDType(y.dtype(), [&]<typename T>() {
    for (int64_t r = 0; r < rows; ++r) {
      const T* py = y.data<T>() + r * cols;
      const T* pg = dy.data<T>() + r * cols;
      T* out = dx.data<T>() + r * cols;
      float dot = 0.0f;
      for (int64_t c = 0; c < cols; ++c) {
        dot += static_cast<float>(py[c]) * static_cast<float>(pg[c]);
      }
      for (int64_t c = 0; c < cols; ++c) {
        out[c] = T(math::SoftmaxGrad(static_cast<float>(py[c]), static_cast<float>(pg[c]), dot));
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace braid::kernels::cpu
