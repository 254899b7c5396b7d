// CPU row gather and scatter-add. Index values are checked before any write.
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/internal/core_backends.h"
#include "runtime/half.h"

namespace braid::kernels::cpu {
namespace {

int64_t IndexAt(const Tensor& indices, int64_t i) {
  return indices.dtype() == runtime::DType::kI64 ? indices.data<int64_t>()[i]
                                                 : indices.data<int32_t>()[i];
}

// Every index in [-1, limit).
absl::Status CheckIndices(absl::string_view op, const Tensor& indices, int64_t limit) {
  for (int64_t i = 0; i < indices.numel(); ++i) {
    const int64_t v = IndexAt(indices, i);
    if (v < -1 || v >= limit) {
      return absl::InvalidArgumentError(absl::StrCat("kernels::", op, ": indices[", i, "] = ", v,
                                                     " is outside [-1, ", limit,
                                                     "); nothing was written"));
    }
  }
  return absl::OkStatus();
}

int64_t RowSize(const Tensor& t) { return t.dim(0) == 0 ? 0 : t.numel() / t.dim(0); }

template <typename T>
void AddRow(const T* src, T* dst, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    for (int64_t j = 0; j < n; ++j) dst[j] += src[j];
  } else {
    for (int64_t j = 0; j < n; ++j)
      dst[j] = T(static_cast<float>(dst[j]) + static_cast<float>(src[j]));
  }
}

}  // namespace

absl::Status GatherRows(const Tensor& in, const Tensor& indices, const Tensor& out, Stream stream) {
  if (absl::Status s = CheckIndices("GatherRows", indices, in.dim(0)); !s.ok()) return s;
  const size_t row_bytes = static_cast<size_t>(RowSize(out)) * out.element_size();
  const char* src = static_cast<const char*>(in.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t i = 0; i < indices.numel(); ++i) {
    const int64_t v = IndexAt(indices, i);
    if (v < 0) {
      std::memset(dst + i * row_bytes, 0, row_bytes);  // all-zero bits are 0.0 in every dtype
    } else {
      std::memcpy(dst + i * row_bytes, src + v * row_bytes, row_bytes);
    }
  }
  return absl::OkStatus();
}

absl::Status ScatterAddRows(const Tensor& in, const Tensor& indices, const Tensor& out,
                            Stream stream) {
  if (absl::Status s = CheckIndices("ScatterAddRows", indices, out.dim(0)); !s.ok()) return s;
  const int64_t n = RowSize(in);
  runtime::VisitDType(out.dtype(), [&]<typename T>() {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, runtime::Half> ||
                  std::is_same_v<T, runtime::BFloat16>) {
      const T* src = in.data<T>();
      T* dst = out.data<T>();
      for (int64_t i = 0; i < indices.numel(); ++i) {
        const int64_t v = IndexAt(indices, i);
        if (v >= 0) AddRow(src + i * n, dst + v * n, n);
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace braid::kernels::cpu
