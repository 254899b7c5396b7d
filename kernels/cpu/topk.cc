// CPU top-k: a partial sort of each row's positions in kernels/math/topk.h
// order.
#include "kernels/math/topk.h"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "kernels/internal/core_backends.h"
#include "runtime/half.h"

namespace braid::kernels::cpu {
namespace {

template <typename T>
void TopKTyped(const T* x, int64_t rows, int64_t n, int64_t k, T* values, int64_t* indices) {
  std::vector<float> row(static_cast<size_t>(n));
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    const T* in = x + r * n;
    for (int64_t i = 0; i < n; ++i) row[i] = static_cast<float>(in[i]);
    std::iota(order.begin(), order.end(), int64_t{0});
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int64_t a, int64_t b) { return math::TopKBefore(row[a], a, row[b], b); });
    for (int64_t j = 0; j < k; ++j) {
      values[r * k + j] = in[order[j]];
      indices[r * k + j] = order[j];
    }
  }
}

}  // namespace

absl::Status TopK(const Tensor& x, int64_t k, const Tensor& values, const Tensor& indices,
                  Stream stream) {
  const int64_t n = x.dim(-1);
  const int64_t rows = x.numel() / n;
  int64_t* idx = indices.data<int64_t>();
  switch (x.dtype()) {
    case runtime::DType::kF32:
      TopKTyped(x.data<float>(), rows, n, k, values.data<float>(), idx);
      break;
    case runtime::DType::kF16:
      TopKTyped(x.data<runtime::Half>(), rows, n, k, values.data<runtime::Half>(), idx);
      break;
    case runtime::DType::kBF16:
      TopKTyped(x.data<runtime::BFloat16>(), rows, n, k, values.data<runtime::BFloat16>(), idx);
      break;
    case runtime::DType::kI32:
    case runtime::DType::kI64:
    case runtime::DType::kU8:
      return absl::InternalError("kernels::cpu::TopK: integer dtype passed validation");
  }
  return absl::OkStatus();
}

}  // namespace braid::kernels::cpu
