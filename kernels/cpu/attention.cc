// CPU attention: per (batch, head), operands in f32 and blocks of kBlockRows
// query rows, each block two (forward) or five (backward) OpenBLAS GEMMs over
// the keys the block can see. Temporaries: O(kBlockRows * Tk) for scores and
// O((Tq + Tk) * D) for f32 copies and gradient accumulators.
#include "kernels/math/attention.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/internal/nn_backends.h"

namespace braid::kernels::cpu {
namespace {

constexpr int64_t kBlockRows = 64;

// `n` elements of `src` as f32: the source itself for f32, else a converted copy.
template <typename T>
class F32Span {
 public:
  F32Span(const T* src, int64_t n) {
    if constexpr (std::is_same_v<T, float>) {
      data_ = src;
    } else {
      copy_.resize(n);
      for (int64_t i = 0; i < n; ++i) copy_[i] = static_cast<float>(src[i]);
      data_ = copy_.data();
    }
  }
  const float* data() const { return data_; }

 private:
  std::vector<float> copy_;
  const float* data_ = nullptr;
};

// Number of leading keys of the block that query row `i` sees (causal by
// absolute position: key j visible iff k_offset + j <= q_offset + i).
int64_t VisibleKeys(const AttentionOptions& options, int64_t i, int64_t tk) {
  if (!options.causal) return tk;
  const int64_t last = options.q_offset + i - options.k_offset;  // last visible key index
  return std::clamp<int64_t>(last + 1, 0, tk);
}

// C[m, n] = alpha * op(A) op(B) + beta * C, row-major.
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
              c, static_cast<int>(ldc));
}

}  // namespace

absl::Status AttentionForward(const Tensor& q, const Tensor& k, const Tensor& v,
                              const AttentionOptions& options, const Tensor& o, const Tensor& lse,
                              Stream) {
  const int64_t heads = q.dim(0) * q.dim(1), tq = q.dim(2), tk = k.dim(2), d = q.dim(3);
  internal::VisitFloatDType(q.dtype(), [&]<typename T>() {
    std::vector<float> scores(static_cast<size_t>(std::min(tq, kBlockRows) * tk));
    std::vector<float> out(static_cast<size_t>(std::min(tq, kBlockRows) * d));
    for (int64_t bh = 0; bh < heads; ++bh) {
      F32Span<T> qf(q.data<T>() + bh * tq * d, tq * d);
      F32Span<T> kf(k.data<T>() + bh * tk * d, tk * d);
      F32Span<T> vf(v.data<T>() + bh * tk * d, tk * d);
      T* po = o.data<T>() + bh * tq * d;
      float* pl = lse.data<float>() + bh * tq;
      for (int64_t i0 = 0; i0 < tq; i0 += kBlockRows) {
        const int64_t rows = std::min(kBlockRows, tq - i0);
        const int64_t keys = VisibleKeys(options, i0 + rows - 1, tk);  // widest row of the block
        if (keys > 0) {
          Gemm(false, true, rows, keys, d, options.scale, qf.data() + i0 * d, d, kf.data(), d, 0.0f,
               scores.data(), keys);
        }
        for (int64_t r = 0; r < rows; ++r) {
          float* s = scores.data() + r * keys;
          const int64_t visible = VisibleKeys(options, i0 + r, tk);
          float row_max = -INFINITY;
          for (int64_t j = 0; j < visible; ++j) row_max = std::max(row_max, s[j]);
          float sum = 0.0f;
          for (int64_t j = 0; j < visible; ++j) {
            s[j] = std::exp(s[j] - row_max);
            sum += s[j];
          }
          const float inv = visible > 0 ? 1.0f / sum : 0.0f;
          for (int64_t j = 0; j < visible; ++j) s[j] *= inv;
          for (int64_t j = visible; j < keys; ++j) s[j] = 0.0f;
          pl[i0 + r] = visible > 0 ? row_max + std::log(sum) : -INFINITY;
        }
        if (keys > 0) {
          Gemm(false, false, rows, d, keys, 1.0f, scores.data(), keys, vf.data(), d, 0.0f,
               out.data(), d);
        } else {
          std::fill(out.begin(), out.end(), 0.0f);
        }
        for (int64_t x = 0; x < rows * d; ++x) po[i0 * d + x] = T(out[x]);
      }
    }
  });
  return absl::OkStatus();
}

