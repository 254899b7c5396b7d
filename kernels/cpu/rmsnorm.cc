// CPU RMSNorm: per row, one pass for the mean square and one to write; the
// weight gradient sums rows into f32 column accumulators and adds them to
// dgamma once.
#include "kernels/math/rmsnorm.h"

#include <cstdint>
#include <vector>

#include "kernels/internal/nn_backends.h"

namespace braid::kernels::cpu {

absl::Status RmsNormForward(const Tensor& x, const Tensor& gamma, float eps, const Tensor& y,
                            const Tensor& rstd, Stream) {
  const int64_t cols = x.dim(-1);
  const int64_t rows = x.numel() / cols;
  internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
    const T* g = gamma.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const T* in = x.data<T>() + r * cols;
      T* out = y.data<T>() + r * cols;
      float sq = 0.0f;
      for (int64_t c = 0; c < cols; ++c) {
        const float v = static_cast<float>(in[c]);
        sq += v * v;
      }
      const float rs = math::RmsRstd(sq / static_cast<float>(cols), eps);
      for (int64_t c = 0; c < cols; ++c) {
        out[c] = T(math::RmsNormValue(static_cast<float>(in[c]), rs, static_cast<float>(g[c])));
      }
      rstd.data<float>()[r] = rs;
    }
  });
  return absl::OkStatus();
}

absl::Status RmsNormBackwardInput(const Tensor& x, const Tensor& gamma, const Tensor& rstd,
                                  const Tensor& dy, const Tensor& dx, Stream) {
  const int64_t cols = x.dim(-1);
  const int64_t rows = x.numel() / cols;
  internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
    const T* gm = gamma.data<T>();
    std::vector<float> g(cols), xhat(cols);
    for (int64_t r = 0; r < rows; ++r) {
      const T* in = x.data<T>() + r * cols;
      const T* pdy = dy.data<T>() + r * cols;
      T* out = dx.data<T>() + r * cols;
      const float rs = rstd.data<float>()[r];
      float sum_gx = 0.0f;
      for (int64_t c = 0; c < cols; ++c) {
        g[c] = static_cast<float>(pdy[c]) * static_cast<float>(gm[c]);
        xhat[c] = static_cast<float>(in[c]) * rs;
        sum_gx += g[c] * xhat[c];
      }
      const float mean_gx = sum_gx / static_cast<float>(cols);
      for (int64_t c = 0; c < cols; ++c) {
        out[c] = T(math::RmsNormGradInput(g[c], xhat[c], rs, mean_gx));
      }
    }
  });
  return absl::OkStatus();
}

absl::Status RmsNormBackwardWeight(const Tensor& x, const Tensor& rstd, const Tensor& dy,
                                   const Tensor& dgamma, Stream) {
  const int64_t cols = x.dim(-1);
  const int64_t rows = x.numel() / cols;
  internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
    std::vector<float> acc(cols, 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      const T* in = x.data<T>() + r * cols;
      const T* pdy = dy.data<T>() + r * cols;
      const float rs = rstd.data<float>()[r];
      for (int64_t c = 0; c < cols; ++c) {
        acc[c] += static_cast<float>(pdy[c]) * static_cast<float>(in[c]) * rs;
      }
    }
    T* pg = dgamma.data<T>();
    for (int64_t c = 0; c < cols; ++c) pg[c] = T(static_cast<float>(pg[c]) + acc[c]);
  });
  return absl::OkStatus();
}

}  // namespace braid::kernels::cpu
