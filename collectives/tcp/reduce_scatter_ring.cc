// Ring reduce-scatter, pipelined in segments.
//
// At step s = 0..n-2 rank r sends the partial reduction of chunk (r-s-1) to
// its right neighbour and receives the partial of chunk (r-s-2) from its left
// one, which it folds into its own input (into a scratch chunk, or into the
// output at the last step, when the chunk is r). Chunk c is reduced in the
// fixed order c+1, c+2, ..., c: the result is identical across runs.
#include <algorithm>
#include <cstring>
#include <vector>

#include "collectives/tcp/algorithms.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {

absl::Status ReduceScatterRing(OpContext& ctx, const void* input, void* output,
                               int64_t chunk_count, runtime::DType dtype,
                               kernels::ReduceKind kind) {
  const int n = ctx.size();
  const int r = ctx.rank();
  const size_t esize = runtime::SizeOf(dtype);
  const size_t chunk_bytes = static_cast<size_t>(chunk_count) * esize;
  const auto* in = static_cast<const uint8_t*>(input);
  if (n == 1) {
    if (output != input && chunk_bytes > 0) std::memmove(output, input, chunk_bytes);
    return absl::OkStatus();
  }
  const int left = (r - 1 + n) % n;
  const int right = (r + 1) % n;
  auto mod = [n](int x) { return ((x % n) + n) % n; };
  const int64_t seg = std::max<int64_t>(1, static_cast<int64_t>(ctx.segment_bytes() / esize));
  std::vector<uint8_t> scratch(n > 2 ? chunk_bytes : 0);
  auto for_segments = [&](auto&& fn) -> absl::Status {
    if (chunk_count == 0) return fn(int64_t{0}, int64_t{0});
    for (int64_t s = 0; s < chunk_count; s += seg) {
      BRAID_RETURN_IF_ERROR(fn(s, std::min(seg, chunk_count - s)));
    }
    return absl::OkStatus();
  };

  const uint8_t* first_chunk = in + static_cast<size_t>(mod(r - 1)) * chunk_bytes;
  BRAID_RETURN_IF_ERROR(for_segments([&](int64_t first, int64_t len) {
    return ctx.Send(right, 0, first_chunk + first * esize, len * esize, first * esize);
  }));
  for (int s = 0; s <= n - 2; ++s) {
    const int c = mod(r - s - 2);
    const uint8_t* mine = in + static_cast<size_t>(c) * chunk_bytes;
    uint8_t* acc = s == n - 2 ? static_cast<uint8_t*>(output) : scratch.data();
    BRAID_RETURN_IF_ERROR(for_segments([&](int64_t first, int64_t len) {
      const size_t off = static_cast<size_t>(first) * esize;
      if (acc + off != mine + off && len > 0) std::memmove(acc + off, mine + off, len * esize);
      BRAID_RETURN_IF_ERROR(ctx.RecvReduce(left, static_cast<uint32_t>(s), acc + off, len, dtype,
                                           kind, off));
      if (s < n - 2) return ctx.Send(right, static_cast<uint32_t>(s + 1), acc + off, len * esize, off);
      return absl::OkStatus();
    }));
  }
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
