// CPU elementwise ops. Add and Mul run through the vectorised reduction loops
// (sum and prod, cpu/reduce.cc); Scale and Axpy are plain loops over the math
// of kernels/math/elementwise.h, widened in blocks for f16/bf16.
#include "kernels/math/elementwise.h"

#include <cstdint>

#include "kernels/cpu/reduce.h"
#include "kernels/internal/core_backends.h"
#include "runtime/half.h"

namespace braid::kernels::cpu {
namespace {

constexpr int64_t kBlock = 512;

template <typename T>
void ScaleTyped(const T* x, float alpha, T* out, int64_t n) {
  const math::ScaleOp op{alpha};
  if constexpr (std::is_same_v<T, float>) {
    for (int64_t i = 0; i < n; ++i) out[i] = op.Apply(x[i]);
  } else {
    float buf[kBlock];
    for (int64_t base = 0; base < n; base += kBlock) {
      const int64_t m = n - base < kBlock ? n - base : kBlock;
      for (int64_t i = 0; i < m; ++i) buf[i] = op.Apply(static_cast<float>(x[base + i]));
      for (int64_t i = 0; i < m; ++i) out[base + i] = T(buf[i]);
    }
  }
}

template <typename T>
void AxpyTyped(float alpha, const T* x, T* y, int64_t n) {
  const math::AxpyOp op{alpha};
  if constexpr (std::is_same_v<T, float>) {
    for (int64_t i = 0; i < n; ++i) y[i] = op.Apply(x[i], y[i]);
  } else {
    float buf[kBlock];
    for (int64_t base = 0; base < n; base += kBlock) {
      const int64_t m = n - base < kBlock ? n - base : kBlock;
      for (int64_t i = 0; i < m; ++i) {
        buf[i] = op.Apply(static_cast<float>(x[base + i]), static_cast<float>(y[base + i]));
      }
      for (int64_t i = 0; i < m; ++i) y[base + i] = T(buf[i]);
    }
  }
}

}  // namespace

absl::Status Add(const Tensor& a, const Tensor& b, const Tensor& out, Stream stream) {
  cpu::ReduceTo(out.raw_data(), a.raw_data(), b.raw_data(), out.numel(), out.dtype(),
                ReduceKind::kSum);
  return absl::OkStatus();
}

absl::Status Mul(const Tensor& a, const Tensor& b, const Tensor& out, Stream stream) {
  cpu::ReduceTo(out.raw_data(), a.raw_data(), b.raw_data(), out.numel(), out.dtype(),
                ReduceKind::kProd);
  return absl::OkStatus();
}

absl::Status Scale(const Tensor& x, float alpha, const Tensor& out, Stream stream) {
  switch (out.dtype()) {
    case runtime::DType::kF32:
      ScaleTyped(x.data<float>(), alpha, out.data<float>(), out.numel());
      break;
    case runtime::DType::kF16:
      ScaleTyped(x.data<runtime::Half>(), alpha, out.data<runtime::Half>(), out.numel());
      break;
    case runtime::DType::kBF16:
      ScaleTyped(x.data<runtime::BFloat16>(), alpha, out.data<runtime::BFloat16>(), out.numel());
      break;
    case runtime::DType::kI32:
    case runtime::DType::kI64:
    case runtime::DType::kU8:
      return absl::InternalError("kernels::cpu::Scale: integer dtype passed validation");
  }
  return absl::OkStatus();
}

absl::Status Axpy(float alpha, const Tensor& x, const Tensor& y, Stream stream) {
  switch (y.dtype()) {
    case runtime::DType::kF32:
      AxpyTyped(alpha, x.data<float>(), y.data<float>(), y.numel());
      break;
    case runtime::DType::kF16:
      AxpyTyped(alpha, x.data<runtime::Half>(), y.data<runtime::Half>(), y.numel());
      break;
    case runtime::DType::kBF16:
      AxpyTyped(alpha, x.data<runtime::BFloat16>(), y.data<runtime::BFloat16>(), y.numel());
      break;
    case runtime::DType::kI32:
    case runtime::DType::kI64:
    case runtime::DType::kU8:
      return absl::InternalError("kernels::cpu::Axpy: integer dtype passed validation");
  }
  return absl::OkStatus();
}

}  // namespace braid::kernels::cpu
