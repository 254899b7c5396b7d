#include "elastic/bootstrap/host_address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace braid::elastic {
namespace {

std::string ToDottedQuad(const in_addr& address) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &address, text, sizeof(text));
  return text;
}

}  // namespace

absl::StatusOr<std::string> InterfaceAddress(absl::string_view ifname) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    return absl::InternalError(absl::StrCat("getifaddrs: ", std::strerror(errno)));
  }
  std::string found;
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || it->ifa_addr->sa_family != AF_INET) continue;
    if (ifname != it->ifa_name) continue;
    found = ToDottedQuad(reinterpret_cast<const sockaddr_in*>(it->ifa_addr)->sin_addr);
    break;
  }
  ::freeifaddrs(list);
  if (found.empty()) {
    return absl::NotFoundError(
        absl::StrCat("network interface '", ifname, "' does not exist or has no IPv4 address"));
  }
  return found;
}

absl::StatusOr<std::string> ResolveIpv4(absl::string_view host) {
  addrinfo hints = {};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const std::string name(host);
  const int rc = ::getaddrinfo(name.c_str(), nullptr, &hints, &result);
  if (rc != 0 || result == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("host '", host, "' does not resolve to IPv4: ", ::gai_strerror(rc)));
  }
  std::string address =
      ToDottedQuad(reinterpret_cast<const sockaddr_in*>(result->ai_addr)->sin_addr);
  ::freeaddrinfo(result);
  return address;
}

absl::StatusOr<std::string> ThisHostAddress(const std::vector<std::string>& ifnames) {
  std::vector<std::string> tried;
  for (const std::string& ifname : ifnames) {
    absl::StatusOr<std::string> address = InterfaceAddress(ifname);
    if (address.ok()) return address;
    tried.push_back(std::string(address.status().message()));
  }
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) == 0) {
    absl::StatusOr<std::string> address = ResolveIpv4(name);
    if (address.ok()) return address;
    tried.push_back(std::string(address.status().message()));
  } else {
    tried.push_back(absl::StrCat("gethostname: ", std::strerror(errno)));
  }
  return absl::NotFoundError(absl::StrCat("no address for this host (", absl::StrJoin(tried, "; "),
                                          "); set BRAID_SOCKET_IFNAME to an interface"));
}

bool IsLoopbackAddress(absl::string_view ipv4) { return absl::StartsWith(ipv4, "127."); }

absl::StatusOr<std::string> RandomToken() {
  char bytes[16];
  size_t filled = 0;
  while (filled < sizeof(bytes)) {
    const ssize_t n = ::getrandom(bytes + filled, sizeof(bytes) - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("getrandom: ", std::strerror(errno)));
    }
    filled += static_cast<size_t>(n);
  }
  return absl::BytesToHexString(absl::string_view(bytes, sizeof(bytes)));
}

}  // namespace braid::elastic
