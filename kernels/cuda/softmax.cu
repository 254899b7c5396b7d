// CUDA softmax over the last dimension: one block per row, block reductions
// for the max and the sum, f32 math from kernels/math/softmax.h.
#include "kernels/cuda/nn_common.cuh"
#include "kernels/internal/nn_backends.h"
#include "kernels/math/softmax.h"

namespace braid::kernels::cuda {
namespace {

using cuda_internal::BlockMax;
using cuda_internal::BlockSum;
using cuda_internal::Load;
using cuda_internal::Store;

template <typename T>
__global__ void SoftmaxForwardKernel(const T* x, T* y, int64_t rows, int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* in = x + r * cols;
    T* out = y + r * cols;
    float m = -INFINITY;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, Load(in, c));
    m = BlockMax(m);
    float s = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += math::SoftmaxExp(Load(in, c), m);
    const float inv = 1.0f / BlockSum(s);
    // y may be x: every thread has read its elements of the row before the
    // BlockSum barrier, and each writes only its own elements.
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      Store(out, c, math::SoftmaxExp(Load(in, c), m) * inv);
    }
  }
}

template <typename T>
__global__ void SoftmaxBackwardKernel(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* py = y + r * cols;
    const T* pg = dy + r * cols;
    T* out = dx + r * cols;
    float dot = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) dot += Load(py, c) * Load(pg, c);
    dot = BlockSum(dot);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      Store(out, c, math::SoftmaxGrad(Load(py, c), Load(pg, c), dot));
    }
  }
}

}  // namespace

absl::Status SoftmaxForward(const Tensor& x, const Tensor& y, Stream stream) {
  const int64_t cols = x.dim(-1), rows = x.numel() / cols;
  return cuda_internal::RunOnDevice(x, "SoftmaxForward", [&] {
    internal::VisitFloatDType(x.dtype(), [&]<typename T>() {
      SoftmaxForwardKernel<T>
          <<<cuda_internal::RowGrid(rows), cuda_internal::kRowThreads, 0,
             cuda_internal::ToCudaStream(stream)>>>(x.data<T>(), y.data<T>(), rows, cols);
    });
  });
}

absl::Status SoftmaxBackward(const Tensor& y, const Tensor& dy, const Tensor& dx, Stream stream) {
  const int64_t cols = y.dim(-1), rows = y.numel() / cols;
  return cuda_internal::RunOnDevice(y, "SoftmaxBackward", [&] {
    internal::VisitFloatDType(y.dtype(), [&]<typename T>() {
      SoftmaxBackwardKernel<T><<<cuda_internal::RowGrid(rows), cuda_internal::kRowThreads, 0,
                                 cuda_internal::ToCudaStream(stream)>>>(y.data<T>(), dy.data<T>(),
                                                                        dx.data<T>(), rows, cols);
    });
  });
}

}  // namespace braid::kernels::cuda
