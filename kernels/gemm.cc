// Validation and dispatch for kernels/gemm.h: turns tensors into a BLAS-style
// GemmProblem (resolving transposed views into transpose flags) and calls the
// CPU or CUDA backend.
#include "kernels/gemm.h"

#include <algorithm>
#include <climits>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/internal/core_backends.h"
#include "runtime/status_macros.h"

namespace braid::kernels {
namespace {

using internal::GemmOperand;
using internal::GemmProblem;
using runtime::Tensor;

absl::Status Invalid(absl::string_view op, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("kernels::", op, ": ", what));
}

// The last two dimensions of `t` as a stored BLAS matrix. `transpose` is the
// caller's flag; a transposed view (unit outer stride) flips it, so that no
// copy is needed. `allow_view` is false for C, which must be row-major.
absl::StatusOr<GemmOperand> ResolveOperand(absl::string_view op, absl::string_view name,
                                           const Tensor& t, bool transpose, bool allow_view) {
  const int64_t rows = t.dim(-2);
  const int64_t cols = t.dim(-1);
  const int64_t s0 = t.strides()[t.ndim() - 2];
  const int64_t s1 = t.strides()[t.ndim() - 1];
  GemmOperand out;
  out.data = t.raw_data();
  out.transpose = transpose;
  out.batch_stride = t.ndim() == 3 ? t.strides()[0] : 0;
  if (rows == 0 || cols == 0) {
    out.ld = std::max<int64_t>(cols, 1);  // empty: never read
    return out;
  }
  if (cols <= 1 || s1 == 1) {
    // Row-major; with a single row any ld >= cols will do.
    out.ld = rows <= 1 ? std::max<int64_t>(cols, 1) : s0;
    if (out.ld >= std::max<int64_t>(cols, 1)) return out;
  }
  if (allow_view && (rows <= 1 || s0 == 1)) {
    // A transposed view of a row-major [cols, rows] matrix with ld s1.
    out.ld = cols <= 1 ? std::max<int64_t>(rows, 1) : s1;
    out.transpose = !transpose;
    if (out.ld >= std::max<int64_t>(rows, 1)) return out;
  }
  return Invalid(op, absl::StrCat("'", name, "' ", t.DebugString(), " with strides [", s0, ", ", s1,
                                  "] is neither row-major nor a transposed view; call "
                                  "Contiguous() first"));
}

absl::Status FitsInt(absl::string_view op, absl::string_view what, int64_t v) {
  if (v > INT_MAX) {
    return Invalid(op, absl::StrCat(what, " = ", v, " exceeds the BLAS index range (int)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<GemmProblem> MakeProblem(absl::string_view op, const Tensor& a, const Tensor& b,
                                        const Tensor& c, const GemmOptions& options, bool batched) {
  for (const auto& [name, t] :
       {std::pair<const char*, const Tensor*>{"a", &a}, {"b", &b}, {"c", &c}}) {
    if (!t->defined()) return Invalid(op, absl::StrCat("'", name, "' is undefined"));
    if (!runtime::IsFloatingPoint(t->dtype())) {
      return Invalid(op, absl::StrCat("'", name, "' has dtype ", runtime::ToString(t->dtype()),
                                      "; GEMM takes f32, f16 or bf16"));
    }
  }
  if (a.dtype() != c.dtype() || b.dtype() != c.dtype()) {
    return Invalid(
        op, absl::StrCat("dtypes differ: a ", runtime::ToString(a.dtype()), ", b ",
                         runtime::ToString(b.dtype()), ", c ", runtime::ToString(c.dtype())));
  }
  if (!(a.device() == c.device()) || !(b.device() == c.device())) {
    return Invalid(
        op, absl::StrCat("tensors on different devices: a ", runtime::ToString(a.device()), ", b ",
                         runtime::ToString(b.device()), ", c ", runtime::ToString(c.device())));
  }
  GemmProblem p;
  p.dtype = c.dtype();
  p.device_ordinal = c.device().index;
  p.alpha = options.alpha;
  p.beta = options.beta;
  if (batched) {
    if (c.ndim() != 3)
      return Invalid(op, absl::StrCat("c must be [batch, M, N], got ", c.DebugString()));
    p.batch = c.dim(0);
    for (const Tensor* t : {&a, &b}) {
      if (t->ndim() == 3 && t->dim(0) != p.batch) {
        return Invalid(op,
                       absl::StrCat("batch of ", t->DebugString(), " differs from c's ", p.batch));
      }
      if (t->ndim() != 2 && t->ndim() != 3) {
        return Invalid(op, absl::StrCat("operand ", t->DebugString(), " must be 2-D or 3-D"));
      }
    }
  } else {
    for (const Tensor* t : {&a, &b, &c}) {
      if (t->ndim() != 2) return Invalid(op, absl::StrCat(t->DebugString(), " must be 2-D"));
    }
  }
  const int64_t m = options.transpose_a ? a.dim(-1) : a.dim(-2);
  const int64_t ka = options.transpose_a ? a.dim(-2) : a.dim(-1);
  const int64_t kb = options.transpose_b ? b.dim(-1) : b.dim(-2);
  const int64_t n = options.transpose_b ? b.dim(-2) : b.dim(-1);
  if (ka != kb || c.dim(-2) != m || c.dim(-1) != n) {
    return Invalid(op, absl::StrCat("shapes do not multiply: op(a) [", m, ", ", ka, "], op(b) [",
                                    kb, ", ", n, "], c ", runtime::ShapeToString(c.shape())));
  }
  p.m = m;
  p.n = n;
  p.k = ka;
  BRAID_ASSIGN_OR_RETURN(p.a, ResolveOperand(op, "a", a, options.transpose_a, true));
  BRAID_ASSIGN_OR_RETURN(p.b, ResolveOperand(op, "b", b, options.transpose_b, true));
  BRAID_ASSIGN_OR_RETURN(p.c, ResolveOperand(op, "c", c, false, false));
  if (batched && p.batch > 1 && p.c.batch_stride < (p.m - 1) * p.c.ld + p.n) {
    return Invalid(op, absl::StrCat("batches of c ", c.DebugString(),
                                    " overlap; pass a c with disjoint [M, N] batches"));
  }
  for (const auto& [what, v] : {std::pair<const char*, int64_t>{"M", p.m},
                                {"N", p.n},
                                {"K", p.k},
                                {"batch", p.batch},
                                {"lda", p.a.ld},
                                {"ldb", p.b.ld},
                                {"ldc", p.c.ld}}) {
    BRAID_RETURN_IF_ERROR(FitsInt(op, what, v));
  }
  return p;
}

absl::Status Run(absl::string_view op, const Tensor& a, const Tensor& b, const Tensor& c,
                 const GemmOptions& options, const Stream& stream, GemmContext* context,
                 bool batched) {
  BRAID_ASSIGN_OR_RETURN(GemmProblem p, MakeProblem(op, a, b, c, options, batched));
  if (p.m == 0 || p.n == 0 || p.batch == 0) return absl::OkStatus();
  if (c.device().is_cuda()) return cuda::Gemm(p, stream, context);
  return cpu::Gemm(p, stream, context);
}

}  // namespace

absl::Status Gemm(const Tensor& a, const Tensor& b, const Tensor& c, const GemmOptions& options,
                  const Stream& stream, GemmContext* context) {
  return Run("Gemm", a, b, c, options, stream, context, /*batched=*/false);
}

absl::Status GemmBatched(const Tensor& a, const Tensor& b, const Tensor& c,
                         const GemmOptions& options, const Stream& stream, GemmContext* context) {
  return Run("GemmBatched", a, b, c, options, stream, context, /*batched=*/true);
}

}  // namespace braid::kernels
