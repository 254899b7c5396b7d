// Test helpers for the NN kernels: deterministic random tensors, dtype casts
// and central finite-difference gradient checks.
//
// A backward kernel is checked by choosing a fixed random weight w of the
// forward output y and the scalar loss L = sum(w * y), computed in double
// from the kernel's own f32 forward. The backward called with dy = w must
// match dL/dx estimated by central differences (L(x + h) - L(x - h)) / 2h.
// With f32 forward passes, h around 1e-2..5e-3 keeps both the truncation
// error (O(h^2)) and the rounding error (O(eps_f32 / h)) near 1e-4, so a
// tolerance of about 2e-3 + 1e-2 * |g| separates right from wrong gradients
// (a missing term is off by O(1)).
//
// Header-only; for tests (uses GoogleTest). Not thread-safe: perturbs tensors.
#ifndef BRAID_KERNELS_TESTING_GRADCHECK_H_
#define BRAID_KERNELS_TESTING_GRADCHECK_H_

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/dtype.h"
#include "runtime/tensor.h"

namespace braid::kernels::testing {

// `n` values uniform in [lo, hi) from a fixed seed (std::mt19937 mapped by
// hand, so the values do not depend on the standard library's distributions).
inline std::vector<float> RandomValues(int64_t n, uint32_t seed, float lo = -1.0f,
                                       float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::vector<float> out(static_cast<size_t>(n));
  for (float& v : out) {
    const double u = static_cast<double>(gen()) / 4294967296.0;
    v = static_cast<float>(lo + (hi - lo) * u);
  }
  return out;
}

// `n` doubles uniform in [lo, hi) from `seed`: the output weights w of a loss.
inline std::vector<double> RandomWeights(int64_t n, uint32_t seed, float lo = -1.0f,
                                         float hi = 1.0f) {
  std::vector<float> v = RandomValues(n, seed, lo, hi);
  return std::vector<double>(v.begin(), v.end());
}

// A CPU tensor of `dtype` holding `values` (rounded to dtype).
inline runtime::Tensor TensorOf(const std::vector<float>& values, runtime::Shape shape,
                                runtime::DType dtype = runtime::DType::kF32) {
  EXPECT_EQ(runtime::NumElements(shape), static_cast<int64_t>(values.size()));
  absl::StatusOr<runtime::Tensor> t = runtime::Tensor::Empty(std::move(shape), dtype);
  EXPECT_TRUE(t.ok()) << t.status();
  runtime::VisitDType(dtype, [&]<typename T>() {
    T* p = t->data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return *t;
}

// A CPU tensor of `dtype` with values uniform in [lo, hi) from `seed`.
inline runtime::Tensor RandomTensor(runtime::Shape shape, uint32_t seed,
                                    runtime::DType dtype = runtime::DType::kF32, float lo = -1.0f,
                                    float hi = 1.0f) {
  const int64_t n = runtime::NumElements(shape);
  return TensorOf(RandomValues(n, seed, lo, hi), std::move(shape), dtype);
}

// A zero-filled CPU tensor.
inline runtime::Tensor ZerosTensor(runtime::Shape shape,
                                   runtime::DType dtype = runtime::DType::kF32) {
  absl::StatusOr<runtime::Tensor> t = runtime::Tensor::Zeros(std::move(shape), dtype);
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

// Every element as double (host copy).
inline std::vector<double> Values(const runtime::Tensor& t) {
  absl::StatusOr<std::vector<double>> v = runtime::ToDoubleVector(t);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::vector<double>();
}

// A CPU copy of `t` converted to `dtype`.
inline runtime::Tensor Cast(const runtime::Tensor& t, runtime::DType dtype) {
  std::vector<double> v = Values(t);
  return TensorOf(std::vector<float>(v.begin(), v.end()), t.shape(), dtype);
}

// sum(w * y) in double.
inline double WeightedSum(const runtime::Tensor& y, const std::vector<double>& w) {
  std::vector<double> v = Values(y);
  EXPECT_EQ(v.size(), w.size());
  double s = 0.0;
  for (size_t i = 0; i < v.size() && i < w.size(); ++i) s += v[i] * w[i];
  return s;
}

// Central-difference gradient of `loss` with respect to every element of `x`,
// an f32 CPU tensor that `loss` reads. Each element is perturbed in place and
// restored.
inline std::vector<double> NumericalGradient(const runtime::Tensor& x,
                                             const std::function<double()>& loss, double h = 5e-3) {
  EXPECT_EQ(x.dtype(), runtime::DType::kF32);
  std::vector<double> grad(static_cast<size_t>(x.numel()));
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float saved = p[i];
    p[i] = static_cast<float>(saved + h);
    const double up = loss();
    p[i] = static_cast<float>(saved - h);
    const double down = loss();
    p[i] = saved;
    grad[static_cast<size_t>(i)] = (up - down) / (2.0 * h);
  }
  return grad;
}

// Success when |analytic - numeric| <= atol + rtol * |numeric| everywhere;
// otherwise names the first few bad elements.
inline ::testing::AssertionResult GradientsClose(const std::vector<double>& analytic,
                                                 const std::vector<double>& numeric,
                                                 double atol = 2e-3, double rtol = 1e-2) {
  if (analytic.size() != numeric.size()) {
    return ::testing::AssertionFailure()
           << "sizes differ: " << analytic.size() << " vs " << numeric.size();
  }
  std::string bad;
  int count = 0;
  for (size_t i = 0; i < analytic.size(); ++i) {
    const double err = std::fabs(analytic[i] - numeric[i]);
    if (!(err <= atol + rtol * std::fabs(numeric[i]))) {
      if (++count <= 5) {
        absl::StrAppend(&bad, " [", i, "] analytic ", analytic[i], " numeric ", numeric[i], ";");
      }
    }
  }
  if (count == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << count << " of " << analytic.size() << " gradient elements differ:" << bad;
}

inline ::testing::AssertionResult GradientsClose(const runtime::Tensor& analytic,
                                                 const std::vector<double>& numeric,
                                                 double atol = 2e-3, double rtol = 1e-2) {
  return GradientsClose(Values(analytic), numeric, atol, rtol);
}

// Success when |a - b| <= atol + rtol * |b| elementwise.
inline ::testing::AssertionResult ValuesClose(const std::vector<double>& a,
                                              const std::vector<double>& b, double atol,
                                              double rtol = 0.0) {
  return GradientsClose(a, b, atol, rtol);
}

}  // namespace braid::kernels::testing

#endif  // BRAID_KERNELS_TESTING_GRADCHECK_H_
