// Device helpers shared by the NN op families' CUDA kernels (.cu files only):
// f32 loads and stores of f32/f16/bf16 elements, block-wide reductions, an
// atomic add for every float dtype, and the launch shape of row-wise kernels.
#ifndef BRAID_KERNELS_CUDA_NN_COMMON_CUH_
#define BRAID_KERNELS_CUDA_NN_COMMON_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kernels/cuda/launch.h"
#include "runtime/half.h"
#include "runtime/tensor.h"

namespace braid::kernels::cuda_internal {

// Threads per block of the row-wise kernels (a multiple of 32, at most 1024).
inline constexpr int kRowThreads = 256;
// Grid of the row-wise kernels: one block per row, capped (kernels loop).
inline unsigned int RowGrid(int64_t rows) {
  return static_cast<unsigned int>(rows < 65535 ? (rows > 0 ? rows : 1) : 65535);
}

template <typename T>
__device__ __forceinline__ float Load(const T* p, int64_t i) {
  return static_cast<float>(p[i]);
}
template <typename T>
__device__ __forceinline__ void Store(T* p, int64_t i, float v) {
  p[i] = T(v);
}

__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}
__device__ __forceinline__ float WarpMax(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum of `v` over the block, returned to every thread. Every thread of the
// block must call it (it synchronises); writes to shared memory made before
// the call are visible to the whole block after it.
__device__ __forceinline__ float BlockSum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = (blockDim.x + 31) >> 5;
  v = WarpSum(v);
  __syncthreads();  // a previous call may still be reading partial
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : 0.0f;
  return WarpSum(v);
}

// Max of `v` over the block, returned to every thread (same rules as BlockSum).
__device__ __forceinline__ float BlockMax(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = (blockDim.x + 31) >> 5;
  v = WarpMax(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : -INFINITY;
  return WarpMax(v);
}

// *p += v, atomically.
__device__ __forceinline__ void AtomicAdd(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void AtomicAdd(runtime::Half* p, float v) {
  atomicAdd(reinterpret_cast<__half*>(p), __float2half(v));
}
__device__ __forceinline__ void AtomicAdd(runtime::BFloat16* p, float v) {
  atomicAdd(reinterpret_cast<__nv_bfloat16*>(p), __float2bfloat16(v));
}

// Makes `on`'s device current, calls launch() (which enqueues kernels) and
// returns the launch status, named after `op`.
template <typename Launch>
absl::Status RunOnDevice(const runtime::Tensor& on, absl::string_view op, Launch&& launch) {
  DeviceGuard guard(on.device().index);
  if (!guard.status().ok()) return guard.status();
  launch();
  return LaunchStatus(op);
}

}  // namespace braid::kernels::cuda_internal

#endif  // BRAID_KERNELS_CUDA_NN_COMMON_CUH_
