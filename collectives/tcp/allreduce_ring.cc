// Segmented, pipelined ring all-reduce.
//
// Phase 1 (reduce-scatter), steps s = 0..n-2: rank r sends chunk (r-s) to
// its right neighbour and folds chunk (r-s-1) from its left one into its
// buffer; afterwards it holds the full reduction of chunk (r+1).
// Phase 2 (all-gather), steps s = 0..n-2: it sends chunk (r+1-s) and
// receives chunk (r-s). Each chunk moves in segments, and a segment is
// forwarded as soon as it has been reduced, so the next hop starts before the
// whole chunk arrived. Chunk c's reduction happens in a fixed order (starting
// at rank c+1 around the ring) and is computed once, so every rank gets the
// same bits.
#include <algorithm>

#include "collectives/tcp/algorithms.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {

absl::Status AllReduceRing(OpContext& ctx, void* data, int64_t count, runtime::DType dtype,
                           kernels::ReduceKind kind) {
  const int n = ctx.size();
  const int r = ctx.rank();
  if (n == 1) return absl::OkStatus();
  const size_t esize = runtime::SizeOf(dtype);
  auto* base = static_cast<uint8_t*>(data);
  const int left = (r - 1 + n) % n;
  const int right = (r + 1) % n;
  const int64_t seg = std::max<int64_t>(1, static_cast<int64_t>(ctx.segment_bytes() / esize));
  auto begin = [&](int c) { return count * c / n; };
  auto mod = [n](int x) { return ((x % n) + n) % n; };
  // Visits the segments [first, first + len) of chunk c.
  auto for_segments = [&](int c, auto&& fn) -> absl::Status {
    const int64_t b = begin(c);
    const int64_t e = begin(c + 1);
    if (b == e) return fn(b, int64_t{0}, uint64_t{0});
    for (int64_t s = b; s < e; s += seg) {
      const int64_t len = std::min(seg, e - s);
      BRAID_RETURN_IF_ERROR(fn(s, len, static_cast<uint64_t>((s - b) * esize)));
    }
    return absl::OkStatus();
  };
  const uint32_t gather_tag0 = static_cast<uint32_t>(n - 1);

  // Step 0 of phase 1: this rank's own chunk.
  BRAID_RETURN_IF_ERROR(for_segments(r, [&](int64_t first, int64_t len, uint64_t off) {
    return ctx.Send(right, 0, base + first * esize, len * esize, off);
  }));
  for (int s = 0; s <= n - 2; ++s) {
    const int c = mod(r - s - 1);
    BRAID_RETURN_IF_ERROR(for_segments(c, [&](int64_t first, int64_t len, uint64_t off) {
      uint8_t* p = base + first * esize;
      BRAID_RETURN_IF_ERROR(ctx.RecvReduce(left, static_cast<uint32_t>(s), p, len, dtype, kind, off));
      // Forward at once: to the next reduce step, or (last step) as the first
      // all-gather step of the now complete chunk.
      const uint32_t next = s < n - 2 ? static_cast<uint32_t>(s + 1) : gather_tag0;
      return ctx.Send(right, next, p, len * esize, off);
    }));
  }
  for (int s = 0; s <= n - 2; ++s) {
    const int c = mod(r - s);
    BRAID_RETURN_IF_ERROR(for_segments(c, [&](int64_t first, int64_t len, uint64_t off) {
      uint8_t* p = base + first * esize;
      BRAID_RETURN_IF_ERROR(ctx.Recv(left, gather_tag0 + s, p, len * esize, off));
      if (s < n - 2) return ctx.Send(right, gather_tag0 + s + 1, p, len * esize, off);
      return absl::OkStatus();
    }));
  }
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
