#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collectives/tcp/algorithms.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {
namespace {

// Steps of the operation (message tags on the direct channel).
constexpr uint32_t kTagAnnounce = 1;
constexpr uint32_t kTagReduced = 2;
constexpr uint32_t kTagDone = 3;
// The reduce phase reads a peer's piece into a scratch of this size and
// reduces it into this rank's piece: both stay in a core's L2.
constexpr size_t kPieceBytes = 256 * 1024;
// The gather phase copies in pieces of this size, checking for faults between.
constexpr size_t kGatherPieceBytes = 4u << 20;

struct Announce {
  uint64_t input;   // peers read their chunks of it in step 2
  uint64_t output;  // peers read this rank's reduced chunk from it in step 4
  int64_t count;
};

// Every rank sends `data` to every other, then receives theirs.
absl::Status Exchange(OpContext& ctx, uint32_t tag, const void* data, void* out, size_t bytes) {
  const int n = ctx.size();
  const int me = ctx.rank();
  for (int q = 1; q < n; ++q) {
    BRAID_RETURN_IF_ERROR(ctx.ControlSend((me + q) % n, tag, data, bytes));
  }
  for (int q = 1; q < n; ++q) {
    const int p = (me + n - q) % n;
    BRAID_RETURN_IF_ERROR(
        ctx.ControlRecv(p, tag, static_cast<uint8_t*>(out) + static_cast<size_t>(p) * bytes, bytes));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status AllReduceCma(OpContext& ctx, const void* input, void* output, int64_t count,
                          runtime::DType dtype, kernels::ReduceKind kind) {
  const int n = ctx.size();
  const int me = ctx.rank();
  const size_t esize = runtime::SizeOf(dtype);
  auto* bytes = static_cast<uint8_t*>(output);
  const auto* in = static_cast<const uint8_t*>(input);
  if (count == 0) return absl::OkStatus();
  if (n == 1) {
    if (in != bytes) std::memcpy(bytes, in, static_cast<size_t>(count) * esize);
    return absl::OkStatus();
  }
  auto begin = [&](int g) { return count * g / n; };

  // 1. Addresses.
  const Announce mine = {reinterpret_cast<uint64_t>(input), reinterpret_cast<uint64_t>(output),
                         count};
  std::vector<Announce> all(static_cast<size_t>(n));
  BRAID_RETURN_IF_ERROR(Exchange(ctx, kTagAnnounce, &mine, all.data(), sizeof(Announce)));
  for (int p = 0; p < n; ++p) {
    if (p != me && all[p].count != count) {
      return absl::InvalidArgumentError(absl::StrCat("rank ", p, " all-reduces ", all[p].count,
                                                     " elements but this rank ", count));
    }
  }

  // 2. Reduce this rank's chunk, piece by piece, every peer in a fixed order
  // (so runs are bit-identical; each chunk is reduced at one rank only, so
  // ranks agree).
  const int64_t piece = std::max<int64_t>(1, static_cast<int64_t>(kPieceBytes / esize));
  std::vector<uint8_t> scratch(static_cast<size_t>(std::min(piece, begin(me + 1) - begin(me))) *
                               esize);
  for (int64_t at = begin(me); at < begin(me + 1); at += piece) {
    const int64_t m = std::min(piece, begin(me + 1) - at);
    const size_t off = static_cast<size_t>(at) * esize;
    const size_t len = static_cast<size_t>(m) * esize;
    for (int q = 1; q < n; ++q) {
      const int p = (me + q) % n;
      BRAID_RETURN_IF_ERROR(ctx.ReadPeer(p, all[p].input + off, scratch.data(), len));
      // The first peer's piece meets this rank's input piece straight from
      // `input` (out of place: no copy of the whole input into the output).
      BRAID_RETURN_IF_ERROR(q == 1 ? kernels::ReduceTo(bytes + off, in + off, scratch.data(), m,
                                                       dtype, kind)
                                   : kernels::ReduceInto(bytes + off, scratch.data(), m, dtype,
                                                         kind));
    }
    BRAID_RETURN_IF_ERROR(ctx.Interrupted());
  }

  // 3. Everyone's chunk is reduced; peers may now overwrite the chunks we
  // read in step 2 (their step 4).
  BRAID_RETURN_IF_ERROR(Exchange(ctx, kTagReduced, nullptr, nullptr, 0));

  // 4. Gather the reduced chunks.
  for (int q = 1; q < n; ++q) {
    const int p = (me + q) % n;
    const size_t lo = static_cast<size_t>(begin(p)) * esize;
    const size_t hi = static_cast<size_t>(begin(p + 1)) * esize;
    for (size_t at = lo; at < hi; at += kGatherPieceBytes) {
      const size_t len = std::min(kGatherPieceBytes, hi - at);
      BRAID_RETURN_IF_ERROR(ctx.ReadPeer(p, all[p].output + at, bytes + at, len));
    }
    BRAID_RETURN_IF_ERROR(ctx.Interrupted());
  }

  // 5. Nobody reads our buffer any more once everyone says so.
  return Exchange(ctx, kTagDone, nullptr, nullptr, 0);
}

}  // namespace braid::collectives::tcp
