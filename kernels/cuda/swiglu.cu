// CUDA SwiGLU: grid-stride element loops, f32 math from kernels/math/swiglu.h.
#include "kernels/cuda/nn_common.cuh"
#include "kernels/internal/nn_backends.h"
#include "kernels/math/swiglu.h"

namespace braid::kernels::cuda {
namespace {

using cuda_internal::Load;
using cuda_internal::Store;

template <typename T>
__global__ void SwiGluForwardKernel(const T* a, const T* b, T* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    Store(out, i, math::SwiGlu(Load(a, i), Load(b, i)));
  }
}

template <typename T>
__global__ void SwiGluBackwardKernel(const T* a, const T* b, const T* dout, T* da, T* db,
                                     int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    // Read everything first: da or db may alias dout.
    const float av = Load(a, i), bv = Load(b, i), g = Load(dout, i);
    Store(da, i, math::SwiGluGradA(av, bv, g));
    Store(db, i, math::SwiGluGradB(av, g));
  }
}

constexpr int kThreads = 256;

}  // namespace

absl::Status SwiGluForward(const Tensor& a, const Tensor& b, const Tensor& out, Stream stream) {
  return cuda_internal::RunOnDevice(a, "SwiGluForward", [&] {
    internal::VisitFloatDType(a.dtype(), [&]<typename T>() {
      SwiGluForwardKernel<T><<<cuda_internal::GridFor(a.numel(), kThreads), kThreads, 0,
                               cuda_internal::ToCudaStream(stream)>>>(a.data<T>(), b.data<T>(),
                                                                      out.data<T>(), a.numel());
    });
  });
}

absl::Status SwiGluBackward(const Tensor& a, const Tensor& b, const Tensor& dout, const Tensor& da,
                            const Tensor& db, Stream stream) {
  return cuda_internal::RunOnDevice(a, "SwiGluBackward", [&] {
    internal::VisitFloatDType(a.dtype(), [&]<typename T>() {
      SwiGluBackwardKernel<T><<<cuda_internal::GridFor(a.numel(), kThreads), kThreads, 0,
                                cuda_internal::ToCudaStream(stream)>>>(
          a.data<T>(), b.data<T>(), dout.data<T>(), da.data<T>(), db.data<T>(), a.numel());
    });
  });
}

}  // namespace braid::kernels::cuda
