// CUDA attention, written for clarity rather than speed (the CPU path is the
// reference; a tiled flash kernel can replace these behind the same API).
//   forward:  one block per (batch*head, query row); keys in chunks of
//             blockDim, online softmax, the output row accumulated in shared
//             memory.
//   merge:    one block per query row (so lse may alias lse1/lse2).
//   backward: Drow = rowsum(dout * o) per row into stream-ordered scratch;
//             dq with one block per query row; dk, dv with one block per key
//             row looping over the query rows that see it. No atomics:
//             deterministic.
#include <cmath>

#include "kernels/cuda/nn_common.cuh"
#include "kernels/internal/nn_backends.h"
#include "kernels/math/attention.h"

namespace braid::kernels::cuda {
namespace {

using cuda_internal::BlockMax;
using cuda_internal::BlockSum;
using cuda_internal::Load;
using cuda_internal::Store;

constexpr int kThreads = 128;

struct Geometry {
  int64_t heads;  // B * H
  int64_t tq, tk, d;
  float scale;
  bool causal;
  int64_t q_offset, k_offset;
};

// Number of leading keys that query row i sees.
__device__ __forceinline__ int64_t VisibleKeys(const Geometry& g, int64_t i) {
  if (!g.causal) return g.tk;
  const int64_t n = g.q_offset + i - g.k_offset + 1;
  return n < 0 ? 0 : (n > g.tk ? g.tk : n);
}

template <typename T>
__device__ __forceinline__ float RowDot(const float* a_shared, const T* b, int64_t d) {
  float s = 0.0f;
  for (int64_t x = 0; x < d; ++x) s += a_shared[x] * Load(b, x);
  return s;
}

// Shared memory: q row [d], output accumulator [d], chunk probabilities [blockDim].
template <typename T>
__global__ void ForwardKernel(const T* q, const T* k, const T* v, T* o, float* lse, Geometry g) {
  extern __shared__ float shared[];
  float* q_row = shared;
  float* acc = shared + g.d;
  float* probs = shared + 2 * g.d;
  for (int64_t row = blockIdx.x; row < g.heads * g.tq; row += gridDim.x) {
    const int64_t bh = row / g.tq, i = row % g.tq;
    const T* kh = k + bh * g.tk * g.d;
    const T* vh = v + bh * g.tk * g.d;
    for (int64_t x = threadIdx.x; x < g.d; x += blockDim.x) {
      q_row[x] = Load(q, row * g.d + x);
      acc[x] = 0.0f;
    }
    __syncthreads();
    const int64_t visible = VisibleKeys(g, i);
    float m = -INFINITY, l = 0.0f;
    for (int64_t j0 = 0; j0 < visible; j0 += blockDim.x) {
      const int64_t j = j0 + threadIdx.x;
      const float s = j < visible ? RowDot(q_row, kh + j * g.d, g.d) * g.scale : -INFINITY;
      const float m_new = fmaxf(m, BlockMax(s));
      const float p = j < visible ? expf(s - m_new) : 0.0f;
      probs[threadIdx.x] = p;
      const float chunk_sum = BlockSum(p);  // also publishes probs
      const float correction = m == -INFINITY ? 0.0f : expf(m - m_new);
      l = l * correction + chunk_sum;
      const int64_t chunk = visible - j0 < blockDim.x ? visible - j0 : blockDim.x;
      for (int64_t x = threadIdx.x; x < g.d; x += blockDim.x) {
        float a = acc[x] * correction;
        for (int64_t jj = 0; jj < chunk; ++jj) a += probs[jj] * Load(vh, (j0 + jj) * g.d + x);
        acc[x] = a;
      }
      m = m_new;
      __syncthreads();  // probs is rewritten by the next chunk
    }
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int64_t x = threadIdx.x; x < g.d; x += blockDim.x) Store(o, row * g.d + x, acc[x] * inv);
    if (threadIdx.x == 0) lse[row] = l > 0.0f ? m + logf(l) : -INFINITY;
    __syncthreads();  // q_row and acc are reused by the next row
  }
}

template <typename T>
__global__ void MergeKernel(const T* o1, const float* lse1, const T* o2, const float* lse2, T* o,
                            float* lse, int64_t rows, int64_t d) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float l1 = lse1[r], l2 = lse2[r];
    const float l = math::LogAddExp(l1, l2);
    const float w1 = math::MergeWeight(l1, l), w2 = math::MergeWeight(l2, l);
    for (int64_t x = threadIdx.x; x < d; x += blockDim.x) {
      Store(o, r * d + x, w1 * Load(o1, r * d + x) + w2 * Load(o2, r * d + x));
    }
    __syncthreads();  // every thread has read lse1[r], lse2[r] before lse[r] changes
    if (threadIdx.x == 0) lse[r] = l;
  }
}

