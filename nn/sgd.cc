// Sgd (nn/sgd.h): validation in SlotStates, then one CPU loop per slot over
// kernels/math/optimizer.h.
#include "nn/sgd.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/math/optimizer.h"
#include "runtime/status_macros.h"

namespace braid::nn {
namespace {

std::vector<std::string> SuffixesFor(const SgdOptions& options) {
  if (options.momentum == 0.0f) return {};
  return {"momentum"};
}

template <bool kDecay, bool kMomentum, bool kNesterov, bool kFirst>
void SgdLoop(const kernels::math::SgdConstants& c, const float* __restrict g, float* __restrict p,
             float* __restrict buf, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    kernels::math::SgdUpdate<kDecay, kMomentum, kNesterov, kFirst>(c, g[j], p + j,
                                                                   kMomentum ? buf + j : nullptr);
  }
}

// Calls fn.template operator()<b0, b1, ...>() with the run-time flags turned
// into template arguments.
template <bool... kDone, typename Fn>
void WithFlags(Fn&& fn) {
  fn.template operator()<kDone...>();
}
template <bool... kDone, typename Fn, typename... Rest>
void WithFlags(Fn&& fn, bool flag, Rest... rest) {
  if (flag) {
    WithFlags<kDone..., true>(fn, rest...);
  } else {
    WithFlags<kDone..., false>(fn, rest...);
  }
}

}  // namespace

Sgd::Sgd(const SgdOptions& options) : options_(options), states_("Sgd", SuffixesFor(options)) {}

absl::StatusOr<std::unique_ptr<Sgd>> Sgd::Create(const SgdOptions& options) {
  for (const auto& [name, v] : {std::pair<const char*, float>{"momentum", options.momentum},
                                {"dampening", options.dampening},
                                {"weight_decay", options.weight_decay}}) {
    if (!std::isfinite(v) || v < 0.0f) {
      return absl::InvalidArgumentError(
          absl::StrCat("Sgd::Create: ", name, " = ", v, " must be finite and >= 0"));
    }
  }
  if (options.nesterov && (options.momentum == 0.0f || options.dampening != 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Sgd::Create: Nesterov momentum needs momentum > 0 and dampening == 0 (got momentum ",
        options.momentum, ", dampening ", options.dampening, ")"));
  }
  return std::unique_ptr<Sgd>(new Sgd(options));
}

absl::Status Sgd::Step(absl::Span<const OptimizerSlot> slots, float lr) {
  if (!std::isfinite(lr) || lr < 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("Sgd::Step: learning rate ", lr, " must be finite and >= 0"));
  }
  BRAID_ASSIGN_OR_RETURN(std::vector<absl::Span<const runtime::Tensor>> state,
                         states_.Prepare(slots));
  kernels::math::SgdConstants c;
  c.lr = lr;
  c.momentum = options_.momentum;
  c.one_minus_dampening = static_cast<float>(1.0 - static_cast<double>(options_.dampening));
  c.weight_decay = options_.weight_decay;
  const bool momentum = options_.momentum != 0.0f;
  for (size_t i = 0; i < slots.size(); ++i) {
    const OptimizerSlot& slot = slots[i];
    const float* g = slot.grad.data<float>();
    float* p = slot.value.data<float>();
    float* buf = momentum ? state[i][0].data<float>() : nullptr;
    const int64_t n = slot.value.numel();
    // torch skips the decay term entirely when it is 0 (0 * inf would be NaN).
    const bool decay = slot.weight_decay && options_.weight_decay != 0.0f;
    WithFlags(
        [&]<bool kDecay, bool kMomentum, bool kNesterov, bool kFirst>() {
          SgdLoop<kDecay, kMomentum, kNesterov, kFirst>(c, g, p, buf, n);
        },
        decay, momentum, options_.nesterov, steps_ == 0);
  }
  ++steps_;
  return absl::OkStatus();
}

std::vector<NamedTensor> Sgd::State() { return states_.State(steps_); }

absl::Status Sgd::LoadState(const std::vector<NamedTensor>& state) {
  return states_.LoadState(state, &steps_);
}

}  // namespace braid::nn
