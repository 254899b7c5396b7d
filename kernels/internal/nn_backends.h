// The CPU (cpu/*.cc) and CUDA (cuda/*.cu, or cuda_none/*.cc in builds without
// CUDA) implementations behind the NN op families' public headers.
//
// Each public function in gelu.h, swiglu.h, softmax.h, layernorm.h, rmsnorm.h,
// embedding.h, cross_entropy.h and attention.h validates its arguments and
// then calls the function of the same name in kernels::cpu or kernels::cuda,
// declared here with the same signature. Backends may assume validated
// arguments: contiguous, matching shapes, dtypes and device, numel() > 0, and
// for attention a resolved scale (> 0). Internal to kernels/: not installed.
#ifndef BRAID_KERNELS_INTERNAL_NN_BACKENDS_H_
#define BRAID_KERNELS_INTERNAL_NN_BACKENDS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/stream.h"
#include "runtime/dtype.h"
#include "runtime/half.h"
#include "runtime/tensor.h"

// The backend function list, expanded once in each backend namespace so the
// CPU and CUDA signatures cannot drift apart.
#define BRAID_KERNELS_NN_BACKEND_DECLS                                                            \
  using ::braid::runtime::Tensor;                                                                 \
  absl::Status GeluForward(const Tensor& x, const Tensor& y, Stream stream);                      \
  absl::Status GeluBackward(const Tensor& x, const Tensor& dy, const Tensor& dx, Stream stream);  \
  absl::Status SwiGluForward(const Tensor& a, const Tensor& b, const Tensor& out, Stream stream); \
  absl::Status SwiGluBackward(const Tensor& a, const Tensor& b, const Tensor& dout,               \
                              const Tensor& da, const Tensor& db, Stream stream);                 \
  absl::Status SoftmaxForward(const Tensor& x, const Tensor& y, Stream stream);                   \
  absl::Status SoftmaxBackward(const Tensor& y, const Tensor& dy, const Tensor& dx,               \
                               Stream stream);                                                    \
  absl::Status LayerNormForward(const Tensor& x, const Tensor& gamma, const Tensor& beta,         \
                                float eps, const Tensor& y, const Tensor& mean,                   \
                                const Tensor& rstd, Stream stream);                               \
  absl::Status LayerNormBackwardInput(const Tensor& x, const Tensor& gamma, const Tensor& mean,   \
                                      const Tensor& rstd, const Tensor& dy, const Tensor& dx,     \
                                      Stream stream);                                             \
  absl::Status LayerNormBackwardWeight(const Tensor& x, const Tensor& mean, const Tensor& rstd,   \
                                       const Tensor& dy, const Tensor& dgamma,                    \
                                       const Tensor& dbeta, Stream stream);                       \
  absl::Status RmsNormForward(const Tensor& x, const Tensor& gamma, float eps, const Tensor& y,   \
                              const Tensor& rstd, Stream stream);                                 \
  absl::Status RmsNormBackwardInput(const Tensor& x, const Tensor& gamma, const Tensor& rstd,     \
                                    const Tensor& dy, const Tensor& dx, Stream stream);           \
  absl::Status RmsNormBackwardWeight(const Tensor& x, const Tensor& rstd, const Tensor& dy,       \
                                     const Tensor& dgamma, Stream stream);                        \
  absl::Status EmbeddingForward(const Tensor& weight, const Tensor& ids, const Tensor& out,       \
                                Stream stream);                                                   \
  absl::Status EmbeddingBackward(const Tensor& ids, const Tensor& dout, const Tensor& dweight,    \
                                 Stream stream);                                                  \
  absl::Status CrossEntropyForward(const Tensor& logits, const Tensor& targets,                   \
                                   const CrossEntropyOptions& options, const Tensor& losses,      \
                                   const Tensor& lse, const Tensor& mean, Stream stream);         \
  absl::Status CrossEntropyBackward(const Tensor& logits, const Tensor& targets,                  \
                                    const Tensor& lse, const CrossEntropyOptions& options,        \
                                    float dmean, const Tensor& dlogits, Stream stream);           \
  absl::Status AttentionForward(const Tensor& q, const Tensor& k, const Tensor& v,                \
                                const AttentionOptions& options, const Tensor& o,                 \
                                const Tensor& lse, Stream stream);                                \
  absl::Status AttentionMerge(const Tensor& o1, const Tensor& lse1, const Tensor& o2,             \
                              const Tensor& lse2, const Tensor& o, const Tensor& lse,             \
                              Stream stream);                                                     \
  absl::Status AttentionBackward(const Tensor& q, const Tensor& k, const Tensor& v,               \
                                 const Tensor& o, const Tensor& lse, const Tensor& dout,          \
                                 const AttentionOptions& options, const Tensor& dq,               \
                                 const Tensor& dk, const Tensor& dv, Stream stream);

namespace braid::kernels {
namespace cpu {
BRAID_KERNELS_NN_BACKEND_DECLS
}  // namespace cpu
namespace cuda {
BRAID_KERNELS_NN_BACKEND_DECLS
}  // namespace cuda

namespace internal {

// Calls fn.template operator()<T>() with T = float, Half or BFloat16 for the
// floating-point `dtype`. REQUIRES: runtime::IsFloatingPoint(dtype) (other
// dtypes are rejected by validation before a backend runs).
template <typename Fn>
decltype(auto) VisitFloatDType(runtime::DType dtype, Fn&& fn) {
  switch (dtype) {
    case runtime::DType::kF16:
      return fn.template operator()<runtime::Half>();
    case runtime::DType::kBF16:
      return fn.template operator()<runtime::BFloat16>();
    case runtime::DType::kF32:
    case runtime::DType::kI32:
    case runtime::DType::kI64:
    case runtime::DType::kU8:
      break;
  }
  return fn.template operator()<float>();
}

// Calls fn.template operator()<I>() with I = int32_t for kI32, else int64_t.
template <typename Fn>
decltype(auto) VisitIndexDType(runtime::DType dtype, Fn&& fn) {
  if (dtype == runtime::DType::kI32) return fn.template operator()<int32_t>();
  return fn.template operator()<int64_t>();
}

}  // namespace internal
}  // namespace braid::kernels

#endif  // BRAID_KERNELS_INTERNAL_NN_BACKENDS_H_