template <typename T>
__global__ void RowDotKernel(const T* a, const T* b, float* out, int64_t rows, int64_t d) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    float s = 0.0f;
    for (int64_t x = threadIdx.x; x < d; x += blockDim.x)
      s += Load(a, r * d + x) * Load(b, r * d + x);
    s = BlockSum(s);
    if (threadIdx.x == 0) out[r] = s;
  }
}

// dq: shared q row [d], dout row [d], accumulator [d], chunk dS [blockDim].
template <typename T>
__global__ void BackwardQueryKernel(const T* q, const T* k, const T* v, const float* lse,
                                    const float* drow, const T* dout, T* dq, Geometry g) {
  extern __shared__ float shared[];
  float* q_row = shared;
  float* g_row = shared + g.d;
  float* acc = shared + 2 * g.d;
  float* ds = shared + 3 * g.d;
  for (int64_t row = blockIdx.x; row < g.heads * g.tq; row += gridDim.x) {
    const int64_t bh = row / g.tq, i = row % g.tq;
    const T* kh = k + bh * g.tk * g.d;
    const T* vh = v + bh * g.tk * g.d;
    for (int64_t x = threadIdx.x; x < g.d; x += blockDim.x) {
      q_row[x] = Load(q, row * g.d + x);
      g_row[x] = Load(dout, row * g.d + x);
      acc[x] = 0.0f;
    }
    __syncthreads();
    const int64_t visible = VisibleKeys(g, i);
    const float l = lse[row], dr = drow[row];
    for (int64_t j0 = 0; j0 < visible; j0 += blockDim.x) {
      const int64_t j = j0 + threadIdx.x;
      float dsj = 0.0f;
      if (j < visible) {
        const float p = math::AttentionProb(RowDot(q_row, kh + j * g.d, g.d) * g.scale, l);
        dsj = math::AttentionScoreGrad(p, RowDot(g_row, vh + j * g.d, g.d), dr);
      }
      ds[threadIdx.x] = dsj;
      __syncthreads();
      const int64_t chunk = visible - j0 < blockDim.x ? visible - j0 : blockDim.x;
      for (int64_t x = threadIdx.x; x < g.d; x += blockDim.x) {
        float a = acc[x];
        for (int64_t jj = 0; jj < chunk; ++jj) a += ds[jj] * Load(kh, (j0 + jj) * g.d + x);
        acc[x] = a;
      }
      __syncthreads();
    }
    for (int64_t x = threadIdx.x; x < g.d; x += blockDim.x) {
      Store(dq, row * g.d + x, Load(dq, row * g.d + x) + acc[x] * g.scale);
    }
    __syncthreads();
  }
}

// dk, dv: shared k row [d], v row [d], two accumulators [d], chunk P and dS
// [blockDim] each.
template <typename T>
__global__ void BackwardKeyKernel(const T* q, const T* k, const T* v, const float* lse,
                                  const float* drow, const T* dout, T* dk, T* dv, Geometry g) {
  extern __shared__ float shared[];
  float* k_row = shared;
  float* v_row = shared + g.d;
  float* acc_k = shared + 2 * g.d;
  float* acc_v = shared + 3 * g.d;
  float* probs = shared + 4 * g.d;
  float* ds = probs + blockDim.x;
  for (int64_t row = blockIdx.x; row < g.heads * g.tk; row += gridDim.x) {
    const int64_t bh = row / g.tk, j = row % g.tk;
    const T* qh = q + bh * g.tq * g.d;
    const T* gh = dout + bh * g.tq * g.d;
    for (int64_t x = threadIdx.x; x < g.d; x += blockDim.x) {
      k_row[x] = Load(k, row * g.d + x);
      v_row[x] = Load(v, row * g.d + x);
      acc_k[x] = 0.0f;
      acc_v[x] = 0.0f;
    }
    __syncthreads();
    for (int64_t i0 = 0; i0 < g.tq; i0 += blockDim.x) {
      const int64_t i = i0 + threadIdx.x;
      float p = 0.0f, dsi = 0.0f;
      if (i < g.tq && math::AttentionVisible(g.causal, g.q_offset + i, g.k_offset + j)) {
        const int64_t qrow = bh * g.tq + i;
        p = math::AttentionProb(RowDot(k_row, qh + i * g.d, g.d) * g.scale, lse[qrow]);
        dsi = math::AttentionScoreGrad(p, RowDot(v_row, gh + i * g.d, g.d), drow[qrow]);
      }
      probs[threadIdx.x] = p;
      ds[threadIdx.x] = dsi;
      __syncthreads();
      const int64_t chunk = g.tq - i0 < blockDim.x ? g.tq - i0 : blockDim.x;
      for (int64_t x = threadIdx.x; x < g.d; x += blockDim.x) {
        float ak = acc_k[x], av = acc_v[x];
        for (int64_t ii = 0; ii < chunk; ++ii) {
          ak += ds[ii] * Load(qh, (i0 + ii) * g.d + x);
          av += probs[ii] * Load(gh, (i0 + ii) * g.d + x);
        }
        acc_k[x] = ak;
        acc_v[x] = av;
      }
      __syncthreads();
    }
    for (int64_t x = threadIdx.x; x < g.d; x += blockDim.x) {
      Store(dk, row * g.d + x, Load(dk, row * g.d + x) + acc_k[x] * g.scale);
      Store(dv, row * g.d + x, Load(dv, row * g.d + x) + acc_v[x]);
    }
    __syncthreads();
  }
}

