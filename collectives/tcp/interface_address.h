// Network interface choice for the tcp backend (BRAID_SOCKET_IFNAME, like
// NCCL_SOCKET_IFNAME and GLOO_SOCKET_IFNAME): the IPv4 address a rank
// publishes for its peers to connect to.
//
//   BRAID_ASSIGN_OR_RETURN(std::string host, InterfaceIpv4Address("eth0,eth1"));
//
// Thread-safety: thread-safe (getifaddrs).
#ifndef BRAID_COLLECTIVES_TCP_INTERFACE_ADDRESS_H_
#define BRAID_COLLECTIVES_TCP_INTERFACE_ADDRESS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace braid::collectives::tcp {

// The IPv4 address of the first interface of `ifnames` (comma separated,
// e.g. "eth0" or "ib0,eth0"; spaces around names ignored) that exists and
// has one. kInvalidArgument naming the requested interfaces and listing the
// ones this host has (with their IPv4 addresses) when none of them does, or
// when `ifnames` names none; kInternal when getifaddrs fails.
absl::StatusOr<std::string> InterfaceIpv4Address(absl::string_view ifnames);

// "lo=127.0.0.1, eth0=10.0.0.5, docker0 (no IPv4)": this host's interfaces,
// for error messages. Empty when getifaddrs fails.
std::string DescribeInterfaces();

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_INTERFACE_ADDRESS_H_
