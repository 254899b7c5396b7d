// Per-row embedding math, shared by the CPU loops and the CUDA kernels.
#ifndef BRAID_KERNELS_MATH_EMBEDDING_H_
#define BRAID_KERNELS_MATH_EMBEDDING_H_

#include <cstdint>

#include "runtime/half.h"

namespace braid::kernels::math {

// True when token id `id` names a row of a table with `vocab` rows.
BRAID_HOST_DEVICE inline bool EmbeddingIdValid(int64_t id, int64_t vocab) {
  return id >= 0 && id < vocab;
}

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_EMBEDDING_H_
