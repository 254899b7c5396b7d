// Test-only helpers: deterministic inputs in any dtype and comparisons
// against double-precision references.
#ifndef BRAID_COLLECTIVES_TCP_TEST_VALUES_H_
#define BRAID_COLLECTIVES_TCP_TEST_VALUES_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "runtime/tensor.h"

namespace braid::collectives::tcp::testing {

// A tensor of `dtype` holding `values` (converted like a cast).
inline runtime::Tensor MakeTensor(const std::vector<double>& values, runtime::DType dtype) {
  runtime::Tensor t =
      *runtime::Tensor::Empty({static_cast<int64_t>(values.size())}, dtype);
  runtime::VisitDType(dtype, [&]<typename T>() {
    T* p = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i) {
      if constexpr (std::is_integral_v<T>) {
        p[i] = static_cast<T>(static_cast<int64_t>(values[i]));
      } else {
        p[i] = T(static_cast<float>(values[i]));
      }
    }
  });
  return t;
}

// "" when `t` matches `expected` (exactly for integers, within a relative
// tolerance for floats), else a description of the first mismatch.
inline std::string Compare(const runtime::Tensor& t, const std::vector<double>& expected) {
  std::vector<double> got = *runtime::ToDoubleVector(t);
  if (got.size() != expected.size()) {
    return absl::StrCat("size ", got.size(), " != ", expected.size());
  }
  const double tol = t.dtype() == runtime::DType::kF32 ? 1e-6
                     : runtime::IsFloatingPoint(t.dtype()) ? 1e-2
                                                           : 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::fabs(got[i] - expected[i]) > tol * std::max(1.0, std::fabs(expected[i]))) {
      return absl::StrCat("element ", i, ": got ", got[i], " expected ", expected[i]);
    }
  }
  return "";
}

}  // namespace braid::collectives::tcp::testing

#endif  // BRAID_COLLECTIVES_TCP_TEST_VALUES_H_
