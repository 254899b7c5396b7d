#include "kernels/attention.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/internal/nn_backends.h"
#include "kernels/internal/nn_validate.h"
#include "runtime/status_macros.h"

namespace braid::kernels {

using runtime::DType;
using runtime::Tensor;

namespace {

absl::Status CheckRank4(absl::string_view op, absl::string_view name, const Tensor& t) {
  if (t.ndim() != 4) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " has shape ",
                                                   runtime::ShapeToString(t.shape()),
                                                   "; expected [B, H, T, D]"));
  }
  return absl::OkStatus();
}

// Checks q, k, v and returns the options with the scale resolved.
absl::StatusOr<AttentionOptions> CheckQkv(absl::string_view op, const Tensor& q, const Tensor& k,
                                          const Tensor& v, const AttentionOptions& options) {
  BRAID_RETURN_IF_ERROR(internal::CheckFloat(op, "q", q));
  BRAID_RETURN_IF_ERROR(CheckRank4(op, "q", q));
  BRAID_RETURN_IF_ERROR(internal::CheckContiguous(op, "k", k));
  BRAID_RETURN_IF_ERROR(CheckRank4(op, "k", k));
  BRAID_RETURN_IF_ERROR(internal::CheckTensor(op, "k", k, q.dtype(), q.device(),
                                              {q.dim(0), q.dim(1), k.dim(2), q.dim(3)}));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(op, "v", v, k));
  if (q.dim(3) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": head dimension D is 0"));
  }
  if (!(options.scale >= 0.0f) || std::isinf(options.scale)) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": scale is ", options.scale, "; expected a finite value >= 0"));
  }
  AttentionOptions resolved = options;
  if (resolved.scale == 0.0f) {
    resolved.scale = 1.0f / std::sqrt(static_cast<float>(q.dim(3)));
  }
  return resolved;
}

absl::Status CheckLse(absl::string_view op, absl::string_view name, const Tensor& lse,
                      const Tensor& o) {
  return internal::CheckTensor(op, name, lse, DType::kF32, o.device(),
                               {o.dim(0), o.dim(1), o.dim(2)});
}

}  // namespace

absl::Status AttentionForward(const Tensor& q, const Tensor& k, const Tensor& v,
                              const AttentionOptions& options, const Tensor& o, const Tensor& lse,
                              Stream stream) {
  constexpr absl::string_view kOp = "AttentionForward";
  BRAID_ASSIGN_OR_RETURN(AttentionOptions resolved, CheckQkv(kOp, q, k, v, options));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "o", o, q));
  BRAID_RETURN_IF_ERROR(CheckLse(kOp, "lse", lse, q));
  if (q.numel() == 0) return absl::OkStatus();
  if (q.device().is_cuda()) return cuda::AttentionForward(q, k, v, resolved, o, lse, stream);
  return cpu::AttentionForward(q, k, v, resolved, o, lse, stream);
}

absl::Status AttentionMerge(const Tensor& o1, const Tensor& lse1, const Tensor& o2,
                            const Tensor& lse2, const Tensor& o, const Tensor& lse, Stream stream) {
  constexpr absl::string_view kOp = "AttentionMerge";
  BRAID_RETURN_IF_ERROR(internal::CheckFloat(kOp, "o1", o1));
  BRAID_RETURN_IF_ERROR(CheckRank4(kOp, "o1", o1));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "o2", o2, o1));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "o", o, o1));
  BRAID_RETURN_IF_ERROR(CheckLse(kOp, "lse1", lse1, o1));
  BRAID_RETURN_IF_ERROR(CheckLse(kOp, "lse2", lse2, o1));
  BRAID_RETURN_IF_ERROR(CheckLse(kOp, "lse", lse, o1));
  if (o1.numel() == 0) return absl::OkStatus();
  if (o1.device().is_cuda()) return cuda::AttentionMerge(o1, lse1, o2, lse2, o, lse, stream);
  return cpu::AttentionMerge(o1, lse1, o2, lse2, o, lse, stream);
}

absl::Status AttentionBackward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
                               const Tensor& lse, const Tensor& dout,
                               const AttentionOptions& options, const Tensor& dq, const Tensor& dk,
                               const Tensor& dv, Stream stream) {
  constexpr absl::string_view kOp = "AttentionBackward";
  BRAID_ASSIGN_OR_RETURN(AttentionOptions resolved, CheckQkv(kOp, q, k, v, options));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "o", o, q));
  BRAID_RETURN_IF_ERROR(CheckLse(kOp, "lse", lse, q));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "dout", dout, q));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "dq", dq, q));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "dk", dk, k));
  BRAID_RETURN_IF_ERROR(internal::CheckLike(kOp, "dv", dv, k));
  if (q.numel() == 0 || k.numel() == 0) return absl::OkStatus();
  if (q.device().is_cuda()) {
    return cuda::AttentionBackward(q, k, v, o, lse, dout, resolved, dq, dk, dv, stream);
  }
  return cpu::AttentionBackward(q, k, v, o, lse, dout, resolved, dq, dk, dv, stream);
}

}  // namespace braid::kernels
