// Gather and Scatter by direct sends between the root and each rank,
// pipelined in segments. The root posts its receives (or sends) in rank
// order; since a Send returns once its bytes are in the kernel and receivers
// read eagerly, the order costs no round trips.
#include <algorithm>
#include <cstring>

#include "collectives/tcp/vector_algorithms.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {
namespace {

// Calls fn(offset, length) over `bytes` in segments (once with 0, 0 when empty,
// so an empty chunk is still one message).
template <typename Fn>
absl::Status ForSegments(const OpContext& ctx, size_t bytes, Fn&& fn) {
  const size_t seg = std::max<size_t>(1, ctx.segment_bytes());
  if (bytes == 0) return fn(size_t{0}, size_t{0});
  for (size_t s = 0; s < bytes; s += seg) BRAID_RETURN_IF_ERROR(fn(s, std::min(seg, bytes - s)));
  return absl::OkStatus();
}

}  // namespace

absl::Status GatherDirect(OpContext& ctx, const void* input, void* output, size_t chunk_bytes,
                          int root) {
  const int n = ctx.size();
  const int r = ctx.rank();
  const auto* in = static_cast<const uint8_t*>(input);
  if (r != root) {
    return ForSegments(ctx, chunk_bytes, [&](size_t off, size_t len) {
      return ctx.Send(root, 0, in + off, len, off);
    });
  }
  auto* out = static_cast<uint8_t*>(output);
  uint8_t* own = out + static_cast<size_t>(root) * chunk_bytes;
  if (own != in && chunk_bytes > 0) std::memmove(own, in, chunk_bytes);
  for (int j = 0; j < n; ++j) {
    if (j == root) continue;
    uint8_t* chunk = out + static_cast<size_t>(j) * chunk_bytes;
    BRAID_RETURN_IF_ERROR(ForSegments(ctx, chunk_bytes, [&](size_t off, size_t len) {
      return ctx.Recv(j, 0, chunk + off, len, off);
    }));
  }
  return absl::OkStatus();
}

absl::Status ScatterDirect(OpContext& ctx, const void* input, void* output, size_t chunk_bytes,
                           int root) {
  const int n = ctx.size();
  const int r = ctx.rank();
  auto* out = static_cast<uint8_t*>(output);
  if (r != root) {
    return ForSegments(ctx, chunk_bytes, [&](size_t off, size_t len) {
      return ctx.Recv(root, 0, out + off, len, off);
    });
  }
  const auto* in = static_cast<const uint8_t*>(input);
  for (int j = 0; j < n; ++j) {
    if (j == root) continue;
    const uint8_t* chunk = in + static_cast<size_t>(j) * chunk_bytes;
    BRAID_RETURN_IF_ERROR(ForSegments(ctx, chunk_bytes, [&](size_t off, size_t len) {
      return ctx.Send(j, 0, chunk + off, len, off);
    }));
  }
  const uint8_t* own = in + static_cast<size_t>(root) * chunk_bytes;
  if (own != out && chunk_bytes > 0) std::memmove(out, own, chunk_bytes);
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
