// Ring all-gather with per-rank chunk sizes (AllGatherV), pipelined in
// segments: at step s rank r forwards chunk (r-s) to its right neighbour and
// receives chunk (r-s-1) from its left one, straight into the output. Empty
// chunks still send an empty message, so every step has one per neighbour.
#include <algorithm>
#include <cstring>

#include "collectives/tcp/vector_algorithms.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {

absl::Status AllGatherVRing(OpContext& ctx, const void* input, void* output,
                            absl::Span<const size_t> offsets, absl::Span<const size_t> bytes) {
  const int n = ctx.size();
  const int r = ctx.rank();
  auto* out = static_cast<uint8_t*>(output);
  uint8_t* own = out + offsets[r];
  if (own != input && bytes[r] > 0) std::memmove(own, input, bytes[r]);
  if (n == 1) return absl::OkStatus();
  const int left = (r - 1 + n) % n;
  const int right = (r + 1) % n;
  auto mod = [n](int x) { return ((x % n) + n) % n; };
  const size_t seg = std::max<size_t>(1, ctx.segment_bytes());
  auto for_segments = [&](size_t len_total, auto&& fn) -> absl::Status {
    if (len_total == 0) return fn(size_t{0}, size_t{0});
    for (size_t s = 0; s < len_total; s += seg) {
      BRAID_RETURN_IF_ERROR(fn(s, std::min(seg, len_total - s)));
    }
    return absl::OkStatus();
  };
  BRAID_RETURN_IF_ERROR(for_segments(
      bytes[r], [&](size_t off, size_t len) { return ctx.Send(right, 0, own + off, len, off); }));
  for (int s = 0; s <= n - 2; ++s) {
    const int c = mod(r - s - 1);
    uint8_t* chunk = out + offsets[c];
    BRAID_RETURN_IF_ERROR(for_segments(bytes[c], [&](size_t off, size_t len) {
      BRAID_RETURN_IF_ERROR(ctx.Recv(left, static_cast<uint32_t>(s), chunk + off, len, off));
      if (s < n - 2) return ctx.Send(right, static_cast<uint32_t>(s + 1), chunk + off, len, off);
      return absl::OkStatus();
    }));
  }
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
