// CPU GEMM over OpenBLAS cblas_sgemm. f16/bf16 operands are widened to f32
// scratch matrices (Debian's OpenBLAS has no half-precision GEMM) and C is
// rounded back once.
#include <cblas.h>

#include <cstdint>
#include <vector>

#include "kernels/internal/core_backends.h"
#include "runtime/half.h"

namespace braid::kernels::cpu {
namespace {

using internal::GemmOperand;
using internal::GemmProblem;

CBLAS_TRANSPOSE Trans(bool t) { return t ? CblasTrans : CblasNoTrans; }

// Copies a stored rows x cols matrix (leading dimension ld) of T into a dense
// f32 matrix (leading dimension cols).
template <typename T>
void Widen(const T* in, int64_t rows, int64_t cols, int64_t ld, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = static_cast<float>(in[r * ld + c]);
  }
}

template <typename T>
void Narrow(const float* in, int64_t rows, int64_t cols, T* out, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out[r * ld + c] = T(in[r * cols + c]);
  }
}

// C = beta * C for K == 0 (BLAS leaves C untouched when alpha * A B is empty,
// but requires lda >= 1; doing it here avoids relying on that corner).
template <typename T>
void ScaleC(T* c, int64_t m, int64_t n, int64_t ldc, float beta) {
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      T& v = c[r * ldc + j];
      v = beta == 0.0f ? T(0.0f) : T(beta * static_cast<float>(v));
    }
  }
}

void SgemmOne(const GemmProblem& p, const float* a, int64_t lda, const float* b, int64_t ldb,
              float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, Trans(p.a.transpose), Trans(p.b.transpose), static_cast<int>(p.m),
              static_cast<int>(p.n), static_cast<int>(p.k), p.alpha, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), p.beta, c, static_cast<int>(ldc));
}

template <typename T>
void GemmTyped(const GemmProblem& p) {
  const T* a = static_cast<const T*>(p.a.data);
  const T* b = static_cast<const T*>(p.b.data);
  T* c = static_cast<T*>(p.c.data);
  // Stored shapes of A and B (before op()).
  const int64_t a_rows = p.a.transpose ? p.k : p.m;
  const int64_t a_cols = p.a.transpose ? p.m : p.k;
  const int64_t b_rows = p.b.transpose ? p.n : p.k;
  const int64_t b_cols = p.b.transpose ? p.k : p.n;
  if constexpr (std::is_same_v<T, float>) {
    for (int64_t i = 0; i < p.batch; ++i) {
      float* ci = c + i * p.c.batch_stride;
      if (p.k == 0) {
        ScaleC(ci, p.m, p.n, p.c.ld, p.beta);
        continue;
      }
      SgemmOne(p, a + i * p.a.batch_stride, p.a.ld, b + i * p.b.batch_stride, p.b.ld, ci, p.c.ld);
    }
  } else {
    std::vector<float> fa(static_cast<size_t>(a_rows * a_cols));
    std::vector<float> fb(static_cast<size_t>(b_rows * b_cols));
    std::vector<float> fc(static_cast<size_t>(p.m * p.n));
    for (int64_t i = 0; i < p.batch; ++i) {
      T* ci = c + i * p.c.batch_stride;
      if (p.k == 0) {
        ScaleC(ci, p.m, p.n, p.c.ld, p.beta);
        continue;
      }
      // A broadcast operand (batch stride 0) is widened once.
      if (i == 0 || p.a.batch_stride != 0) {
        Widen(a + i * p.a.batch_stride, a_rows, a_cols, p.a.ld, fa.data());
      }
      if (i == 0 || p.b.batch_stride != 0) {
        Widen(b + i * p.b.batch_stride, b_rows, b_cols, p.b.ld, fb.data());
      }
      if (p.beta != 0.0f) Widen(ci, p.m, p.n, p.c.ld, fc.data());
      SgemmOne(p, fa.data(), a_cols, fb.data(), b_cols, fc.data(), p.n);
      Narrow(fc.data(), p.m, p.n, ci, p.c.ld);
    }
  }
}

}  // namespace

absl::Status Gemm(const GemmProblem& problem, Stream stream, GemmContext* context) {
  switch (problem.dtype) {
    case runtime::DType::kF32:
      GemmTyped<float>(problem);
      break;
    case runtime::DType::kF16:
      GemmTyped<runtime::Half>(problem);
      break;
    case runtime::DType::kBF16:
      GemmTyped<runtime::BFloat16>(problem);
      break;
    case runtime::DType::kI32:
    case runtime::DType::kI64:
    case runtime::DType::kU8:
      return absl::InternalError("kernels::cpu::Gemm: integer dtype passed validation");
  }
  return absl::OkStatus();
}

}  // namespace braid::kernels::cpu
