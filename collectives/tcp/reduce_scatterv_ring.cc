// Ring reduce-scatter with per-rank chunk sizes (ReduceScatterV), pipelined
// in segments; the same schedule as reduce_scatter_ring.cc.
//
// At step s = 0..n-2 rank r sends the partial reduction of chunk (r-s-1) to
// its right neighbour and receives the partial of chunk (r-s-2) from its left
// one, which it folds into its own input (into a scratch chunk, or into the
// output at the last step, when the chunk is r). Chunk c is reduced in the
// fixed order c+1, c+2, ..., c: the result is identical across runs.
#include <algorithm>
#include <cstring>
#include <vector>

#include "collectives/tcp/vector_algorithms.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {

absl::Status ReduceScatterVRing(OpContext& ctx, const void* input, void* output,
                                absl::Span<const int64_t> offsets,
                                absl::Span<const int64_t> counts, runtime::DType dtype,
                                kernels::ReduceKind kind) {
  const int n = ctx.size();
  const int r = ctx.rank();
  const size_t esize = runtime::SizeOf(dtype);
  const auto* in = static_cast<const uint8_t*>(input);
  auto chunk_at = [&](int c) { return in + static_cast<size_t>(offsets[c]) * esize; };
  if (n == 1) {
    if (output != input && counts[0] > 0) {
      std::memmove(output, input, static_cast<size_t>(counts[0]) * esize);
    }
    return absl::OkStatus();
  }
  const int left = (r - 1 + n) % n;
  const int right = (r + 1) % n;
  auto mod = [n](int x) { return ((x % n) + n) % n; };
  const int64_t seg = std::max<int64_t>(1, static_cast<int64_t>(ctx.segment_bytes() / esize));
  const int64_t largest = *std::max_element(counts.begin(), counts.end());
  std::vector<uint8_t> scratch(n > 2 ? static_cast<size_t>(largest) * esize : 0);
  auto for_segments = [&](int64_t count, auto&& fn) -> absl::Status {
    if (count == 0) return fn(int64_t{0}, int64_t{0});
    for (int64_t s = 0; s < count; s += seg) {
      BRAID_RETURN_IF_ERROR(fn(s, std::min(seg, count - s)));
    }
    return absl::OkStatus();
  };

  const int first = mod(r - 1);
  BRAID_RETURN_IF_ERROR(for_segments(counts[first], [&](int64_t at, int64_t len) {
    return ctx.Send(right, 0, chunk_at(first) + at * esize, len * esize, at * esize);
  }));
  for (int s = 0; s <= n - 2; ++s) {
    const int c = mod(r - s - 2);
    const uint8_t* mine = chunk_at(c);
    uint8_t* acc = s == n - 2 ? static_cast<uint8_t*>(output) : scratch.data();
    BRAID_RETURN_IF_ERROR(for_segments(counts[c], [&](int64_t at, int64_t len) {
      const size_t off = static_cast<size_t>(at) * esize;
      if (acc + off != mine + off && len > 0) std::memmove(acc + off, mine + off, len * esize);
      BRAID_RETURN_IF_ERROR(ctx.RecvReduce(left, static_cast<uint32_t>(s), acc + off, len, dtype,
                                           kind, off));
      if (s < n - 2) {
        return ctx.Send(right, static_cast<uint32_t>(s + 1), acc + off, len * esize, off);
      }
      return absl::OkStatus();
    }));
  }
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
