// The order of kernels/topk.h, shared by the CPU sort and the CUDA kernel:
// larger value first, NaN above every number, equal values by lower index.
#ifndef BRAID_KERNELS_MATH_TOPK_H_
#define BRAID_KERNELS_MATH_TOPK_H_

#include <cstdint>

#include "runtime/half.h"

namespace braid::kernels::math {

// True when (value_a at index_a) comes before (value_b at index_b) in top-k
// order. A strict total order on (value, index) pairs.
BRAID_HOST_DEVICE inline bool TopKBefore(float value_a, int64_t index_a, float value_b,
                                         int64_t index_b) {
  const bool nan_a = value_a != value_a;
  const bool nan_b = value_b != value_b;
  if (nan_a != nan_b) return nan_a;
  if (!nan_a && value_a != value_b) return value_a > value_b;
  return index_a < index_b;
}

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_TOPK_H_
