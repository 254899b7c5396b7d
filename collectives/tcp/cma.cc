// Cross-memory-attach (process_vm_readv) collectives for worlds whose ranks
// all share one host: control messages over the direct channel, data copied
// straight from the peer's buffer. A process only ever reads other
// processes' memory, never writes it, so a rank that gives up on an
// operation (an error, its timeout, Abort) may reuse its buffers at once.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "collectives/tcp/algorithms.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {
namespace {

// Steps of an operation (message tags on the direct channel).
constexpr uint32_t kTagAddress = 1;  // where a rank's buffers are
constexpr uint32_t kTagDone = 2;     // a rank no longer reads its peers' buffers
constexpr uint32_t kTagReady = 3;    // all-reduce: + the index of a reduced group
// A chunk's pieces form at most this many groups, each announced by one
// direct-channel record, so one operation's records to a peer stay far
// below the ring's capacity whatever the size.
constexpr int64_t kMaxNotices = 64;
// The reduce phase reads a peer's piece into a scratch of this size and
// reduces it into this rank's piece: both stay in a core's L2.
constexpr size_t kPieceBytes = 256 * 1024;

struct Announce {
  uint64_t input;   // peers read their chunks of it in step 2
  uint64_t output;  // peers copy this rank's reduced chunk from it in step 2
  int64_t count;
};

// Copies of at most this size, checking for faults between them.
constexpr size_t kCopyPieceBytes = 4u << 20;

// Copies `bytes` from `remote` in group rank `peer` to `local` in pieces.
absl::Status CopyFromPeer(OpContext& ctx, int peer, uint64_t remote, uint8_t* local, size_t bytes) {
  for (size_t at = 0; at < bytes; at += kCopyPieceBytes) {
    BRAID_RETURN_IF_ERROR(ctx.ReadPeer(peer, remote + at, local + at,
                                       std::min(kCopyPieceBytes, bytes - at)));
    BRAID_RETURN_IF_ERROR(ctx.Interrupted());
  }
  return absl::OkStatus();
}

struct Buffer {
  uint64_t address;
  uint64_t bytes;
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
  BRAID_RETURN_IF_ERROR(Exchange(ctx, kTagAddress, &mine, all.data(), sizeof(Announce)));
  for (int p = 0; p < n; ++p) {
    if (p != me && all[p].count != count) {
      return absl::InvalidArgumentError(absl::StrCat("rank ", p, " all-reduces ", all[p].count,
                                                     " elements but this rank ", count));
    }
  }

  // 2. Chunk g is reduced at rank g only, piece by piece, every peer in a
  // fixed order (so ranks agree and runs are bit-identical). Its pieces form
  // at most kMaxNotices groups; after each group rank g tells every peer
  // "group j ready" and the peers copy it from g's output while it is still
  // in the shared cache. Rounds interleave: in round j this rank reduces
  // its group j, announces it, then pulls every peer's group j. A process
  // only ever reads another's memory: a peer that gave up on the operation
  // may reuse its buffers at once, and a slow rank can never write into
  // them. In place, this rank overwrites its copy of chunk p's group j only
  // after rank p announced it, i.e. after p read it.
  const int64_t piece = std::max<int64_t>(1, static_cast<int64_t>(kPieceBytes / esize));
  auto groups = [&](int g) {
    const int64_t pieces = (begin(g + 1) - begin(g) + piece - 1) / piece;
    const int64_t per_group = std::max<int64_t>(1, (pieces + kMaxNotices - 1) / kMaxNotices);
    return std::pair<int64_t, int64_t>((pieces + per_group - 1) / per_group, per_group * piece);
  };
  // Elements [first, last) of chunk g's group j.
  auto group_range = [&](int g, int64_t j) {
    const int64_t group_elems = groups(g).second;
    const int64_t first = begin(g) + j * group_elems;
    return std::pair<int64_t, int64_t>(first, std::min(first + group_elems, begin(g + 1)));
  };
  int64_t rounds = 0;
  for (int g = 0; g < n; ++g) rounds = std::max(rounds, groups(g).first);
  std::vector<uint8_t> scratch(static_cast<size_t>(std::min(piece, begin(me + 1) - begin(me))) *
                               esize);
  for (int64_t j = 0; j < rounds; ++j) {
    const uint32_t ready_tag = kTagReady + static_cast<uint32_t>(j);
    if (j < groups(me).first) {
      const auto [first, last] = group_range(me, j);
      for (int64_t at = first; at < last; at += piece) {
        const int64_t m = std::min(piece, last - at);
        const size_t off = static_cast<size_t>(at) * esize;
        const size_t len = static_cast<size_t>(m) * esize;
        for (int q = 1; q < n; ++q) {
          const int p = (me + q) % n;
          BRAID_RETURN_IF_ERROR(ctx.ReadPeer(p, all[p].input + off, scratch.data(), len));
          // The first peer's piece meets this rank's input piece straight
          // from `input` (out of place: no copy of the whole input first).
          BRAID_RETURN_IF_ERROR(q == 1 ? kernels::ReduceTo(bytes + off, in + off, scratch.data(),
                                                           m, dtype, kind)
                                       : kernels::ReduceInto(bytes + off, scratch.data(), m,
                                                             dtype, kind));
        }
      }
      for (int q = 1; q < n; ++q) {
        BRAID_RETURN_IF_ERROR(ctx.ControlSend((me + q) % n, ready_tag, nullptr, 0));
      }
    }
    for (int q = 1; q < n; ++q) {
      const int p = (me + n - q) % n;
      if (j >= groups(p).first) continue;
      BRAID_RETURN_IF_ERROR(ctx.ControlRecv(p, ready_tag, nullptr, 0));
      const auto [first, last] = group_range(p, j);
      const size_t off = static_cast<size_t>(first) * esize;
      BRAID_RETURN_IF_ERROR(ctx.ReadPeer(p, all[p].output + off, bytes + off,
                                         static_cast<size_t>(last - first) * esize));
    }
    BRAID_RETURN_IF_ERROR(ctx.Interrupted());
  }