absl::Status AttentionMerge(const Tensor& o1, const Tensor& lse1, const Tensor& o2,
                            const Tensor& lse2, const Tensor& o, const Tensor& lse, Stream) {
  const int64_t rows = o1.dim(0) * o1.dim(1) * o1.dim(2), d = o1.dim(3);
  internal::VisitFloatDType(o1.dtype(), [&]<typename T>() {
    for (int64_t r = 0; r < rows; ++r) {
      const float l1 = lse1.data<float>()[r];
      const float l2 = lse2.data<float>()[r];
      const float l = math::LogAddExp(l1, l2);
      const float w1 = math::MergeWeight(l1, l);
      const float w2 = math::MergeWeight(l2, l);
      const T* a = o1.data<T>() + r * d;
      const T* b = o2.data<T>() + r * d;
      T* out = o.data<T>() + r * d;
      for (int64_t x = 0; x < d; ++x) {
        out[x] = T(w1 * static_cast<float>(a[x]) + w2 * static_cast<float>(b[x]));
      }
      lse.data<float>()[r] = l;
    }
  });
  return absl::OkStatus();
}

absl::Status AttentionBackward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
                               const Tensor& lse, const Tensor& dout,
                               const AttentionOptions& options, const Tensor& dq, const Tensor& dk,
                               const Tensor& dv, Stream) {
  const int64_t heads = q.dim(0) * q.dim(1), tq = q.dim(2), tk = k.dim(2), d = q.dim(3);
  internal::VisitFloatDType(q.dtype(), [&]<typename T>() {
    const int64_t block = std::min(tq, kBlockRows);
    std::vector<float> p(static_cast<size_t>(block * tk)), dp(static_cast<size_t>(block * tk));
    std::vector<float> dq_acc(static_cast<size_t>(tq * d)), dk_acc(static_cast<size_t>(tk * d)),
        dv_acc(static_cast<size_t>(tk * d)), drow(static_cast<size_t>(tq));
    for (int64_t bh = 0; bh < heads; ++bh) {
      F32Span<T> qf(q.data<T>() + bh * tq * d, tq * d);
      F32Span<T> kf(k.data<T>() + bh * tk * d, tk * d);
      F32Span<T> vf(v.data<T>() + bh * tk * d, tk * d);
      F32Span<T> of(o.data<T>() + bh * tq * d, tq * d);
      F32Span<T> gf(dout.data<T>() + bh * tq * d, tq * d);
      const float* pl = lse.data<float>() + bh * tq;
      std::fill(dq_acc.begin(), dq_acc.end(), 0.0f);
      std::fill(dk_acc.begin(), dk_acc.end(), 0.0f);
      std::fill(dv_acc.begin(), dv_acc.end(), 0.0f);
      for (int64_t i = 0; i < tq; ++i) {
        float s = 0.0f;
        for (int64_t x = 0; x < d; ++x) s += gf.data()[i * d + x] * of.data()[i * d + x];
        drow[i] = s;
      }
      for (int64_t i0 = 0; i0 < tq; i0 += kBlockRows) {
        const int64_t rows = std::min(kBlockRows, tq - i0);
        const int64_t keys = VisibleKeys(options, i0 + rows - 1, tk);
        if (keys == 0) continue;
        const float* qb = qf.data() + i0 * d;
        const float* gb = gf.data() + i0 * d;
        // P = exp(q k^T * scale - lse), masked entries 0.
        Gemm(false, true, rows, keys, d, options.scale, qb, d, kf.data(), d, 0.0f, p.data(), keys);
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t visible = VisibleKeys(options, i0 + r, tk);
          float* pr = p.data() + r * keys;
          for (int64_t j = 0; j < visible; ++j) pr[j] = math::AttentionProb(pr[j], pl[i0 + r]);
          for (int64_t j = visible; j < keys; ++j) pr[j] = 0.0f;
        }
        // dv += P^T dout;  dP = dout v^T;  dS = P * (dP - Drow).
        Gemm(true, false, keys, d, rows, 1.0f, p.data(), keys, gb, d, 1.0f, dv_acc.data(), d);
        Gemm(false, true, rows, keys, d, 1.0f, gb, d, vf.data(), d, 0.0f, dp.data(), keys);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t j = 0; j < keys; ++j) {
            const int64_t x = r * keys + j;
            dp[x] = math::AttentionScoreGrad(p[x], dp[x], drow[i0 + r]);
          }
        }
        // dq += dS k * scale;  dk += dS^T q * scale.
        Gemm(false, false, rows, d, keys, options.scale, dp.data(), keys, kf.data(), d, 1.0f,
             dq_acc.data() + i0 * d, d);
        Gemm(true, false, keys, d, rows, options.scale, dp.data(), keys, qb, d, 1.0f, dk_acc.data(),
             d);
      }
      T* pdq = dq.data<T>() + bh * tq * d;
      T* pdk = dk.data<T>() + bh * tk * d;
      T* pdv = dv.data<T>() + bh * tk * d;
      for (int64_t x = 0; x < tq * d; ++x) pdq[x] = T(static_cast<float>(pdq[x]) + dq_acc[x]);
      for (int64_t x = 0; x < tk * d; ++x) {
        pdk[x] = T(static_cast<float>(pdk[x]) + dk_acc[x]);
        pdv[x] = T(static_cast<float>(pdv[x]) + dv_acc[x]);
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace braid::kernels::cpu
