// GEMM: C = alpha * op(A) * op(B) + beta * C, single and strided-batched.
//
//   kernels::GemmContext gemm;  // owns cuBLAS handles; one per thread or guarded
//   BRAID_RETURN_IF_ERROR(kernels::Gemm(x, w, y, {.transpose_b = true}, {}, &gemm));
//   // y[M, N] = x[M, K] * w[N, K]^T
//
// Shapes (row-major): op(A) is [M, K], op(B) is [K, N], C is [M, N]; with
// transpose_a A is stored as [K, M], with transpose_b B is stored as [N, K].
// Batched: A [batch, ., .] or 2-D (the same A for every batch), likewise B;
// C is [batch, M, N].
//
// Layouts accepted: each matrix must have one unit stride. A row-major matrix
// (inner stride 1, outer stride >= columns) is used as is; a transposed view
// (outer stride 1, e.g. from Tensor::Transpose) is used without a copy by
// flipping the transpose flag. C must be row-major (inner stride 1). Batches
// may have any stride (0 for a broadcast operand).
//
// DTypes: f32, f16, bf16; A, B and C of one dtype. Accumulation is always f32
// and alpha/beta are f32. CPU: OpenBLAS cblas_sgemm; f16/bf16 are converted to
// f32 around it (Debian's OpenBLAS has no bf16 GEMM) and C is rounded once.
// CUDA: cublasGemmEx / cublasGemmStridedBatchedEx with CUBLAS_COMPUTE_32F.
// When beta == 0, C is not read (NaNs in C do not propagate), as in BLAS.
//
// Stream contract (kernels/stream.h): CPU runs synchronously (OpenBLAS may use
// its own threads: OPENBLAS_NUM_THREADS); CUDA enqueues on stream.cuda_stream
// on C's device. C must not alias A or B.
//
// Errors: kInvalidArgument for shape/dtype/device/layout mistakes (nothing is
// written); kFailedPrecondition for a CUDA tensor in a build without CUDA or on
// a machine without a GPU; kInternal when cuBLAS fails.
#ifndef BRAID_KERNELS_GEMM_H_
#define BRAID_KERNELS_GEMM_H_

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

namespace braid::kernels {

struct GemmOptions {
  // Use A^T (A stored as [K, M]). Default: false.
  bool transpose_a = false;
  // Use B^T (B stored as [N, K]). Default: false.
  bool transpose_b = false;
  // Scale of op(A) * op(B). Default: 1.
  float alpha = 1.0f;
  // Scale of the old C; 0 (the default) means C is overwritten and never read.
  float beta = 0.0f;
};

// Owns the cuBLAS handles GEMM uses on CUDA, one per device, created on first
// use and destroyed with the context. The CPU path does not need one.
//
// Thread-safety: thread-safe; calls that share a context are serialised while
// they enqueue (enqueueing is short). Use one context per thread to avoid that.
// Lifetime: destroy it only after the streams it enqueued on have finished.
class GemmContext {
 public:
  GemmContext() = default;
  ~GemmContext();
  GemmContext(const GemmContext&) = delete;
  GemmContext& operator=(const GemmContext&) = delete;

  // Runs `fn` with the cuBLAS handle (a cublasHandle_t) of device `ordinal`,
  // creating it on first use, while holding the context's lock. For the
  // kernels' CUDA code; callers of Gemm do not need it.
  absl::Status WithCudaHandle(int ordinal, absl::FunctionRef<absl::Status(void*)> fn);

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<int, void*> cublas_handles_ ABSL_GUARDED_BY(mu_);
};

// C = alpha * op(A) * op(B) + beta * C.
// REQUIRES: a, b, c on one device and of one dtype; shapes as in the file comment.
// `context` may be null: a CUDA call then creates and destroys a cuBLAS handle
// itself (slow: pass a context on any hot path).
absl::Status Gemm(const runtime::Tensor& a, const runtime::Tensor& b, const runtime::Tensor& c,
                  const GemmOptions& options = {}, const Stream& stream = {},
                  GemmContext* context = nullptr);

// For each batch index i: C[i] = alpha * op(A[i]) * op(B[i]) + beta * C[i].
// REQUIRES: c is 3-D [batch, M, N]; a and b are 3-D with the same batch, or
// 2-D (shared by every batch). batch == 0 is a no-op.
absl::Status GemmBatched(const runtime::Tensor& a, const runtime::Tensor& b,
                         const runtime::Tensor& c, const GemmOptions& options = {},
                         const Stream& stream = {}, GemmContext* context = nullptr);

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_GEMM_H_
