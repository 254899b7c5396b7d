// Recursive-doubling all-reduce for small messages.
//
// With p the largest power of two <= n and rem = n - p, the first 2*rem ranks
// pair up: each even one sends its data to the odd one above it and sits out.
// The p remaining ranks exchange their whole buffer with the partner at
// distance 1, 2, 4, ... and combine (lower rank's data first, so both
// partners compute the same bits). Finally the odd ranks hand the result back
// to the even ranks that sat out.
#include <vector>

#include "collectives/tcp/algorithms.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {

absl::Status AllReduceRecursiveDoubling(OpContext& ctx, void* data, int64_t count,
                                        runtime::DType dtype, kernels::ReduceKind kind) {
  const int n = ctx.size();
  const int r = ctx.rank();
  if (n == 1) return absl::OkStatus();
  const size_t bytes = static_cast<size_t>(count) * runtime::SizeOf(dtype);
  int p = 1;
  while (p * 2 <= n) p *= 2;
  const int rem = n - p;
  constexpr uint32_t kFoldTag = 0;
  constexpr uint32_t kUnfoldTag = 63;
  std::vector<uint8_t> tmp(bytes);

  int vr;  // rank among the p that take part in the doubling, or -1
  if (r < 2 * rem) {
    if (r % 2 == 0) {
      BRAID_RETURN_IF_ERROR(ctx.Send(r + 1, kFoldTag, data, bytes));
      vr = -1;
    } else {
      BRAID_RETURN_IF_ERROR(ctx.Recv(r - 1, kFoldTag, tmp.data(), bytes));
      BRAID_RETURN_IF_ERROR(kernels::ReduceTo(data, tmp.data(), data, count, dtype, kind));
      vr = r / 2;
    }
  } else {
    vr = r - rem;
  }
  if (vr >= 0) {
    uint32_t step = 1;
    for (int mask = 1; mask < p; mask <<= 1, ++step) {
      const int partner_vr = vr ^ mask;
      const int partner = partner_vr < rem ? partner_vr * 2 + 1 : partner_vr + rem;
      BRAID_RETURN_IF_ERROR(ctx.Send(partner, step, data, bytes));
      BRAID_RETURN_IF_ERROR(ctx.Recv(partner, step, tmp.data(), bytes));
      if (partner < r) {
        BRAID_RETURN_IF_ERROR(kernels::ReduceTo(data, tmp.data(), data, count, dtype, kind));
      } else {
        BRAID_RETURN_IF_ERROR(kernels::ReduceTo(data, data, tmp.data(), count, dtype, kind));
      }
    }
  }
  if (r < 2 * rem) {
    if (r % 2 == 1) {
      BRAID_RETURN_IF_ERROR(ctx.Send(r - 1, kUnfoldTag, data, bytes));
    } else {
      BRAID_RETURN_IF_ERROR(ctx.Recv(r + 1, kUnfoldTag, data, bytes));
    }
  }
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
