// The cuda:: entry points of kernels/attention.h for builds without CUDA: each fails with
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

absl::Status AttentionForward(const Tensor& q, const Tensor& k, const Tensor& v,
                              const AttentionOptions& options, const Tensor& o, const Tensor& lse,
                              Stream stream) {
  return NoCuda("AttentionForward");
}

absl::Status AttentionMerge(const Tensor& o1, const Tensor& lse1, const Tensor& o2,
                            const Tensor& lse2, const Tensor& o, const Tensor& lse, Stream stream) {
  return NoCuda("AttentionMerge");
}

absl::Status AttentionBackward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
                               const Tensor& lse, const Tensor& dout,
                               const AttentionOptions& options, const Tensor& dq, const Tensor& dk,
                               const Tensor& dv, Stream stream) {
  return NoCuda("AttentionBackward");
}

}  // namespace braid::kernels::cuda
