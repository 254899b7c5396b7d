// CUDA cast and accumulate: grid-stride kernels over kernels/math/cast.h
// (bit-identical to the CPU loops); same-dtype Cast is a cudaMemcpyAsync.
#include <cuda_runtime.h>

#include "kernels/cuda/launch.h"
#include "kernels/internal/cast_backends.h"
#include "kernels/math/cast.h"
#include "runtime/half.h"

namespace braid::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 4096;

template <typename To, typename From>
__global__ void CastKernel(const From* __restrict__ src, To* __restrict__ dst, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    dst[i] = math::CastValue<To, From>(src[i]);
  }
}

template <typename From>
__global__ void AccumulateKernel(const From* src, float* dst, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    dst[i] = math::AccumulateValue<From>(dst[i], src[i]);
  }
}

template <typename Fn>
absl::Status VisitFloat(runtime::DType dtype, Fn&& fn) {
  switch (dtype) {
    case runtime::DType::kF32:
      fn.template operator()<float>();
      return absl::OkStatus();
    case runtime::DType::kF16:
      fn.template operator()<runtime::Half>();
      return absl::OkStatus();
    case runtime::DType::kBF16:
      fn.template operator()<runtime::BFloat16>();
      return absl::OkStatus();
    case runtime::DType::kI32:
    case runtime::DType::kI64:
    case runtime::DType::kU8:
      break;
  }
  return absl::InternalError("kernels::cuda cast: integer dtype passed validation");
}

}  // namespace

absl::Status Cast(const runtime::Tensor& src, const runtime::Tensor& dst, Stream stream) {
  cuda_internal::DeviceGuard guard(dst.device().index);
  if (!guard.status().ok()) return guard.status();
  cudaStream_t s = cuda_internal::ToCudaStream(stream);
  const int64_t n = dst.numel();
  if (src.dtype() == dst.dtype()) {
    return cuda_internal::FromCuda(
        cudaMemcpyAsync(dst.raw_data(), src.raw_data(), dst.nbytes(), cudaMemcpyDeviceToDevice, s),
        "cuda::Cast (copy)");
  }
  const unsigned int grid = cuda_internal::GridFor(n, kThreads, kMaxBlocks);
  absl::Status status = VisitFloat(src.dtype(), [&]<typename From>() {
    absl::Status inner = VisitFloat(dst.dtype(), [&]<typename To>() {
      CastKernel<To, From><<<grid, kThreads, 0, s>>>(src.data<From>(), dst.data<To>(), n);
    });
    (void)inner;  // dst's dtype was validated as floating point
  });
  if (!status.ok()) return status;
  return cuda_internal::LaunchStatus("cuda::Cast");
}

absl::Status AccumulateInto(const runtime::Tensor& src, const runtime::Tensor& dst, Stream stream) {
  cuda_internal::DeviceGuard guard(dst.device().index);
  if (!guard.status().ok()) return guard.status();
  cudaStream_t s = cuda_internal::ToCudaStream(stream);
  const int64_t n = dst.numel();
  const unsigned int grid = cuda_internal::GridFor(n, kThreads, kMaxBlocks);
  absl::Status status = VisitFloat(src.dtype(), [&]<typename From>() {
    AccumulateKernel<From><<<grid, kThreads, 0, s>>>(src.data<From>(), dst.data<float>(), n);
  });
  if (!status.ok()) return status;
  return cuda_internal::LaunchStatus("cuda::AccumulateInto");
}

}  // namespace braid::kernels::cuda
