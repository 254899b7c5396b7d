#include "collectives/tcp/tcp_options.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collectives/tcp/interface_address.h"

namespace braid::collectives::tcp {
namespace {

std::string DefaultHost() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "127.0.0.1";
  addrinfo hints = {};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(name, nullptr, &hints, &result) != 0 || result == nullptr) return "127.0.0.1";
  char buf[INET_ADDRSTRLEN] = {};
  const auto* sin = reinterpret_cast<const sockaddr_in*>(result->ai_addr);
  std::string host = "127.0.0.1";
  if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)) != nullptr) host = buf;
  freeaddrinfo(result);
  return host;
}

absl::Status BadValue(absl::string_view key, absl::string_view value, absl::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat("tcp backend option ", key, "=\"", value,
                                                 "\": expected ", want));
}

}  // namespace

absl::string_view ToString(AllReduceAlgorithm algorithm) {
  switch (algorithm) {
    case AllReduceAlgorithm::kAuto: return "auto";
    case AllReduceAlgorithm::kRing: return "ring";
    case AllReduceAlgorithm::kRecursiveDoubling: return "recursive_doubling";
  }
  return "invalid";
}

absl::StatusOr<TcpOptions> ParseTcpOptions(const CommunicatorOptions& options) {
  TcpOptions out;
  std::string ifname;
  out.op_timeout = options.op_timeout;
  out.connect_timeout = options.connect_timeout;
  out.deterministic = options.deterministic;
  out.store_prefix = options.store_prefix;
  for (const auto& [key, value] : options.backend_options) {
    int64_t n = 0;
    if (key == "allreduce_algorithm") {
      if (value == "auto") {
        out.allreduce_algorithm = AllReduceAlgorithm::kAuto;
      } else if (value == "ring") {
        out.allreduce_algorithm = AllReduceAlgorithm::kRing;
      } else if (value == "recursive_doubling") {
        out.allreduce_algorithm = AllReduceAlgorithm::kRecursiveDoubling;
      } else {
        return BadValue(key, value, "auto, ring or recursive_doubling");
      }
    } else if (key == "small_allreduce_bytes") {
      if (!absl::SimpleAtoi(value, &n) || n < 0) return BadValue(key, value, "bytes >= 0");
      out.small_allreduce_bytes = n;
    } else if (key == "segment_bytes") {
      if (!absl::SimpleAtoi(value, &n) || n < 4096 || n > (64 << 20)) {
        return BadValue(key, value, "bytes in [4096, 64 MiB]");
      }
      out.segment_bytes = n;
    } else if (key == "heartbeat_interval_ms") {
      if (!absl::SimpleAtoi(value, &n) || n < 1) return BadValue(key, value, "milliseconds >= 1");
      out.heartbeat_interval = absl::Milliseconds(n);
    } else if (key == "heartbeat_misses") {
      if (!absl::SimpleAtoi(value, &n) || n < 1 || n > 1000000) {
        return BadValue(key, value, "a count >= 1");
      }
      out.heartbeat_misses = static_cast<int>(n);
    } else if (key == "checksum") {
      if (value != "0" && value != "1") return BadValue(key, value, "0 or 1");
      out.checksum = value == "1";
    } else if (key == "shm_ring_bytes") {
      if (!absl::SimpleAtoi(value, &n) || n < 0 || n > (int64_t{1} << 30) ||
          (n != 0 && (n < 65536 || (n & (n - 1)) != 0))) {
        return BadValue(key, value, "0, or a power of two in [65536, 1 GiB]");
      }
      out.shm_ring_bytes = n;
    } else if (key == "direct_ring_bytes") {
      if (!absl::SimpleAtoi(value, &n) || n < 0 || n > (int64_t{1} << 30) ||
          (n != 0 && (n < 65536 || (n & (n - 1)) != 0))) {
        return BadValue(key, value, "0, or a power of two in [65536, 1 GiB]");
      }
      out.direct_ring_bytes = n;
    } else if (key == "fast_path_bytes") {
      if (!absl::SimpleAtoi(value, &n) || n < 0) return BadValue(key, value, "bytes >= 0");
      out.fast_path_bytes = n;
    } else if (key == "caller_thread") {
      if (value != "0" && value != "1") return BadValue(key, value, "0 or 1");
      out.caller_thread = value == "1";
    } else if (key == "cma") {
      if (value != "0" && value != "1") return BadValue(key, value, "0 or 1");
      out.cma = value == "1";
    } else if (key == "cma_min_bytes") {
      if (!absl::SimpleAtoi(value, &n) || n < 0) return BadValue(key, value, "bytes >= 0");
      out.cma_min_bytes = n;
    } else if (key == "host") {
      out.host = value;
    } else if (key == "ifname") {
      ifname = value;
    } else if (key == "generation") {
      out.generation = value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown tcp backend option \"", key,
          "\"; known: allreduce_algorithm, small_allreduce_bytes, segment_bytes, "
          "heartbeat_interval_ms, heartbeat_misses, checksum, shm_ring_bytes, direct_ring_bytes, fast_path_bytes, caller_thread, cma, "
          "cma_min_bytes, host, ifname, generation"));
    }
  }
  if (!ifname.empty()) {
    // BRAID_SOCKET_IFNAME: publish that interface's address (interface_address.h).
    if (!out.host.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tcp backend options host=\"", out.host, "\" and ifname=\"", ifname,
          "\" both choose the published address; give one"));
    }
    absl::StatusOr<std::string> address = InterfaceIpv4Address(ifname);
    if (!address.ok()) return address.status();
    out.host = *address;
  }
  if (out.host.empty()) out.host = DefaultHost();
  return out;
}

}  // namespace braid::collectives::tcp
