// Dissemination barrier: in round k rank r signals r + 2^k and waits for
// r - 2^k; after ceil(log2 n) rounds every rank has heard, transitively,
// from every other.
#include "collectives/tcp/algorithms.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {

absl::Status BarrierDissemination(OpContext& ctx) {
  const int n = ctx.size();
  const int r = ctx.rank();
  uint32_t round = 0;
  for (int k = 1; k < n; k <<= 1, ++round) {
    BRAID_RETURN_IF_ERROR(ctx.Send((r + k) % n, round, nullptr, 0));
    BRAID_RETURN_IF_ERROR(ctx.Recv((r - k + n) % n, round, nullptr, 0));
  }
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
