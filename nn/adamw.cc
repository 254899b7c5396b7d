// AdamW (nn/adamw.h): validation in SlotStates, per-step constants in double,
// then one CPU loop per slot over kernels/math/optimizer.h.
#include "nn/adamw.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/math/optimizer.h"
#include "runtime/status_macros.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace braid::nn {
namespace {

// One AdamW update of n elements: kernels::math::AdamWUpdate, four lanes at a
// time with SSE2 where available (baseline on x86-64). GCC does not vectorise
// the scalar loop itself: std::sqrt may set errno. The vector body performs
// exactly AdamWUpdate's IEEE operations in the same order (no FMA), so it is
// bit-identical to the scalar tail (adamw_test checks it).
void AdamWLoop(const kernels::math::AdamWConstants& c, const float* __restrict g,
               float* __restrict p, float* __restrict m, float* __restrict v, int64_t n) {
  int64_t j = 0;
#if defined(__SSE2__)
  const __m128 decay = _mm_set1_ps(c.decay);
  const __m128 one_minus_beta1 = _mm_set1_ps(c.one_minus_beta1);
  const __m128 beta2 = _mm_set1_ps(c.beta2);
  const __m128 one_minus_beta2 = _mm_set1_ps(c.one_minus_beta2);
  const __m128 step_size = _mm_set1_ps(c.step_size);
  const __m128 bias2_sqrt = _mm_set1_ps(c.bias2_sqrt);
  const __m128 eps = _mm_set1_ps(c.eps);
  for (; j + 4 <= n; j += 4) {
    const __m128 gj = _mm_loadu_ps(g + j);
    const __m128 mj = _mm_loadu_ps(m + j);
    const __m128 vj = _mm_loadu_ps(v + j);
    const __m128 pd = _mm_mul_ps(_mm_loadu_ps(p + j), decay);
    const __m128 m_new = _mm_add_ps(mj, _mm_mul_ps(one_minus_beta1, _mm_sub_ps(gj, mj)));
    const __m128 v_new =
        _mm_add_ps(_mm_mul_ps(vj, beta2), _mm_mul_ps(_mm_mul_ps(one_minus_beta2, gj), gj));
    const __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(v_new), bias2_sqrt), eps);
    _mm_storeu_ps(m + j, m_new);
    _mm_storeu_ps(v + j, v_new);
    _mm_storeu_ps(p + j, _mm_sub_ps(pd, _mm_div_ps(_mm_mul_ps(step_size, m_new), denom)));
  }
#endif
  for (; j < n; ++j) kernels::math::AdamWUpdate(c, g[j], p + j, m + j, v + j);
}

}  // namespace

AdamW::AdamW(const AdamWOptions& options)
    : options_(options), states_("AdamW", {"exp_avg", "exp_avg_sq"}) {}

absl::StatusOr<std::unique_ptr<AdamW>> AdamW::Create(const AdamWOptions& options) {
  for (const auto& [name, v] :
       {std::pair<const char*, float>{"beta1", options.beta1}, {"beta2", options.beta2}}) {
    if (!(v >= 0.0f && v < 1.0f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("AdamW::Create: ", name, " = ", v, " must be in [0, 1)"));
    }
  }
  for (const auto& [name, v] : {std::pair<const char*, float>{"eps", options.eps},
                                {"weight_decay", options.weight_decay}}) {
    if (!std::isfinite(v) || v < 0.0f) {
      return absl::InvalidArgumentError(
          absl::StrCat("AdamW::Create: ", name, " = ", v, " must be finite and >= 0"));
    }
  }
  return std::unique_ptr<AdamW>(new AdamW(options));
}

absl::Status AdamW::Step(absl::Span<const OptimizerSlot> slots, float lr) {
  if (!std::isfinite(lr) || lr < 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("AdamW::Step: learning rate ", lr, " must be finite and >= 0"));
  }
  BRAID_ASSIGN_OR_RETURN(std::vector<absl::Span<const runtime::Tensor>> state,
                         states_.Prepare(slots));
  const double t = static_cast<double>(steps_ + 1);
  const double beta1 = options_.beta1;
  const double beta2 = options_.beta2;
  kernels::math::AdamWConstants c;
  c.one_minus_beta1 = static_cast<float>(1.0 - beta1);
  c.beta2 = options_.beta2;
  c.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  c.step_size = static_cast<float>(static_cast<double>(lr) / (1.0 - std::pow(beta1, t)));
  c.bias2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, t)));
  c.eps = options_.eps;
  const float decay = static_cast<float>(1.0 - static_cast<double>(lr) *
                                                   static_cast<double>(options_.weight_decay));
  for (size_t i = 0; i < slots.size(); ++i) {
    const OptimizerSlot& slot = slots[i];
    c.decay = slot.weight_decay ? decay : 1.0f;
    const float* g = slot.grad.data<float>();
    float* p = slot.value.data<float>();
    float* m = state[i][0].data<float>();
    float* v = state[i][1].data<float>();
    const int64_t n = slot.value.numel();
    AdamWLoop(c, g, p, m, v, n);
  }
  ++steps_;
  return absl::OkStatus();
}

std::vector<NamedTensor> AdamW::State() { return states_.State(steps_); }

absl::Status AdamW::LoadState(const std::vector<NamedTensor>& state) {
  return states_.LoadState(state, &steps_);
}

}  // namespace braid::nn
