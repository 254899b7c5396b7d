// CUDA GEMM over cuBLAS (cublasGemmEx / cublasGemmStridedBatchedEx) and the
// GemmContext that owns the cuBLAS handles. Host code only: compiled by the
// C++ compiler and linked against cuBLAS.
#include "kernels/gemm.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/internal/core_backends.h"

namespace braid::kernels {
namespace {

absl::Status FromCublas(cublasStatus_t s, absl::string_view what) {
  if (s == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const std::string message = absl::StrCat("kernels::", what, ": ", cublasGetStatusString(s),
                                           " (cublas status ", static_cast<int>(s), ")");
  if (s == CUBLAS_STATUS_NOT_INITIALIZED) {
    return absl::FailedPreconditionError(
        absl::StrCat(message, "; no usable GPU: use CPU tensors on this machine"));
  }
  return absl::InternalError(message);
}

absl::Status FromCuda(cudaError_t err, absl::string_view what) {
  if (err == cudaSuccess) return absl::OkStatus();
  const std::string message = absl::StrCat("kernels::", what, ": ", cudaGetErrorString(err));
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver ||
      err == cudaErrorInvalidDevice) {
    return absl::FailedPreconditionError(
        absl::StrCat(message, "; no usable GPU: use CPU tensors on this machine"));
  }
  return absl::InternalError(message);
}

// Runs fn with `ordinal` as the current device, restoring the previous one.
absl::Status OnDevice(int ordinal, absl::FunctionRef<absl::Status()> fn) {
  int previous = 0;
  if (absl::Status s = FromCuda(cudaGetDevice(&previous), "cudaGetDevice"); !s.ok()) return s;
  if (previous != ordinal) {
    if (absl::Status s = FromCuda(cudaSetDevice(ordinal), "cudaSetDevice"); !s.ok()) return s;
  }
  absl::Status status = fn();
  if (previous != ordinal) cudaSetDevice(previous);
  return status;
}

absl::StatusOr<cublasHandle_t> CreateHandle(int ordinal) {
  cublasHandle_t handle = nullptr;
  absl::Status status = OnDevice(ordinal, [&] {
    return FromCublas(cublasCreate(&handle), absl::StrCat("cublasCreate on cuda:", ordinal));
  });
  if (!status.ok()) return status;
  return handle;
}

cudaDataType_t CudaType(runtime::DType dtype) {
  switch (dtype) {
    case runtime::DType::kF16:
      return CUDA_R_16F;
    case runtime::DType::kBF16:
      return CUDA_R_16BF;
    case runtime::DType::kF32:
    case runtime::DType::kI32:
    case runtime::DType::kI64:
    case runtime::DType::kU8:
      break;
  }
  return CUDA_R_32F;
}

cublasOperation_t Op(bool transpose) { return transpose ? CUBLAS_OP_T : CUBLAS_OP_N; }

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the
// operands and M/N, keep each operand's transpose flag.
absl::Status Enqueue(cublasHandle_t handle, const internal::GemmProblem& p, Stream stream) {
  if (absl::Status s =
          FromCublas(cublasSetStream(handle, static_cast<cudaStream_t>(stream.cuda_stream)),
                     "cublasSetStream");
      !s.ok()) {
    return s;
  }
  const cudaDataType_t type = CudaType(p.dtype);
  const int m = static_cast<int>(p.m), n = static_cast<int>(p.n), k = static_cast<int>(p.k);
  if (p.batch == 1) {
    return FromCublas(
        cublasGemmEx(handle, Op(p.b.transpose), Op(p.a.transpose), n, m, k, &p.alpha, p.b.data,
                     type, static_cast<int>(p.b.ld), p.a.data, type, static_cast<int>(p.a.ld),
                     &p.beta, p.c.data, type, static_cast<int>(p.c.ld), CUBLAS_COMPUTE_32F,
                     CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx");
  }
  return FromCublas(
      cublasGemmStridedBatchedEx(
          handle, Op(p.b.transpose), Op(p.a.transpose), n, m, k, &p.alpha, p.b.data, type,
          static_cast<int>(p.b.ld), p.b.batch_stride, p.a.data, type, static_cast<int>(p.a.ld),
          p.a.batch_stride, &p.beta, p.c.data, type, static_cast<int>(p.c.ld), p.c.batch_stride,
          static_cast<int>(p.batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      "cublasGemmStridedBatchedEx");
}

}  // namespace

GemmContext::~GemmContext() {
  absl::MutexLock lock(&mu_);
  for (const auto& [ordinal, handle] : cublas_handles_) {
    (void)OnDevice(ordinal, [&] {
      cublasDestroy(static_cast<cublasHandle_t>(handle));
      return absl::OkStatus();
    });
  }
}

absl::Status GemmContext::WithCudaHandle(int ordinal, absl::FunctionRef<absl::Status(void*)> fn) {
  absl::MutexLock lock(&mu_);
  auto it = cublas_handles_.find(ordinal);
  if (it == cublas_handles_.end()) {
    absl::StatusOr<cublasHandle_t> handle = CreateHandle(ordinal);
    if (!handle.ok()) return handle.status();
    it = cublas_handles_.emplace(ordinal, *handle).first;
  }
  return fn(it->second);
}

namespace cuda {

absl::Status Gemm(const internal::GemmProblem& problem, Stream stream, GemmContext* context) {
  if (context != nullptr) {
    return context->WithCudaHandle(problem.device_ordinal, [&](void* handle) {
      return OnDevice(problem.device_ordinal, [&] {
        return Enqueue(static_cast<cublasHandle_t>(handle), problem, stream);
      });
    });
  }
  // No context: a handle for this call only. cublasDestroy synchronises the
  // device, which is correct (the work has finished) but slow.
  absl::StatusOr<cublasHandle_t> handle = CreateHandle(problem.device_ordinal);
  if (!handle.ok()) return handle.status();
  return OnDevice(problem.device_ordinal, [&] {
    absl::Status status = Enqueue(*handle, problem, stream);
    cublasDestroy(*handle);
    return status;
  });
}

}  // namespace cuda
}  // namespace braid::kernels
