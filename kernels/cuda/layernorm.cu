// CUDA LayerNorm: one block per row for the forward and the input gradient
// (block reductions for the row statistics); one thread per column, looping
// over rows, for the weight gradient (deterministic, no atomics).
#include "kernels/cuda/nn_common.cuh"
#include "kernels/internal/nn_backends.h"
#include "kernels/math/layernorm.h"

namespace braid::kernels::cuda {
namespace {

using cuda_internal::BlockSum;
using cuda_internal::Load;
using cuda_internal::Store;

template <typename T>
__global__ void LayerNormForwardKernel(const T* x, const T* gamma, const T* beta, float eps, T* y,
                                       float* mean, float* rstd, int64_t rows, int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* in = x + r * cols;
    T* out = y + r * cols;
    float s = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += Load(in, c);
    const float mu = BlockSum(s) / static_cast<float>(cols);
    float sq = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float d = Load(in, c) - mu;
      sq += d * d;
    }
    const float rs = math::Rstd(BlockSum(sq) / static_cast<float>(cols), eps);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      Store(out, c, math::LayerNormValue(Load(in, c), mu, rs, Load(gamma, c), Load(beta, c)));
    }
    if (threadIdx.x == 0) {
      mean[r] = mu;
      rstd[r] = rs;
    }
  }
}

template <typename T>
__global__ void LayerNormBackwardInputKernel(const T* x, const T* gamma, const float* mean,
                                             const float* rstd, const T* dy, T* dx, int64_t rows,
                                             int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* in = x + r * cols;
    const T* pdy = dy + r * cols;
    T* out = dx + r * cols;
    const float mu = mean[r], rs = rstd[r];
    float sum_g = 0.0f, sum_gx = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float g = Load(pdy, c) * Load(gamma, c);
      sum_g += g;
      sum_gx += g * (Load(in, c) - mu) * rs;
    }
    const float mean_g = BlockSum(sum_g) / static_cast<float>(cols);
    const float mean_gx = BlockSum(sum_gx) / static_cast<float>(cols);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float g = Load(pdy, c) * Load(gamma, c);
      Store(out, c, math::LayerNormGradInput(g, (Load(in, c) - mu) * rs, rs, mean_g, mean_gx));
    }
  }
}

template <typename T>
__global__ void LayerNormBackwardWeightKernel(const T* x, const float* mean, const float* rstd,
                                              const T* dy, T* dgamma, T* dbeta, int64_t rows,
                                              int64_t cols) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < cols;
       c += int64_t{gridDim.x} * blockDim.x) {
    float acc_g = 0.0f, acc_b = 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
      const float d = Load(dy, r * cols + c);
      acc_g += d * (Load(x, r * cols + c) - mean[r]) * rstd[r];
      acc_b += d;
    }
    Store(dgamma, c, Load(dgamma, c) + acc_g);
    Store(dbeta, c, Load(dbeta, c) + acc_b);
  }
}

constexpr int kColumnThreads = 128;

}  // namespace

absl::Status LayerNormForward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                              const Tensor& y, const Tensor& mean, const Tensor& rstd,
                              Stream stream) {
  const int64_t cols = x.dim(-1), rows = x.numel() / cols;
  return cuda_internal::RunOnDevice(x, "LayerNormForward", [&] {
    internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
      LayerNormForwardKernel<T><<<cuda_internal::RowGrid(rows), cuda_internal::kRowThreads, 0,
                                  cuda_internal::ToCudaStream(stream)>>>(
          x.data<T>(), gamma.data<T>(), beta.data<T>(), eps, y.data<T>(), mean.data<float>(),
          rstd.data<float>(), rows, cols);
    });
  });
}

absl::Status LayerNormBackwardInput(const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                    const Tensor& rstd, const Tensor& dy, const Tensor& dx,
                                    Stream stream) {
  const int64_t cols = x.dim(-1), rows = x.numel() / cols;
  return cuda_internal::RunOnDevice(x, "LayerNormBackwardInput", [&] {
    internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
      LayerNormBackwardInputKernel<T><<<cuda_internal::RowGrid(rows), cuda_internal::kRowThreads, 0,
                                        cuda_internal::ToCudaStream(stream)>>>(
          x.data<T>(), gamma.data<T>(), mean.data<float>(), rstd.data<float>(), dy.data<T>(),
          dx.data<T>(), rows, cols);
    });
  });
}

absl::Status LayerNormBackwardWeight(const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                     const Tensor& dy, const Tensor& dgamma, const Tensor& dbeta,
                                     Stream stream) {
  const int64_t cols = x.dim(-1), rows = x.numel() / cols;
  return cuda_internal::RunOnDevice(x, "LayerNormBackwardWeight", [&] {
    internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
      LayerNormBackwardWeightKernel<T><<<cuda_internal::GridFor(cols, kColumnThreads),
                                         kColumnThreads, 0, cuda_internal::ToCudaStream(stream)>>>(
          x.data<T>(), mean.data<float>(), rstd.data<float>(), dy.data<T>(), dgamma.data<T>(),
          dbeta.data<T>(), rows, cols);
    });
  });
}

}  // namespace braid::kernels::cuda
