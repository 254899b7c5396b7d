// The CPU (cpu/*.cc) and CUDA (cuda/*, or cuda_none/*.cc in builds without
// CUDA) implementations behind the core op families' public headers:
// gemm.h, elementwise.h, topk.h, index.h. (reduce.h works on raw buffers and
// declares its cuda:: functions publicly; its CPU loops are in cpu/reduce.h.)
//
// Each public function validates its arguments and calls the function of the
// same name in kernels::cpu or kernels::cuda, declared here once for both so
// the signatures cannot drift apart. Backends may assume validated arguments:
// defined tensors on one device, matching shapes and dtypes, the contiguity
// the public header requires, numel() > 0. Internal to kernels/: not installed.
#ifndef BRAID_KERNELS_INTERNAL_CORE_BACKENDS_H_
#define BRAID_KERNELS_INTERNAL_CORE_BACKENDS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/gemm.h"
#include "kernels/stream.h"
#include "runtime/dtype.h"
#include "runtime/tensor.h"

namespace braid::kernels::internal {

// One matrix operand of a GEMM in BLAS terms, row-major: `data` points at
// the stored matrix (rows x cols with leading dimension `ld` >= cols);
// `transpose` says whether op() transposes it; consecutive batches are
// `batch_stride` elements apart (0: the same matrix for every batch).
struct GemmOperand {
  void* data = nullptr;
  int64_t ld = 0;
  bool transpose = false;
  int64_t batch_stride = 0;
};

// A validated GEMM: for b in [0, batch): C_b = alpha * op(A_b) op(B_b) + beta * C_b
// with op(A) [m, k], op(B) [k, n], C [m, n] (c.transpose is always false).
// m, n, k, batch and every ld fit in an int (BLAS's index type); m, n and
// batch are > 0 (k may be 0: C = beta * C).
struct GemmProblem {
  runtime::DType dtype = runtime::DType::kF32;
  int device_ordinal = 0;  // CUDA ordinal of all three tensors
  int64_t batch = 1;
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  GemmOperand a;
  GemmOperand b;
  GemmOperand c;
  float alpha = 1.0f;
  float beta = 0.0f;
};

}  // namespace braid::kernels::internal

#define BRAID_KERNELS_CORE_BACKEND_DECLS                                                     \
  using ::braid::runtime::Tensor;                                                            \
  absl::Status Gemm(const ::braid::kernels::internal::GemmProblem& problem, Stream stream,   \
                    GemmContext* context);                                                   \
  absl::Status Add(const Tensor& a, const Tensor& b, const Tensor& out, Stream stream);      \
  absl::Status Mul(const Tensor& a, const Tensor& b, const Tensor& out, Stream stream);      \
  absl::Status Scale(const Tensor& x, float alpha, const Tensor& out, Stream stream);        \
  absl::Status Axpy(float alpha, const Tensor& x, const Tensor& y, Stream stream);           \
  absl::Status TopK(const Tensor& x, int64_t k, const Tensor& values, const Tensor& indices, \
                    Stream stream);                                                          \
  absl::Status GatherRows(const Tensor& in, const Tensor& indices, const Tensor& out,        \
                          Stream stream);                                                    \
  absl::Status ScatterAddRows(const Tensor& in, const Tensor& indices, const Tensor& out,    \
                              Stream stream);

namespace braid::kernels::cpu {
BRAID_KERNELS_CORE_BACKEND_DECLS
}  // namespace braid::kernels::cpu

namespace braid::kernels::cuda {
BRAID_KERNELS_CORE_BACKEND_DECLS
}  // namespace braid::kernels::cuda

#endif  // BRAID_KERNELS_INTERNAL_CORE_BACKENDS_H_
