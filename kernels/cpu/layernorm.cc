// CPU LayerNorm: per row, two passes for the statistics (mean, then the
// centred variance, for accuracy) and one to write; the weight gradient sums
// rows into f32 column accumulators and adds them to dgamma/dbeta once.
#include "kernels/math/layernorm.h"

#include <cstdint>
#include <vector>

#include "kernels/internal/nn_backends.h"

namespace braid::kernels::cpu {

absl::Status LayerNormForward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                              const Tensor& y, const Tensor& mean, const Tensor& rstd, Stream) {
  const int64_t cols = x.dim(-1);
  const int64_t rows = x.numel() / cols;
  internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
    const T* g = gamma.data<T>();
    const T* b = beta.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      const T* in = x.data<T>() + r * cols;
      T* out = y.data<T>() + r * cols;
      float sum = 0.0f;
      for (int64_t c = 0; c < cols; ++c) sum += static_cast<float>(in[c]);
      const float mu = sum / static_cast<float>(cols);
      float sq = 0.0f;
      for (int64_t c = 0; c < cols; ++c) {
        const float d = static_cast<float>(in[c]) - mu;
        sq += d * d;
      }
      const float rs = math::Rstd(sq / static_cast<float>(cols), eps);
      for (int64_t c = 0; c < cols; ++c) {
        out[c] = T(math::LayerNormValue(static_cast<float>(in[c]), mu, rs, static_cast<float>(g[c]),
                                        static_cast<float>(b[c])));
      }
      mean.data<float>()[r] = mu;
      rstd.data<float>()[r] = rs;
    }
  });
  return absl::OkStatus();
}

absl::Status LayerNormBackwardInput(const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                    const Tensor& rstd, const Tensor& dy, const Tensor& dx,
                                    Stream) {
  const int64_t cols = x.dim(-1);
  const int64_t rows = x.numel() / cols;
  internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
    const T* gm = gamma.data<T>();
    std::vector<float> g(cols), xhat(cols);
    for (int64_t r = 0; r < rows; ++r) {
      const T* in = x.data<T>() + r * cols;
      const T* pdy = dy.data<T>() + r * cols;
      T* out = dx.data<T>() + r * cols;
      const float mu = mean.data<float>()[r];
      const float rs = rstd.data<float>()[r];
      float sum_g = 0.0f, sum_gx = 0.0f;
      for (int64_t c = 0; c < cols; ++c) {
        g[c] = static_cast<float>(pdy[c]) * static_cast<float>(gm[c]);
        xhat[c] = (static_cast<float>(in[c]) - mu) * rs;
        sum_g += g[c];
        sum_gx += g[c] * xhat[c];
      }
      const float mean_g = sum_g / static_cast<float>(cols);
      const float mean_gx = sum_gx / static_cast<float>(cols);
      for (int64_t c = 0; c < cols; ++c) {
        out[c] = T(math::LayerNormGradInput(g[c], xhat[c], rs, mean_g, mean_gx));
      }
    }
  });
  return absl::OkStatus();
}

absl::Status LayerNormBackwardWeight(const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                     const Tensor& dy, const Tensor& dgamma, const Tensor& dbeta,
                                     Stream) {
  const int64_t cols = x.dim(-1);
  const int64_t rows = x.numel() / cols;
  internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
    std::vector<float> acc_g(cols, 0.0f), acc_b(cols, 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      const T* in = x.data<T>() + r * cols;
      const T* pdy = dy.data<T>() + r * cols;
      const float mu = mean.data<float>()[r];
      const float rs = rstd.data<float>()[r];
      for (int64_t c = 0; c < cols; ++c) {
        const float d = static_cast<float>(pdy[c]);
        acc_g[c] += d * (static_cast<float>(in[c]) - mu) * rs;
        acc_b[c] += d;
      }
    }
    T* pg = dgamma.data<T>();
    T* pb = dbeta.data<T>();
    for (int64_t c = 0; c < cols; ++c) {
      pg[c] = T(static_cast<float>(pg[c]) + acc_g[c]);
      pb[c] = T(static_cast<float>(pb[c]) + acc_b[c]);
    }
  });
  return absl::OkStatus();
}

}  // namespace braid::kernels::cpu
