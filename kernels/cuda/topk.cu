// CUDA top-k: one block per row; k passes, each a block-wide arg-max over the
// elements that come after the previous pick in kernels/math/topk.h order (a
// strict total order, so no element is picked twice and no scratch is needed).
#include <cuda_runtime.h>

#include "kernels/cuda/launch.h"
#include "kernels/internal/core_backends.h"
#include "kernels/math/topk.h"

namespace braid::kernels::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void TopKKernel(const T* x, int64_t n, int64_t k, T* values, int64_t* indices) {
  __shared__ float best_value[kThreads];
  __shared__ int64_t best_index[kThreads];
  __shared__ float prev_value;
  __shared__ int64_t prev_index;
  const int64_t row = blockIdx.x;
  const T* in = x + row * n;
  for (int64_t j = 0; j < k; ++j) {
    float v = 0.0f;
    int64_t idx = -1;  // -1: no candidate yet
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float xi = static_cast<float>(in[i]);
      if (j > 0 && !math::TopKBefore(prev_value, prev_index, xi, i)) continue;
      if (idx < 0 || math::TopKBefore(xi, i, v, idx)) {
        v = xi;
        idx = i;
      }
    }
    best_value[threadIdx.x] = v;
    best_index[threadIdx.x] = idx;
    __syncthreads();
    for (int width = kThreads / 2; width > 0; width /= 2) {
      if (threadIdx.x < width) {
        const int other = threadIdx.x + width;
        const int64_t oi = best_index[other];
        if (oi >= 0 && (best_index[threadIdx.x] < 0 ||
                        math::TopKBefore(best_value[other], oi, best_value[threadIdx.x],
                                         best_index[threadIdx.x]))) {
          best_value[threadIdx.x] = best_value[other];
          best_index[threadIdx.x] = oi;
        }
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      const int64_t pick = best_index[0];
      values[row * k + j] = in[pick];
      indices[row * k + j] = pick;
      prev_value = best_value[0];
      prev_index = pick;
    }
    __syncthreads();
  }
}

}  // namespace

absl::Status TopK(const Tensor& x, int64_t k, const Tensor& values, const Tensor& indices,
                  Stream stream) {
  cuda_internal::DeviceGuard guard(x.device().index);
  if (!guard.status().ok()) return guard.status();
  const int64_t n = x.dim(-1);
  const int64_t rows = x.numel() / n;
  if (rows > 2147483647) {
    return absl::InvalidArgumentError("kernels::cuda::TopK: more than 2^31 - 1 rows");
  }
  cudaStream_t s = cuda_internal::ToCudaStream(stream);
  const unsigned int grid = static_cast<unsigned int>(rows);
  switch (x.dtype()) {
    case runtime::DType::kF32:
      TopKKernel<float><<<grid, kThreads, 0, s>>>(x.data<float>(), n, k, values.data<float>(),
                                                  indices.data<int64_t>());
      break;
    case runtime::DType::kF16:
      TopKKernel<runtime::Half><<<grid, kThreads, 0, s>>>(
          x.data<runtime::Half>(), n, k, values.data<runtime::Half>(), indices.data<int64_t>());
      break;
    case runtime::DType::kBF16:
      TopKKernel<runtime::BFloat16><<<grid, kThreads, 0, s>>>(x.data<runtime::BFloat16>(), n, k,
                                                              values.data<runtime::BFloat16>(),
                                                              indices.data<int64_t>());
      break;
    case runtime::DType::kI32:
    case runtime::DType::kI64:
    case runtime::DType::kU8:
      return absl::InternalError("kernels::cuda::TopK: integer dtype passed validation");
  }
  return cuda_internal::LaunchStatus("cuda::TopK");
}

}  // namespace braid::kernels::cuda
