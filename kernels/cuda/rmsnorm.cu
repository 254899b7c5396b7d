// CUDA RMSNorm: one block per row for the forward and the input gradient;
// one thread per column, looping over rows, for the weight gradient.
#include "kernels/cuda/nn_common.cuh"
#include "kernels/internal/nn_backends.h"
#include "kernels/math/rmsnorm.h"

namespace braid::kernels::cuda {
namespace {

using cuda_internal::BlockSum;
using cuda_internal::Load;
using cuda_internal::Store;

template <typename T>
__global__ void RmsNormForwardKernel(const T* x, const T* gamma, float eps, T* y, float* rstd,
                                     int64_t rows, int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* in = x + r * cols;
    T* out = y + r * cols;
    float sq = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float v = Load(in, c);
      sq += v * v;
    }
    const float rs = math::RmsRstd(BlockSum(sq) / static_cast<float>(cols), eps);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      Store(out, c, math::RmsNormValue(Load(in, c), rs, Load(gamma, c)));
    }
    if (threadIdx.x == 0) rstd[r] = rs;
  }
}

template <typename T>
__global__ void RmsNormBackwardInputKernel(const T* x, const T* gamma, const float* rstd,
                                           const T* dy, T* dx, int64_t rows, int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* in = x + r * cols;
    const T* pdy = dy + r * cols;
    T* out = dx + r * cols;
    const float rs = rstd[r];
    float sum_gx = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      sum_gx += Load(pdy, c) * Load(gamma, c) * Load(in, c) * rs;
    }
    const float mean_gx = BlockSum(sum_gx) / static_cast<float>(cols);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float g = Load(pdy, c) * Load(gamma, c);
      Store(out, c, math::RmsNormGradInput(g, Load(in, c) * rs, rs, mean_gx));
    }
  }
}

template <typename T>
__global__ void RmsNormBackwardWeightKernel(const T* x, const float* rstd, const T* dy, T* dgamma,
                                            int64_t rows, int64_t cols) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < cols;
       c += int64_t{gridDim.x} * blockDim.x) {
    float acc = 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
      acc += Load(dy, r * cols + c) * Load(x, r * cols + c) * rstd[r];
    }
    Store(dgamma, c, Load(dgamma, c) + acc);
  }
}

constexpr int kColumnThreads = 128;

}  // namespace

absl::Status RmsNormForward(const Tensor& x, const Tensor& gamma, float eps, const Tensor& y,
                            const Tensor& rstd, Stream stream) {
  const int64_t cols = x.dim(-1), rows = x.numel() / cols;
  return cuda_internal::RunOnDevice(x, "RmsNormForward", [&] {
    internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
      RmsNormForwardKernel<T><<<cuda_internal::RowGrid(rows), cuda_internal::kRowThreads, 0,
                                cuda_internal::ToCudaStream(stream)>>>(
          x.data<T>(), gamma.data<T>(), eps, y.data<T>(), rstd.data<float>(), rows, cols);
    });
  });
}

absl::Status RmsNormBackwardInput(const Tensor& x, const Tensor& gamma, const Tensor& rstd,
                                  const Tensor& dy, const Tensor& dx, Stream stream) {
  const int64_t cols = x.dim(-1), rows = x.numel() / cols;
  return cuda_internal::RunOnDevice(x, "RmsNormBackwardInput", [&] {
    internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
      RmsNormBackwardInputKernel<T><<<cuda_internal::RowGrid(rows), cuda_internal::kRowThreads, 0,
                                      cuda_internal::ToCudaStream(stream)>>>(
          x.data<T>(), gamma.data<T>(), rstd.data<float>(), dy.data<T>(), dx.data<T>(), rows, cols);
    });
  });
}

absl::Status RmsNormBackwardWeight(const Tensor& x, const Tensor& rstd, const Tensor& dy,
                                   const Tensor& dgamma, Stream stream) {
  const int64_t cols = x.dim(-1), rows = x.numel() / cols;
  return cuda_internal::RunOnDevice(x, "RmsNormBackwardWeight", [&] {
    internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
      RmsNormBackwardWeightKernel<T><<<cuda_internal::GridFor(cols, kColumnThreads), kColumnThreads,
                                       0, cuda_internal::ToCudaStream(stream)>>>(
          x.data<T>(), rstd.data<float>(), dy.data<T>(), dgamma.data<T>(), rows, cols);
    });
  });
}

}  // namespace braid::kernels::cuda
