// TcpOptions: the tcp backend's settings, parsed once from
// CommunicatorOptions (including its backend_options map).
//
// backend_options keys (all optional; values are decimal unless noted):
//   "allreduce_algorithm"     "auto" (default), "ring" or "recursive_doubling".
//                             auto: recursive doubling below
//                             small_allreduce_bytes, the segmented ring above;
//                             deterministic mode always uses the ring.
//   "small_allreduce_bytes"   auto's switch point; default 65536.
//   "segment_bytes"           pipelining segment of the rings and the largest
//                             frame payload sent; default 524288 (512 KiB).
//   "heartbeat_interval_ms"   every connection carries a heartbeat this often;
//                             default 100.
//   "heartbeat_misses"        a peer silent for interval x misses is declared
//                             hung and the communicators using it abort;
//                             default 10 (1 s).
//   "checksum"                "1": every frame carries a CRC32C of its payload
//                             and receivers verify it; default "0".
//   "host"                    the address published for peers to connect to;
//                             default: this host's name resolved to IPv4, or
//                             127.0.0.1 when it does not resolve.
//   "ifname"                  BRAID_SOCKET_IFNAME: publish the IPv4 address of
//                             the first of these interfaces (comma separated)
//                             that has one; kInvalidArgument listing this
//                             host's interfaces when none does. Exclusive
//                             with "host".
//   "shm_ring_bytes"          peers that publish the same host exchange
//                             frames through shared-memory rings of this
//                             many bytes per direction (a power of two);
//                             "0" keeps them on TCP; default 2097152.
//   "direct_ring_bytes"       when every rank is on this host: the polled
//                             direct channel's ring per direction (a power
//                             of two); "0" disables the direct channel (and
//                             with it the fast path and CMA); default
//                             1048576. Small operations use it when every
//                             message fits a quarter of it.
//   "fast_path_bytes"         operations whose largest buffer is at most this
//                             run over the direct channel; default 65536;
//                             "0": none do.
//   "caller_thread"           "1" (default): such an operation posted while
//                             the communicator is idle is run by the thread
//                             that Waits for it (tcp_communicator.h, fast
//                             path); "0": the executor thread runs it.
//   "cma"                     "1" (default): all-reduces, all-gathers,
//                             broadcasts and all-to-alls of at least
//                             cma_min_bytes, and every AllToAllV, copy from
//                             peers' buffers directly (process_vm_readv)
//                             when every rank can; "0" keeps them on the
//                             shared-memory ring.
//   "cma_min_bytes"           default 65536 (measured: CMA wins from there,
//                             docs/benchmarks.md).
//   "generation"              extra component of the store keys, so a
//                             restarted job never meets an old one's
//                             addresses; default "0".
// Unknown keys are kInvalidArgument (a typo must not be silently ignored).
#ifndef BRAID_COLLECTIVES_TCP_TCP_OPTIONS_H_
#define BRAID_COLLECTIVES_TCP_TCP_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collectives/factory.h"

namespace braid::collectives::tcp {

enum class AllReduceAlgorithm : uint8_t { kAuto = 0, kRing = 1, kRecursiveDoubling = 2 };

// "auto", "ring", "recursive_doubling".
absl::string_view ToString(AllReduceAlgorithm algorithm);

struct TcpOptions {
  AllReduceAlgorithm allreduce_algorithm = AllReduceAlgorithm::kAuto;
  int64_t small_allreduce_bytes = 65536;
  int64_t segment_bytes = 512 * 1024;
  absl::Duration heartbeat_interval = absl::Milliseconds(100);
  int heartbeat_misses = 10;
  bool checksum = false;
  int64_t shm_ring_bytes = 2 << 20;
  int64_t direct_ring_bytes = 1 << 20;
  int64_t fast_path_bytes = 65536;
  bool caller_thread = true;
  bool cma = true;
  int64_t cma_min_bytes = 65536;
  std::string host;  // resolved at parse time when not given
  std::string generation = "0";
  absl::Duration op_timeout = absl::Minutes(5);
  absl::Duration connect_timeout = absl::Seconds(60);
  bool deterministic = false;
  std::string store_prefix;
};

// Parses `options.backend_options`; kInvalidArgument names a bad key or value.
absl::StatusOr<TcpOptions> ParseTcpOptions(const CommunicatorOptions& options);

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_TCP_OPTIONS_H_
