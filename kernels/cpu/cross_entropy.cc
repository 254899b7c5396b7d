// CPU cross-entropy: per row, a max pass and an exp-sum pass give the
// log-sum-exp; the backward recomputes softmax from the saved lse.
#include "kernels/math/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/internal/nn_backends.h"

namespace braid::kernels::cpu {
namespace {

// Checks every target and counts the rows that are not ignored.
template <typename I>
absl::StatusOr<int64_t> CountValid(absl::string_view op, const I* targets, int64_t rows,
                                   int64_t vocab, int64_t ignore_index) {
  int64_t valid = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = static_cast<int64_t>(targets[r]);
    if (t == ignore_index) continue;
    if (t < 0 || t >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": targets[", r, "] = ", t,
                                                     " is outside [0, ", vocab,
                                                     ") and not the ignore index ", ignore_index));
    }
    ++valid;
  }
  return valid;
}

}  // namespace

absl::Status CrossEntropyForward(const Tensor& logits, const Tensor& targets,
                                 const CrossEntropyOptions& options, const Tensor& losses,
                                 const Tensor& lse, const Tensor& mean, Stream) {
  const int64_t rows = logits.dim(0);
  const int64_t vocab = logits.dim(1);
  return internal::VisitIndexDType(targets.dtype(), [&]<typename I>() -> absl::Status {
    const I* pt = targets.data<I>();
    absl::StatusOr<int64_t> valid =
        CountValid("CrossEntropyForward", pt, rows, vocab, options.ignore_index);
    if (!valid.ok()) return valid.status();
    double total = 0.0;
    internal::VisitFloatDType(logits.dtype(), [&]<typename T>() {
      for (int64_t r = 0; r < rows; ++r) {
        const T* in = logits.data<T>() + r * vocab;
        float row_max = -INFINITY;
        for (int64_t v = 0; v < vocab; ++v) row_max = std::max(row_max, static_cast<float>(in[v]));
        float sum = 0.0f;
        for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<float>(in[v]) - row_max);
        const float l = math::LogSumExp(row_max, sum);
        lse.data<float>()[r] = l;
        const int64_t t = static_cast<int64_t>(pt[r]);
        float loss = 0.0f;
        if (t != options.ignore_index) loss = math::CrossEntropyLoss(l, static_cast<float>(in[t]));
        losses.data<float>()[r] = loss;
        total += loss;
      }
    });
    const int64_t norm = options.normalizer > 0 ? options.normalizer : *valid;
    mean.data<float>()[0] = norm > 0 ? static_cast<float>(total / static_cast<double>(norm)) : 0.0f;
    return absl::OkStatus();
  });
}

absl::Status CrossEntropyBackward(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                                  const CrossEntropyOptions& options, float dmean,
                                  const Tensor& dlogits, Stream) {
  const int64_t rows = logits.dim(0);
  const int64_t vocab = logits.dim(1);
  return internal::VisitIndexDType(targets.dtype(), [&]<typename I>() -> absl::Status {
    const I* pt = targets.data<I>();
    absl::StatusOr<int64_t> valid =
        CountValid("CrossEntropyBackward", pt, rows, vocab, options.ignore_index);
    if (!valid.ok()) return valid.status();
    const int64_t norm = options.normalizer > 0 ? options.normalizer : *valid;
    const float scale = norm > 0 ? dmean / static_cast<float>(norm) : 0.0f;
    internal::VisitFloatDType(logits.dtype(), [&]<typename T>() {
      for (int64_t r = 0; r < rows; ++r) {
        const T* in = logits.data<T>() + r * vocab;
        T* out = dlogits.data<T>() + r * vocab;
        const int64_t t = static_cast<int64_t>(pt[r]);
        const bool ignored = t == options.ignore_index;
        const float l = lse.data<float>()[r];
        for (int64_t v = 0; v < vocab; ++v) {
          out[v] = ignored ? T(0.0f)
                           : T(math::CrossEntropyGrad(static_cast<float>(in[v]), l, v == t, scale));
        }
      }
    });
    return absl::OkStatus();
  });
}

}  // namespace braid::kernels::cpu
