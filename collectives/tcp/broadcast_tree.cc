// Binomial-tree broadcast (MPICH's): with vr the rank relative to the root,
// a rank receives from vr - lowbit(vr) and sends to vr + 2^k for every 2^k
// below its lowest set bit. Each segment is forwarded to the children as soon
// as it arrives, so a large broadcast streams down the tree.
#include <algorithm>

#include "collectives/tcp/algorithms.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {

absl::Status BroadcastTree(OpContext& ctx, void* data, size_t bytes, int root) {
  const int n = ctx.size();
  if (n == 1) return absl::OkStatus();
  const int vr = (ctx.rank() - root + n) % n;
  auto real = [&](int v) { return (v + root) % n; };
  int parent = -1;
  int mask = 1;
  while (mask < n) {
    if (vr & mask) {
      parent = real(vr - mask);
      break;
    }
    mask <<= 1;
  }
  std::vector<int> children;
  for (mask >>= 1; mask > 0; mask >>= 1) {
    if (vr + mask < n) children.push_back(real(vr + mask));
  }
  auto* p = static_cast<uint8_t*>(data);
  const size_t seg = std::max<size_t>(1, ctx.segment_bytes());
  size_t off = 0;
  do {
    const size_t len = std::min(seg, bytes - off);
    if (parent >= 0) BRAID_RETURN_IF_ERROR(ctx.Recv(parent, 0, p + off, len, off));
    for (int child : children) BRAID_RETURN_IF_ERROR(ctx.Send(child, 0, p + off, len, off));
    off += len;
  } while (off < bytes);
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
