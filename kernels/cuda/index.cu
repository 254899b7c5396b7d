// CUDA row gather and scatter-add. Out-of-range index values act as -1 (the
// host never reads them back). Scatter-add uses atomics: f32 atomicAdd, and
// for f16/bf16 a compare-and-swap on the aligned 32-bit word holding the
// element, rounding once per contribution as the CPU does.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/launch.h"
#include "kernels/internal/core_backends.h"
#include "runtime/half.h"

namespace braid::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;

template <typename I>
__device__ int64_t Load(const I* indices, int64_t i, int64_t limit) {
  const int64_t v = static_cast<int64_t>(indices[i]);
  return (v < 0 || v >= limit) ? -1 : v;
}

template <typename T, typename I>
__global__ void GatherKernel(const T* in, int64_t in_rows, const I* indices, int64_t rows,
                             int64_t row_size, T* out) {
  const int64_t total = rows * row_size;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    const int64_t i = e / row_size;
    const int64_t j = e - i * row_size;
    const int64_t v = Load(indices, i, in_rows);
    out[e] = v < 0 ? T(0.0f) : in[v * row_size + j];
  }
}

__device__ void AtomicAdd(float* p, float v) { atomicAdd(p, v); }

template <typename T>
__device__ void AtomicAdd16(T* p, float v) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(p);
  unsigned int* word = reinterpret_cast<unsigned int*>(address & ~uintptr_t{3});
  const unsigned int shift = (address & 2u) ? 16u : 0u;
  unsigned int old = *word;
  unsigned int assumed;
  do {
    assumed = old;
    const uint16_t bits = static_cast<uint16_t>(assumed >> shift);
    const float sum = T::ToFloat(bits) + v;
    const unsigned int updated =
        (assumed & ~(0xffffu << shift)) | (static_cast<unsigned int>(T::FromFloat(sum)) << shift);
    old = atomicCAS(word, assumed, updated);
  } while (old != assumed);
}

__device__ void AtomicAdd(runtime::Half* p, float v) { AtomicAdd16(p, v); }
__device__ void AtomicAdd(runtime::BFloat16* p, float v) { AtomicAdd16(p, v); }

template <typename T, typename I>
__global__ void ScatterAddKernel(const T* in, const I* indices, int64_t rows, int64_t row_size,
                                 T* out, int64_t out_rows) {
  const int64_t total = rows * row_size;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    const int64_t i = e / row_size;
    const int64_t j = e - i * row_size;
    const int64_t v = Load(indices, i, out_rows);
    if (v >= 0) AtomicAdd(out + v * row_size + j, static_cast<float>(in[e]));
  }
}

template <typename Fn>
absl::Status VisitFloatAndIndex(runtime::DType dtype, runtime::DType index_dtype, Fn&& fn) {
  auto with_index = [&]<typename T>() {
    if (index_dtype == runtime::DType::kI64) {
      fn.template operator()<T, int64_t>();
    } else {
      fn.template operator()<T, int32_t>();
    }
  };
  switch (dtype) {
    case runtime::DType::kF32:
      with_index.template operator()<float>();
      return absl::OkStatus();
    case runtime::DType::kF16:
      with_index.template operator()<runtime::Half>();
      return absl::OkStatus();
    case runtime::DType::kBF16:
      with_index.template operator()<runtime::BFloat16>();
      return absl::OkStatus();
    case runtime::DType::kI32:
    case runtime::DType::kI64:
    case runtime::DType::kU8:
      break;
  }
  return absl::InternalError("kernels::cuda: integer dtype passed validation");
}

int64_t RowSize(const Tensor& t) { return t.dim(0) == 0 ? 0 : t.numel() / t.dim(0); }

}  // namespace

absl::Status GatherRows(const Tensor& in, const Tensor& indices, const Tensor& out, Stream stream) {
  cuda_internal::DeviceGuard guard(out.device().index);
  if (!guard.status().ok()) return guard.status();
  const int64_t rows = indices.numel();
  const int64_t row_size = RowSize(out);
  const unsigned int grid = cuda_internal::GridFor(rows * row_size, kThreads, kMaxBlocks);
  cudaStream_t s = cuda_internal::ToCudaStream(stream);
  absl::Status status =
      VisitFloatAndIndex(out.dtype(), indices.dtype(), [&]<typename T, typename I>() {
        GatherKernel<T, I><<<grid, kThreads, 0, s>>>(in.data<T>(), in.dim(0), indices.data<I>(),
                                                     rows, row_size, out.data<T>());
      });
  if (!status.ok()) return status;
  return cuda_internal::LaunchStatus("cuda::GatherRows");
}

absl::Status ScatterAddRows(const Tensor& in, const Tensor& indices, const Tensor& out,
                            Stream stream) {
  cuda_internal::DeviceGuard guard(out.device().index);
  if (!guard.status().ok()) return guard.status();
  const int64_t rows = indices.numel();
  const int64_t row_size = RowSize(in);
  const unsigned int grid = cuda_internal::GridFor(rows * row_size, kThreads, kMaxBlocks);
  cudaStream_t s = cuda_internal::ToCudaStream(stream);
  absl::Status status =
      VisitFloatAndIndex(out.dtype(), indices.dtype(), [&]<typename T, typename I>() {
        ScatterAddKernel<T, I><<<grid, kThreads, 0, s>>>(in.data<T>(), indices.data<I>(), rows,
                                                         row_size, out.data<T>(), out.dim(0));
      });
  if (!status.ok()) return status;
  return cuda_internal::LaunchStatus("cuda::ScatterAddRows");
}

}  // namespace braid::kernels::cuda
