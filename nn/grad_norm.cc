// Gradient norm and clipping (nn/grad_norm.h).
#include "nn/grad_norm.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/elementwise.h"
#include "runtime/status_macros.h"

namespace braid::nn {
namespace {

using runtime::Tensor;

// Independent partial sums: lets the loop run at the adder's throughput
// instead of its latency while keeping a fixed summation order.
constexpr int kLanes = 8;

absl::Status CheckGrad(absl::string_view op, const OptimizerSlot& slot) {
  const Tensor& g = slot.grad;
  if (!g.defined()) {
    return absl::InvalidArgumentError(
        absl::StrCat("nn::", op, ": slot '", slot.name, "' has an undefined grad"));
  }
  if (!runtime::IsFloatingPoint(g.dtype()) || !g.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat("nn::", op, ": slot '", slot.name, "' grad ",
                                                   g.DebugString(),
                                                   " must be a contiguous f32/f16/bf16 tensor"));
  }
  return absl::OkStatus();
}

template <typename T>
void AddSquares(const T* g, int64_t n, double* lanes) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const double x = static_cast<float>(g[i + k]);
      lanes[k] += x * x;
    }
  }
  for (; i < n; ++i) {
    const double x = static_cast<float>(g[i]);
    lanes[0] += x * x;
  }
}

}  // namespace

absl::StatusOr<double> SquaredNorm(absl::Span<const OptimizerSlot> slots) {
  for (const OptimizerSlot& slot : slots) {
    BRAID_RETURN_IF_ERROR(CheckGrad("SquaredNorm", slot));
    if (slot.grad.device().is_cuda()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "nn::SquaredNorm: slot '", slot.name,
          "' grad is on a GPU; braid has no CUDA norm kernel yet: keep grads on the CPU"));
    }
  }
  double lanes[kLanes] = {};
  for (const OptimizerSlot& slot : slots) {
    const Tensor& g = slot.grad;
    runtime::VisitDType(g.dtype(), [&]<typename T>() {
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, runtime::Half> ||
                    std::is_same_v<T, runtime::BFloat16>) {
        AddSquares<T>(g.data<T>(), g.numel(), lanes);
      }
    });
  }
  double total = 0;
  for (double lane : lanes) total += lane;
  return total;
}

absl::Status ScaleGradients(absl::Span<const OptimizerSlot> slots, float factor) {
  if (!std::isfinite(factor)) {
    return absl::InvalidArgumentError(
        absl::StrCat("nn::ScaleGradients: factor ", factor, " must be finite"));
  }
  for (const OptimizerSlot& slot : slots) BRAID_RETURN_IF_ERROR(CheckGrad("ScaleGradients", slot));
  for (const OptimizerSlot& slot : slots) {
    BRAID_RETURN_IF_ERROR(kernels::Scale(slot.grad, factor, slot.grad));
  }
  return absl::OkStatus();
}

float ClipScale(double norm, float max_norm) {
  const double scale = static_cast<double>(max_norm) / (norm + 1e-6);
  return scale < 1.0 ? static_cast<float>(scale) : 1.0f;
}

absl::StatusOr<float> ClipGradNorm(absl::Span<const OptimizerSlot> slots, float max_norm) {
  if (!std::isfinite(max_norm) || max_norm <= 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("nn::ClipGradNorm: max_norm ", max_norm, " must be finite and > 0"));
  }
  BRAID_ASSIGN_OR_RETURN(double squared, SquaredNorm(slots));
  const double norm = std::sqrt(squared);
  if (!std::isfinite(static_cast<float>(norm))) {
    return absl::DataLossError(
        absl::StrCat("nn::ClipGradNorm: non-finite gradient (norm ", norm, " over ", slots.size(),
                     " slots); skip this optimizer step (and, with f16, lower the loss scale)"));
  }
  const float scale = ClipScale(norm, max_norm);
  if (scale < 1.0f) BRAID_RETURN_IF_ERROR(ScaleGradients(slots, scale));
  return static_cast<float>(norm);
}

}  // namespace braid::nn
