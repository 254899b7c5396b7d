// CUDA versions of kernels/reduce.h: grid-stride elementwise kernels using the
// per-element math of kernels/math/reduce.h (identical to the CPU loops).
#include <cuda_runtime.h>

#include "kernels/cuda/launch.h"
#include "kernels/math/reduce.h"
#include "kernels/reduce.h"
#include "runtime/half.h"

namespace braid::kernels::cuda {
namespace {

constexpr int kThreads = 256;
// With the max grid, each thread walks a grid-stride loop.
constexpr int64_t kMaxBlocks = 4096;

template <typename T, typename Op>
__global__ void ReduceKernel(T* dst, const T* a, const T* b, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    dst[i] = math::Narrow<T>(Op::Apply(math::Widen<T>(a[i]), math::Widen<T>(b[i])));
  }
}

template <typename T>
__global__ void DivideKernel(T* dst, int64_t n, int64_t divisor) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    using C = typename math::ComputeType<T>::type;
    dst[i] = math::Narrow<T>(math::Divide<C>(math::Widen<T>(dst[i]), divisor));
  }
}

template <typename Op>
void LaunchReduce(void* dst, const void* a, const void* b, int64_t n, runtime::DType dtype,
                  cudaStream_t stream) {
  const unsigned int grid = cuda_internal::GridFor(n, kThreads, kMaxBlocks);
  runtime::VisitDType(dtype, [&]<typename T>() {
    ReduceKernel<T, Op><<<grid, kThreads, 0, stream>>>(
        static_cast<T*>(dst), static_cast<const T*>(a), static_cast<const T*>(b), n);
  });
}

absl::Status Check(absl::string_view op, int64_t count, std::initializer_list<const void*> ptrs) {
  if (count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernels::cuda::", op, ": count ", count, " is negative"));
  }
  if (count == 0) return absl::OkStatus();
  for (const void* p : ptrs) {
    if (p == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("kernels::cuda::", op, ": null device buffer for ", count, " elements"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ReduceTo(void* dst, const void* a, const void* b, int64_t count, runtime::DType dtype,
                      ReduceKind kind, const Stream& stream) {
  absl::Status status = Check("ReduceTo", count, {dst, a, b});
  if (!status.ok() || count == 0) return status;
  cudaStream_t s = cuda_internal::ToCudaStream(stream);
  switch (kind) {
    case ReduceKind::kSum:
      LaunchReduce<math::SumOp>(dst, a, b, count, dtype, s);
      break;
    case ReduceKind::kProd:
      LaunchReduce<math::ProdOp>(dst, a, b, count, dtype, s);
      break;
    case ReduceKind::kMin:
      LaunchReduce<math::MinOp>(dst, a, b, count, dtype, s);
      break;
    case ReduceKind::kMax:
      LaunchReduce<math::MaxOp>(dst, a, b, count, dtype, s);
      break;
  }
  return cuda_internal::LaunchStatus(absl::StrCat("cuda::ReduceTo(", ToString(kind), ")"));
}

absl::Status ReduceInto(void* dst, const void* src, int64_t count, runtime::DType dtype,
                        ReduceKind kind, const Stream& stream) {
  return ReduceTo(dst, dst, src, count, dtype, kind, stream);
}

absl::Status DivideInPlace(void* dst, int64_t count, runtime::DType dtype, int64_t divisor,
                           const Stream& stream) {
  if (divisor <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernels::cuda::DivideInPlace: divisor ", divisor, " must be positive"));
  }
  absl::Status status = Check("DivideInPlace", count, {dst});
  if (!status.ok() || count == 0) return status;
  const unsigned int grid = cuda_internal::GridFor(count, kThreads, kMaxBlocks);
  cudaStream_t s = cuda_internal::ToCudaStream(stream);
  runtime::VisitDType(dtype, [&]<typename T>() {
    DivideKernel<T><<<grid, kThreads, 0, s>>>(static_cast<T*>(dst), count, divisor);
  });
  return cuda_internal::LaunchStatus("cuda::DivideInPlace");
}

}  // namespace braid::kernels::cuda
