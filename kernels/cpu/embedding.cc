// CPU embedding: ids are checked first so a bad id writes nothing; then rows
// are copied (forward) or added in index order (backward) in f32.
#include "kernels/math/embedding.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/internal/nn_backends.h"

namespace braid::kernels::cpu {
namespace {

template <typename I>
absl::Status CheckIds(absl::string_view op, const I* ids, int64_t n, int64_t vocab) {
  for (int64_t i = 0; i < n; ++i) {
    if (!math::EmbeddingIdValid(static_cast<int64_t>(ids[i]), vocab)) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": ids[", i, "] = ", ids[i], " is outside the table's rows [0, ", vocab, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EmbeddingForward(const Tensor& weight, const Tensor& ids, const Tensor& out, Stream) {
  const int64_t vocab = weight.dim(0);
  const int64_t cols = weight.dim(1);
  const int64_t n = ids.numel();
  return internal::VisitIndexDType(ids.dtype(), [&]<typename I>() -> absl::Status {
    const I* pid = ids.data<I>();
    if (absl::Status s = CheckIds("EmbeddingForward", pid, n, vocab); !s.ok()) return s;
    internal::VisitFloatDType(weight.dtype(), [&]<typename T>() {
      for (int64_t i = 0; i < n; ++i) {
        const T* src = weight.data<T>() + static_cast<int64_t>(pid[i]) * cols;
        T* dst = out.data<T>() + i * cols;
        for (int64_t c = 0; c < cols; ++c) dst[c] = src[c];
      }
    });
    return absl::OkStatus();
  });
}

absl::Status EmbeddingBackward(const Tensor& ids, const Tensor& dout, const Tensor& dweight,
                               Stream) {
  const int64_t vocab = dweight.dim(0);
  const int64_t cols = dweight.dim(1);
  const int64_t n = ids.numel();
  return internal::VisitIndexDType(ids.dtype(), [&]<typename I>() -> absl::Status {
    const I* pid = ids.data<I>();
    if (absl::Status s = CheckIds("EmbeddingBackward", pid, n, vocab); !s.ok()) return s;
    internal::VisitFloatDType(dweight.dtype(), [&]<typename T>() {
      for (int64_t i = 0; i < n; ++i) {
        const T* src = dout.data<T>() + i * cols;
        T* dst = dweight.data<T>() + static_cast<int64_t>(pid[i]) * cols;
        for (int64_t c = 0; c < cols; ++c) {
          dst[c] = T(static_cast<float>(dst[c]) + static_cast<float>(src[c]));
        }
      }
    });
    return absl::OkStatus();
  });
}

}  // namespace braid::kernels::cpu
