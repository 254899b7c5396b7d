// SlotsOf (nn/optimizer.h).
#include "nn/optimizer.h"

#include <vector>

namespace braid::nn {

std::vector<OptimizerSlot> SlotsOf(const std::vector<NamedParameter>& parameters) {
  std::vector<OptimizerSlot> slots;
  slots.reserve(parameters.size());
  for (const NamedParameter& p : parameters) {
    slots.push_back(OptimizerSlot{.name = p.name,
                                  .value = p.parameter->value,
                                  .grad = p.parameter->grad,
                                  .weight_decay = p.parameter->weight_decay});
  }
  return slots;
}

}  // namespace braid::nn
