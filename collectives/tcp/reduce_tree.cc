// Binomial-tree reduce to a root: with vr the rank relative to the root, a
// rank folds in the partial results of vr + 1, vr + 2, vr + 4, ... (while its
// bit is clear) and then sends its partial to vr - lowbit(vr). The order of
// the fold is fixed by the tree: the result is identical across runs.
#include <cstring>
#include <vector>

#include "collectives/tcp/algorithms.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {

absl::Status ReduceTree(OpContext& ctx, const void* input, void* output, int64_t count,
                        runtime::DType dtype, kernels::ReduceKind kind, int root) {
  const int n = ctx.size();
  const size_t bytes = static_cast<size_t>(count) * runtime::SizeOf(dtype);
  const int vr = (ctx.rank() - root + n) % n;
  std::vector<uint8_t> scratch;
  uint8_t* acc;
  if (vr == 0) {
    acc = static_cast<uint8_t*>(output);
  } else {
    scratch.resize(bytes);
    acc = scratch.data();
  }
  if (acc != input && bytes > 0) std::memmove(acc, input, bytes);
  for (int mask = 1; mask < n; mask <<= 1) {
    if (vr & mask) {
      return ctx.Send((vr - mask + root) % n, 0, acc, bytes);
    }
    if (vr + mask < n) {
      BRAID_RETURN_IF_ERROR(ctx.RecvReduce((vr + mask + root) % n, 0, acc, count, dtype, kind));
    }
  }
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
