// CUDA embedding: one block per token (threads over the row's columns). The
// backward adds with atomics, so repeated ids sum in an unspecified order.
// Ids outside [0, V) give a zero row (forward) or are skipped (backward).
#include "kernels/cuda/nn_common.cuh"
#include "kernels/internal/nn_backends.h"
#include "kernels/math/embedding.h"

namespace braid::kernels::cuda {
namespace {

using cuda_internal::Load;
using cuda_internal::Store;

template <typename T, typename I>
__global__ void EmbeddingForwardKernel(const T* weight, const I* ids, T* out, int64_t n,
                                       int64_t vocab, int64_t cols) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int64_t id = static_cast<int64_t>(ids[i]);
    const bool valid = math::EmbeddingIdValid(id, vocab);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      out[i * cols + c] = valid ? weight[id * cols + c] : T(0.0f);
    }
  }
}

template <typename T, typename I>
__global__ void EmbeddingBackwardKernel(const I* ids, const T* dout, T* dweight, int64_t n,
                                        int64_t vocab, int64_t cols) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int64_t id = static_cast<int64_t>(ids[i]);
    if (!math::EmbeddingIdValid(id, vocab)) continue;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      cuda_internal::AtomicAdd(dweight + id * cols + c, Load(dout, i * cols + c));
    }
  }
}

}  // namespace

absl::Status EmbeddingForward(const Tensor& weight, const Tensor& ids, const Tensor& out,
                              Stream stream) {
  const int64_t n = ids.numel(), vocab = weight.dim(0), cols = weight.dim(1);
  return cuda_internal::RunOnDevice(weight, "EmbeddingForward", [&] {
    internal::VisitFloatDType(weight.dtype(), [&]<typename T>() {
      internal::VisitIndexDType(ids.dtype(), [&]<typename I>() {
        EmbeddingForwardKernel<T, I><<<cuda_internal::RowGrid(n), cuda_internal::kRowThreads, 0,
                                       cuda_internal::ToCudaStream(stream)>>>(
            weight.data<T>(), ids.data<I>(), out.data<T>(), n, vocab, cols);
      });
    });
  });
}

absl::Status EmbeddingBackward(const Tensor& ids, const Tensor& dout, const Tensor& dweight,
                               Stream stream) {
  const int64_t n = ids.numel(), vocab = dweight.dim(0), cols = dweight.dim(1);
  return cuda_internal::RunOnDevice(dweight, "EmbeddingBackward", [&] {
    internal::VisitFloatDType(dweight.dtype(), [&]<typename T>() {
      internal::VisitIndexDType(ids.dtype(), [&]<typename I>() {
        EmbeddingBackwardKernel<T, I><<<cuda_internal::RowGrid(n), cuda_internal::kRowThreads, 0,
                                        cuda_internal::ToCudaStream(stream)>>>(
            ids.data<I>(), dout.data<T>(), dweight.data<T>(), n, vocab, cols);
      });
    });
  });
}

}  // namespace braid::kernels::cuda
