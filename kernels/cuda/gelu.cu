// CUDA GELU: grid-stride element loops, f32 math from kernels/math/gelu.h.
#include "kernels/cuda/nn_common.cuh"
#include "kernels/internal/nn_backends.h"
#include "kernels/math/gelu.h"

namespace braid::kernels::cuda {
namespace {

using cuda_internal::Load;
using cuda_internal::Store;

template <typename T>
__global__ void GeluForwardKernel(const T* x, T* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    Store(y, i, math::Gelu(Load(x, i)));
  }
}

template <typename T>
__global__ void GeluBackwardKernel(const T* x, const T* dy, T* dx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    Store(dx, i, Load(dy, i) * math::GeluGrad(Load(x, i)));
  }
}

constexpr int kThreads = 256;

}  // namespace

absl::Status GeluForward(const Tensor& x, const Tensor& y, Stream stream) {
  return cuda_internal::RunOnDevice(x, "GeluForward", [&] {
    internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
      GeluForwardKernel<T>
          <<<cuda_internal::GridFor(x.numel(), kThreads), kThreads, 0,
             cuda_internal::ToCudaStream(stream)>>>(x.data<T>(), y.data<T>(), x.numel());
    });
  });
}

absl::Status GeluBackward(const Tensor& x, const Tensor& dy, const Tensor& dx, Stream stream) {
  return cuda_internal::RunOnDevice(x, "GeluBackward", [&] {
    internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
      GeluBackwardKernel<T><<<cuda_internal::GridFor(x.numel(), kThreads), kThreads, 0,
                              cuda_internal::ToCudaStream(stream)>>>(x.data<T>(), dy.data<T>(),
                                                                     dx.data<T>(), x.numel());
    });
  });
}

}  // namespace braid::kernels::cuda