Geometry MakeGeometry(const Tensor& q, const Tensor& k, const AttentionOptions& options) {
  return Geometry{q.dim(0) * q.dim(1), q.dim(2),       k.dim(2),         q.dim(3),
                  options.scale,       options.causal, options.q_offset, options.k_offset};
}

unsigned int Grid(int64_t rows) { return cuda_internal::RowGrid(rows); }

}  // namespace

absl::Status AttentionForward(const Tensor& q, const Tensor& k, const Tensor& v,
                              const AttentionOptions& options, const Tensor& o, const Tensor& lse,
                              Stream stream) {
  const Geometry g = MakeGeometry(q, k, options);
  const size_t shared = (2 * g.d + kThreads) * sizeof(float);
  return cuda_internal::RunOnDevice(q, "AttentionForward", [&] {
    internal::VisitFloatDType(q.dtype(), [&]<typename T>() {
      cudaFuncSetAttribute(ForwardKernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(shared));
      ForwardKernel<T>
          <<<Grid(g.heads * g.tq), kThreads, shared, cuda_internal::ToCudaStream(stream)>>>(
              q.data<T>(), k.data<T>(), v.data<T>(), o.data<T>(), lse.data<float>(), g);
    });
  });
}

absl::Status AttentionMerge(const Tensor& o1, const Tensor& lse1, const Tensor& o2,
                            const Tensor& lse2, const Tensor& o, const Tensor& lse, Stream stream) {
  const int64_t rows = o1.dim(0) * o1.dim(1) * o1.dim(2), d = o1.dim(3);
  return cuda_internal::RunOnDevice(o1, "AttentionMerge", [&] {
    internal::VisitFloatDType(o1.dtype(), [&]<typename T>() {
      MergeKernel<T><<<Grid(rows), kThreads, 0, cuda_internal::ToCudaStream(stream)>>>(
          o1.data<T>(), lse1.data<float>(), o2.data<T>(), lse2.data<float>(), o.data<T>(),
          lse.data<float>(), rows, d);
    });
  });
}

absl::Status AttentionBackward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
                               const Tensor& lse, const Tensor& dout,
                               const AttentionOptions& options, const Tensor& dq, const Tensor& dk,
                               const Tensor& dv, Stream stream) {
  const Geometry g = MakeGeometry(q, k, options);
  const cudaStream_t s = cuda_internal::ToCudaStream(stream);
  cuda_internal::DeviceGuard guard(q.device().index);
  if (!guard.status().ok()) return guard.status();
  void* scratch = nullptr;
  if (absl::Status st =
          cuda_internal::FromCuda(cudaMallocAsync(&scratch, sizeof(float) * g.heads * g.tq, s),
                                  "AttentionBackward: cudaMallocAsync");
      !st.ok()) {
    return st;
  }
  float* drow = static_cast<float*>(scratch);
  const size_t shared_q = (3 * g.d + kThreads) * sizeof(float);
  const size_t shared_k = (4 * g.d + 2 * kThreads) * sizeof(float);
  internal::VisitFloatDType(q.dtype(), [&]<typename T>() {
    RowDotKernel<T><<<Grid(g.heads * g.tq), kThreads, 0, s>>>(dout.data<T>(), o.data<T>(), drow,
                                                              g.heads * g.tq, g.d);
    cudaFuncSetAttribute(BackwardQueryKernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         static_cast<int>(shared_q));
    BackwardQueryKernel<T><<<Grid(g.heads * g.tq), kThreads, shared_q, s>>>(
        q.data<T>(), k.data<T>(), v.data<T>(), lse.data<float>(), drow, dout.data<T>(),
        dq.data<T>(), g);
    cudaFuncSetAttribute(BackwardKeyKernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         static_cast<int>(shared_k));
    BackwardKeyKernel<T><<<Grid(g.heads * g.tk), kThreads, shared_k, s>>>(
        q.data<T>(), k.data<T>(), v.data<T>(), lse.data<float>(), drow, dout.data<T>(),
        dk.data<T>(), dv.data<T>(), g);
  });
  absl::Status launched = cuda_internal::LaunchStatus("AttentionBackward");
  absl::Status freed =
      cuda_internal::FromCuda(cudaFreeAsync(scratch, s), "AttentionBackward: cudaFreeAsync");
  return launched.ok() ? freed : launched;
}

}  // namespace braid::kernels::cuda
