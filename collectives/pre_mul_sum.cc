#include "collectives/pre_mul_sum.h"

#include <cmath>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "runtime/half.h"

namespace braid::collectives {

absl::Status PreMultiply(const void* src, void* dst, int64_t count, runtime::DType dtype,
                         double scale) {
  if (count < 0) return absl::InvalidArgumentError("PreMultiply: negative count");
  if (count == 0) return absl::OkStatus();
  if (src == nullptr || dst == nullptr) {
    return absl::InvalidArgumentError("PreMultiply: null buffer with a non-zero count");
  }
  if (!std::isfinite(scale)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pre-multiplied sum: scale ", scale, " is not finite"));
  }
  runtime::VisitDType(dtype, [&]<typename T>() {
    const T* s = static_cast<const T*>(src);
    T* d = static_cast<T*>(dst);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, runtime::Half> ||
                  std::is_same_v<T, runtime::BFloat16>) {
      const float f = static_cast<float>(scale);
      for (int64_t i = 0; i < count; ++i) d[i] = T(static_cast<float>(s[i]) * f);
    } else {
      // Integer: truncated scale, wrapping multiply (computed unsigned: no UB).
      using U = std::make_unsigned_t<T>;
      const U k = static_cast<U>(static_cast<int64_t>(std::trunc(scale)));
      for (int64_t i = 0; i < count; ++i) d[i] = static_cast<T>(static_cast<U>(s[i]) * k);
    }
  });
  return absl::OkStatus();
}

std::string PreMulSumName(double scale) { return absl::StrCat("premulsum(", scale, ")"); }

}  // namespace braid::collectives
