// Ring all-gather, pipelined in segments: at step s rank r forwards chunk
// (r-s) to its right neighbour and receives chunk (r-s-1) from its left one,
// straight into the output.
#include <algorithm>
#include <cstring>

#include "collectives/tcp/algorithms.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {

absl::Status AllGatherRing(OpContext& ctx, const void* input, void* output, size_t chunk_bytes) {
  const int n = ctx.size();
  const int r = ctx.rank();
  auto* out = static_cast<uint8_t*>(output);
  uint8_t* own = out + static_cast<size_t>(r) * chunk_bytes;
  if (own != input && chunk_bytes > 0) std::memmove(own, input, chunk_bytes);
  if (n == 1) return absl::OkStatus();
  const int left = (r - 1 + n) % n;
  const int right = (r + 1) % n;
  auto mod = [n](int x) { return ((x % n) + n) % n; };
  const size_t seg = std::max<size_t>(1, ctx.segment_bytes());
  auto for_segments = [&](auto&& fn) -> absl::Status {
    if (chunk_bytes == 0) return fn(size_t{0}, size_t{0});
    for (size_t s = 0; s < chunk_bytes; s += seg) {
      BRAID_RETURN_IF_ERROR(fn(s, std::min(seg, chunk_bytes - s)));
    }
    return absl::OkStatus();
  };
  BRAID_RETURN_IF_ERROR(
      for_segments([&](size_t off, size_t len) { return ctx.Send(right, 0, own + off, len, off); }));
  for (int s = 0; s <= n - 2; ++s) {
    uint8_t* chunk = out + static_cast<size_t>(mod(r - s - 1)) * chunk_bytes;
    BRAID_RETURN_IF_ERROR(for_segments([&](size_t off, size_t len) {
      BRAID_RETURN_IF_ERROR(ctx.Recv(left, static_cast<uint32_t>(s), chunk + off, len, off));
      if (s < n - 2) return ctx.Send(right, static_cast<uint32_t>(s + 1), chunk + off, len, off);
      return absl::OkStatus();
    }));
  }
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
