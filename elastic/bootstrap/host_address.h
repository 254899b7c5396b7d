// Host addresses and job tokens for elastic::Bootstrap: which address a
// store hosted by this process should listen on and publish, and a fresh
// random token when no launcher gave one.
//
// Thread-safety: all functions are thread-safe (getifaddrs/getaddrinfo are).
#ifndef BRAID_ELASTIC_BOOTSTRAP_HOST_ADDRESS_H_
#define BRAID_ELASTIC_BOOTSTRAP_HOST_ADDRESS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace braid::elastic {

// The IPv4 address of network interface `ifname` ("eth0"). kNotFound when
// there is no such interface or it has no IPv4 address.
absl::StatusOr<std::string> InterfaceAddress(absl::string_view ifname);

// The IPv4 address of the first interface in `ifnames` that has one
// (BRAID_SOCKET_IFNAME's list), else of this host's name, else
// kNotFound naming what was tried.
absl::StatusOr<std::string> ThisHostAddress(const std::vector<std::string>& ifnames);

// `host` (a name or dotted quad) resolved to an IPv4 dotted quad.
// kNotFound when it does not resolve.
absl::StatusOr<std::string> ResolveIpv4(absl::string_view host);

// True for 127.0.0.0/8 dotted quads.
bool IsLoopbackAddress(absl::string_view ipv4);

// 32 hex digits from the kernel's random source (getrandom). kInternal when
// it fails.
absl::StatusOr<std::string> RandomToken();

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_BOOTSTRAP_HOST_ADDRESS_H_
