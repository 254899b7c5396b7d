// CUDA elementwise ops: Add and Mul reuse the reduction kernels (sum, prod);
// Scale and Axpy are grid-stride kernels over kernels/math/elementwise.h.
#include <cuda_runtime.h>

#include "kernels/cuda/launch.h"
#include "kernels/internal/core_backends.h"
#include "kernels/math/elementwise.h"
#include "kernels/math/reduce.h"
#include "kernels/reduce.h"

namespace braid::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 4096;

template <typename T>
__global__ void ScaleKernel(const T* x, math::ScaleOp op, T* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = T(op.Apply(static_cast<float>(x[i])));
  }
}

template <typename T>
__global__ void AxpyKernel(math::AxpyOp op, const T* x, T* y, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    y[i] = T(op.Apply(static_cast<float>(x[i]), static_cast<float>(y[i])));
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
  return absl::InternalError("kernels::cuda: integer dtype passed validation");
}

absl::Status Binary(const Tensor& a, const Tensor& b, const Tensor& out, ReduceKind kind,
                    Stream stream) {
  cuda_internal::DeviceGuard guard(out.device().index);
  if (!guard.status().ok()) return guard.status();
  return ReduceTo(out.raw_data(), a.raw_data(), b.raw_data(), out.numel(), out.dtype(), kind,
                  stream);
}

}  // namespace

absl::Status Add(const Tensor& a, const Tensor& b, const Tensor& out, Stream stream) {
  return Binary(a, b, out, ReduceKind::kSum, stream);
}

absl::Status Mul(const Tensor& a, const Tensor& b, const Tensor& out, Stream stream) {
  return Binary(a, b, out, ReduceKind::kProd, stream);
}

absl::Status Scale(const Tensor& x, float alpha, const Tensor& out, Stream stream) {
  cuda_internal::DeviceGuard guard(out.device().index);
  if (!guard.status().ok()) return guard.status();
  const int64_t n = out.numel();
  const unsigned int grid = cuda_internal::GridFor(n, kThreads, kMaxBlocks);
  cudaStream_t s = cuda_internal::ToCudaStream(stream);
  absl::Status status = VisitFloat(out.dtype(), [&]<typename T>() {
    ScaleKernel<T><<<grid, kThreads, 0, s>>>(x.data<T>(), math::ScaleOp{alpha}, out.data<T>(), n);
  });
  if (!status.ok()) return status;
  return cuda_internal::LaunchStatus("cuda::Scale");
}

absl::Status Axpy(float alpha, const Tensor& x, const Tensor& y, Stream stream) {
  cuda_internal::DeviceGuard guard(y.device().index);
  if (!guard.status().ok()) return guard.status();
  const int64_t n = y.numel();
  const unsigned int grid = cuda_internal::GridFor(n, kThreads, kMaxBlocks);
  cudaStream_t s = cuda_internal::ToCudaStream(stream);
  absl::Status status = VisitFloat(y.dtype(), [&]<typename T>() {
    AxpyKernel<T><<<grid, kThreads, 0, s>>>(math::AxpyOp{alpha}, x.data<T>(), y.data<T>(), n);
  });
  if (!status.ok()) return status;
  return cuda_internal::LaunchStatus("cuda::Axpy");
}

}  // namespace braid::kernels::cuda
