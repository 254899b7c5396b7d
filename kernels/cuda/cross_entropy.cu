// CUDA cross-entropy. Forward: one block per row (log-sum-exp by block
// reductions), then one block sums the losses into the mean. Backward: when
// no normalizer is given, one block counts the rows not ignored into a
// stream-ordered scratch float (cudaMallocAsync), then one block per row
// writes the gradient. A target outside [0, V) that is not the ignore index
// makes that row's loss and gradient NaN (targets are never read by the host).
#include <cmath>

#include "kernels/cuda/nn_common.cuh"
#include "kernels/internal/nn_backends.h"
#include "kernels/math/cross_entropy.h"

namespace braid::kernels::cuda {
namespace {

using cuda_internal::BlockMax;
using cuda_internal::BlockSum;
using cuda_internal::Load;
using cuda_internal::Store;

template <typename T, typename I>
__global__ void CrossEntropyRowsKernel(const T* logits, const I* targets, int64_t ignore_index,
                                       float* losses, float* lse, int64_t rows, int64_t vocab) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* in = logits + r * vocab;
    float m = -INFINITY;
    for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) m = fmaxf(m, Load(in, v));
    m = BlockMax(m);
    float s = 0.0f;
    for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) s += expf(Load(in, v) - m);
    s = BlockSum(s);
    if (threadIdx.x == 0) {
      const float l = math::LogSumExp(m, s);
      const int64_t t = static_cast<int64_t>(targets[r]);
      float loss = 0.0f;
      if (t != ignore_index)
        loss = (t >= 0 && t < vocab) ? math::CrossEntropyLoss(l, Load(in, t)) : NAN;
      lse[r] = l;
      losses[r] = loss;
    }
  }
}

// One block: out[0] = sum(losses) / norm, norm = normalizer or the count of
// rows not ignored (0 when that count is 0).
template <typename I>
__global__ void CrossEntropyMeanKernel(const float* losses, const I* targets, int64_t ignore_index,
                                       int64_t normalizer, int64_t rows, float* out) {
  float sum = 0.0f, count = 0.0f;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
    sum += losses[r];
    count += static_cast<int64_t>(targets[r]) != ignore_index ? 1.0f : 0.0f;
  }
  sum = BlockSum(sum);
  count = BlockSum(count);
  if (threadIdx.x == 0) {
    const float norm = normalizer > 0 ? static_cast<float>(normalizer) : count;
    out[0] = norm > 0.0f ? sum / norm : 0.0f;
  }
}

// One block: *scale = dmean / count of rows not ignored (0 when none).
template <typename I>
__global__ void CrossEntropyScaleKernel(const I* targets, int64_t ignore_index, int64_t rows,
                                        float dmean, float* scale) {
  float count = 0.0f;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
    count += static_cast<int64_t>(targets[r]) != ignore_index ? 1.0f : 0.0f;
  }
  count = BlockSum(count);
  if (threadIdx.x == 0) *scale = count > 0.0f ? dmean / count : 0.0f;
}

// dlogits for each row; the scale is *scale_ptr when given, else `scale`.
template <typename T, typename I>
__global__ void CrossEntropyBackwardKernel(const T* logits, const I* targets, const float* lse,
                                           int64_t ignore_index, const float* scale_ptr,
                                           float scale, T* dlogits, int64_t rows, int64_t vocab) {
  const float s = scale_ptr != nullptr ? *scale_ptr : scale;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t t = static_cast<int64_t>(targets[r]);
    const bool ignored = t == ignore_index;
    const bool bad = !ignored && (t < 0 || t >= vocab);
    const float l = lse[r];
    for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) {
      float g = 0.0f;
      if (bad) {
        g = NAN;
      } else if (!ignored) {
        g = math::CrossEntropyGrad(Load(logits, r * vocab + v), l, v == t, s);
      }
      Store(dlogits, r * vocab + v, g);
    }
  }
}

}  // namespace

absl::Status CrossEntropyForward(const Tensor& logits, const Tensor& targets,
                                 const CrossEntropyOptions& options, const Tensor& losses,
                                 const Tensor& lse, const Tensor& mean, Stream stream) {
  const int64_t rows = logits.dim(0), vocab = logits.dim(1);
  const cudaStream_t s = cuda_internal::ToCudaStream(stream);
  return cuda_internal::RunOnDevice(logits, "CrossEntropyForward", [&] {
    internal::VisitIndexDType(targets.dtype(), [&]<typename I>() {
      if (rows > 0) {
        internal::VisitFloatDType(logits.dtype(), [&]<typename T>() {
          CrossEntropyRowsKernel<T, I>
              <<<cuda_internal::RowGrid(rows), cuda_internal::kRowThreads, 0, s>>>(
                  logits.data<T>(), targets.data<I>(), options.ignore_index, losses.data<float>(),
                  lse.data<float>(), rows, vocab);
        });
      }
      CrossEntropyMeanKernel<I><<<1, cuda_internal::kRowThreads, 0, s>>>(
          losses.data<float>(), targets.data<I>(), options.ignore_index, options.normalizer, rows,
          mean.data<float>());
    });
  });
}

absl::Status CrossEntropyBackward(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                                  const CrossEntropyOptions& options, float dmean,
                                  const Tensor& dlogits, Stream stream) {
  const int64_t rows = logits.dim(0), vocab = logits.dim(1);
  const cudaStream_t s = cuda_internal::ToCudaStream(stream);
  cuda_internal::DeviceGuard guard(logits.device().index);
  if (!guard.status().ok()) return guard.status();
  float* scale_ptr = nullptr;
  const float scale =
      options.normalizer > 0 ? dmean / static_cast<float>(options.normalizer) : 0.0f;
  if (options.normalizer == 0) {
    void* scratch = nullptr;
    if (absl::Status st = cuda_internal::FromCuda(cudaMallocAsync(&scratch, sizeof(float), s),
                                                  "CrossEntropyBackward: cudaMallocAsync");
        !st.ok()) {
      return st;
    }
    scale_ptr = static_cast<float*>(scratch);
  }
  internal::VisitIndexDType(targets.dtype(), [&]<typename I>() {
    if (scale_ptr != nullptr) {
      CrossEntropyScaleKernel<I><<<1, cuda_internal::kRowThreads, 0, s>>>(
          targets.data<I>(), options.ignore_index, rows, dmean, scale_ptr);
    }
    internal::VisitFloatDType(logits.dtype(), [&]<typename T>() {
      CrossEntropyBackwardKernel<T, I>
          <<<cuda_internal::RowGrid(rows), cuda_internal::kRowThreads, 0, s>>>(
              logits.data<T>(), targets.data<I>(), lse.data<float>(), options.ignore_index,
              scale_ptr, scale, dlogits.data<T>(), rows, vocab);
    });
  });
  absl::Status launched = cuda_internal::LaunchStatus("CrossEntropyBackward");
  if (scale_ptr != nullptr) {
    // Stream-ordered: freed after the kernels above have run.
    absl::Status freed =
        cuda_internal::FromCuda(cudaFreeAsync(scale_ptr, s), "CrossEntropyBackward: cudaFreeAsync");
    if (launched.ok()) return freed;
  }
  return launched;
}

}  // namespace braid::kernels::cuda