  // 3. Nobody reads our buffers any more once everyone says so.
  return Exchange(ctx, kTagDone, nullptr, nullptr, 0);
}

absl::Status AllGatherCma(OpContext& ctx, const void* input, void* output, size_t chunk_bytes) {
  const int n = ctx.size();
  const int me = ctx.rank();
  auto* out = static_cast<uint8_t*>(output);
  if (chunk_bytes == 0) return absl::OkStatus();
  // 1. Input addresses.
  const Buffer mine = {reinterpret_cast<uint64_t>(input), chunk_bytes};
  std::vector<Buffer> all(static_cast<size_t>(n));
  BRAID_RETURN_IF_ERROR(Exchange(ctx, kTagAddress, &mine, all.data(), sizeof(Buffer)));
  for (int p = 0; p < n; ++p) {
    if (p != me && all[p].bytes != chunk_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("rank ", p, " all-gathers ", all[p].bytes,
                                                     " bytes per rank but this rank ",
                                                     chunk_bytes));
    }
  }
  // 2. Every peer's input straight into its chunk of our output (ours by
  // memcpy unless in place). In place, peers read our chunk `me`, which we
  // never write.
  uint8_t* own = out + static_cast<size_t>(me) * chunk_bytes;
  if (own != input) std::memcpy(own, input, chunk_bytes);
  for (int q = 1; q < n; ++q) {
    const int p = (me + q) % n;
    BRAID_RETURN_IF_ERROR(
        CopyFromPeer(ctx, p, all[p].address, out + static_cast<size_t>(p) * chunk_bytes,
                     chunk_bytes));
  }
  // 3. Nobody reads our input any more once everyone says so.
  return Exchange(ctx, kTagDone, nullptr, nullptr, 0);
}

absl::Status BroadcastCma(OpContext& ctx, void* data, size_t bytes, int root) {
  const int n = ctx.size();
  const int me = ctx.rank();
  if (bytes == 0 || n == 1) return absl::OkStatus();
  if (me == root) {
    // The root's buffer is read by everyone; it returns once all have it.
    const Buffer mine = {reinterpret_cast<uint64_t>(data), bytes};
    for (int q = 1; q < n; ++q) {
      BRAID_RETURN_IF_ERROR(ctx.ControlSend((me + q) % n, kTagAddress, &mine, sizeof(mine)));
    }
    for (int q = 1; q < n; ++q) {
      BRAID_RETURN_IF_ERROR(ctx.ControlRecv((me + q) % n, kTagDone, nullptr, 0));
    }
    return absl::OkStatus();
  }
  Buffer from;
  BRAID_RETURN_IF_ERROR(ctx.ControlRecv(root, kTagAddress, &from, sizeof(from)));
  if (from.bytes != bytes) {
    return absl::InvalidArgumentError(absl::StrCat("the root broadcasts ", from.bytes,
                                                   " bytes but this rank expects ", bytes));
  }
  BRAID_RETURN_IF_ERROR(CopyFromPeer(ctx, root, from.address, static_cast<uint8_t*>(data), bytes));
  return ctx.ControlSend(root, kTagDone, nullptr, 0);
}

absl::Status AllToAllCma(OpContext& ctx, const void* input, absl::Span<const size_t> send_offsets,
                         absl::Span<const size_t> send_bytes, void* output,
                         absl::Span<const size_t> recv_offsets,
                         absl::Span<const size_t> recv_bytes) {
  const int n = ctx.size();
  const int me = ctx.rank();
  const auto* in = static_cast<const uint8_t*>(input);
  auto* out = static_cast<uint8_t*>(output);
  // 1. Tell every peer where its block of our input is.
  for (int q = 1; q < n; ++q) {
    const int p = (me + q) % n;
    const Buffer block = {reinterpret_cast<uint64_t>(in + send_offsets[p]), send_bytes[p]};
    BRAID_RETURN_IF_ERROR(ctx.ControlSend(p, kTagAddress, &block, sizeof(block)));
  }
  if (send_bytes[me] != recv_bytes[me]) {
    return absl::InvalidArgumentError(absl::StrCat("this rank sends itself ", send_bytes[me],
                                                   " bytes but expects ", recv_bytes[me]));
  }
  if (send_bytes[me] > 0) std::memcpy(out + recv_offsets[me], in + send_offsets[me], send_bytes[me]);
  // 2. Copy every peer's block for us straight from its input.
  for (int q = 1; q < n; ++q) {
    const int p = (me + n - q) % n;
    Buffer block;
    BRAID_RETURN_IF_ERROR(ctx.ControlRecv(p, kTagAddress, &block, sizeof(block)));
    if (block.bytes != recv_bytes[p]) {
      return absl::InvalidArgumentError(absl::StrCat("rank ", p, " sends this rank ",
                                                     block.bytes, " bytes but it expects ",
                                                     recv_bytes[p]));
    }
    BRAID_RETURN_IF_ERROR(CopyFromPeer(ctx, p, block.address, out + recv_offsets[p], block.bytes));
  }
  // 3. Nobody reads our input any more once everyone says so.
  return Exchange(ctx, kTagDone, nullptr, nullptr, 0);
}

}  // namespace braid::collectives::tcp
