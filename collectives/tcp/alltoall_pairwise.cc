// Pairwise all-to-all(v): in round i = 1..n-1 rank r sends its block for rank
// r+i and receives the block of rank r-i. Sends complete once the bytes are
// in the kernel (receivers read eagerly), so the rounds never deadlock.
#include <cstring>

#include "collectives/tcp/algorithms.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {

absl::Status AllToAllPairwise(OpContext& ctx, const void* input,
                              absl::Span<const size_t> send_offsets,
                              absl::Span<const size_t> send_bytes, void* output,
                              absl::Span<const size_t> recv_offsets,
                              absl::Span<const size_t> recv_bytes) {
  const int n = ctx.size();
  const int r = ctx.rank();
  const auto* in = static_cast<const uint8_t*>(input);
  auto* out = static_cast<uint8_t*>(output);
  if (send_bytes[r] != recv_bytes[r]) {
    return absl::InvalidArgumentError("AllToAllV: this rank's send and receive counts for itself differ");
  }
  if (send_bytes[r] > 0) std::memmove(out + recv_offsets[r], in + send_offsets[r], send_bytes[r]);
  for (int i = 1; i < n; ++i) {
    const int dst = (r + i) % n;
    const int src = (r - i + n) % n;
    BRAID_RETURN_IF_ERROR(
        ctx.Send(dst, static_cast<uint32_t>(i), in + send_offsets[dst], send_bytes[dst]));
    BRAID_RETURN_IF_ERROR(
        ctx.Recv(src, static_cast<uint32_t>(i), out + recv_offsets[src], recv_bytes[src]));
  }
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
