#include "collectives/tcp/interface_address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace braid::collectives::tcp {
namespace {

// Interface name -> its first IPv4 address ("" when it has none), in the
// order getifaddrs lists them.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListInterfaces() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    return absl::InternalError(absl::StrCat("getifaddrs: ", std::strerror(errno)));
  }
  std::vector<std::pair<std::string, std::string>> out;
  std::map<std::string, size_t> index;
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_name == nullptr) continue;
    auto [pos, added] = index.emplace(it->ifa_name, out.size());
    if (added) out.emplace_back(it->ifa_name, "");
    std::string& address = out[pos->second].second;
    if (!address.empty() || it->ifa_addr == nullptr || it->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN] = {};
    const auto* sin = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
    if (::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text)) != nullptr) address = text;
  }
  ::freeifaddrs(list);
  return out;
}

std::string Describe(const std::vector<std::pair<std::string, std::string>>& interfaces) {
  std::vector<std::string> parts;
  for (const auto& [name, address] : interfaces) {
    parts.push_back(address.empty() ? absl::StrCat(name, " (no IPv4)")
                                    : absl::StrCat(name, "=", address));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace

std::string DescribeInterfaces() {
  auto interfaces = ListInterfaces();
  return interfaces.ok() ? Describe(*interfaces) : std::string();
}

absl::StatusOr<std::string> InterfaceIpv4Address(absl::string_view ifnames) {
  std::vector<std::string> wanted;
  for (absl::string_view name : absl::StrSplit(ifnames, ',')) {
    name = absl::StripAsciiWhitespace(name);
    if (!name.empty()) wanted.emplace_back(name);
  }
  auto interfaces = ListInterfaces();
  if (!interfaces.ok()) return interfaces.status();
  if (wanted.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("socket interface list \"", ifnames, "\" names no interface; this host has: ",
                     Describe(*interfaces)));
  }
  for (const std::string& name : wanted) {
    for (const auto& [have, address] : *interfaces) {
      if (have == name && !address.empty()) return address;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "network interface", wanted.size() == 1 ? " '" : "s '", absl::StrJoin(wanted, "', '"),
      wanted.size() == 1 ? "' does" : "' do", " not exist or has no IPv4 address "
      "(BRAID_SOCKET_IFNAME); this host has: ", Describe(*interfaces),
      ". Set BRAID_SOCKET_IFNAME to one of those"));
}

}  // namespace braid::collectives::tcp
