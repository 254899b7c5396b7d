// The cuda:: entry points of kernels/layernorm.h for builds without CUDA: each fails with
// kFailedPrecondition, so CUDA tensors are rejected with a clear message.
#include "absl/strings/str_cat.h"
#include "kernels/internal/nn_backends.h"

namespace braid::kernels::cuda {
namespace {

absl::Status NoCuda(absl::string_view op) {
  return absl::FailedPreconditionError(absl::StrCat(
      op,
      ": got CUDA tensors, but braid was built without CUDA; rebuild with -DBRAID_CUDA=ON "
      "or pass CPU tensors"));
}

}  // namespace

absl::Status LayerNormForward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                              const Tensor& y, const Tensor& mean, const Tensor& rstd,
                              Stream stream) {
  return NoCuda("LayerNormForward");
}

absl::Status LayerNormBackwardInput(const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                    const Tensor& rstd, const Tensor& dy, const Tensor& dx,
                                    Stream stream) {
  return NoCuda("LayerNormBackwardInput");
}

absl::Status LayerNormBackwardWeight(const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                     const Tensor& dy, const Tensor& dgamma, const Tensor& dbeta,
                                     Stream stream) {
  return NoCuda("LayerNormBackwardWeight");
}

}  // namespace braid::kernels::cuda
