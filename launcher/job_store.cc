#include "launcher/job_store.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "elastic/etcd/etcd_store.h"
#include "elastic/store/socket_util.h"
#include "elastic/store/store_client.h"
#include "runtime/status_macros.h"

namespace braid::launcher {
namespace {

std::string AddrToString(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof(buf));
  } else if (sa->sa_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

std::string HostName() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

bool IsLoopback(absl::string_view host) {
  return host == "localhost" || absl::StartsWith(host, "127.") || host == "::1";
}

absl::StatusOr<std::unique_ptr<runtime::Store>> ConnectEmbedded(const std::string& address,
                                                               const std::string& token,
                                                               absl::Duration timeout) {
  elastic::StoreClientOptions o;
  o.address = address;
  o.job_token = token;
  o.connect_timeout = timeout;
  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<elastic::StoreClient> c, elastic::StoreClient::Create(o));
  return std::unique_ptr<runtime::Store>(std::move(c));
}

// Hosts the embedded store on host:port when this agent should, then
// connects to it like any other agent.
absl::StatusOr<JobStore> OpenEmbedded(const std::string& host, int port, bool may_host,
                                      const std::string& token, absl::Duration timeout) {
  JobStore js;
  std::string connect_host = host;
  if (may_host && IsLocalHost(host)) {
    elastic::StoreServerOptions so;
    so.host = IsLoopback(host) ? (host == "localhost" ? "127.0.0.1" : host) : "0.0.0.0";
    so.port = port;
    so.job_token = token;
    absl::StatusOr<std::unique_ptr<elastic::StoreServer>> server = elastic::StoreServer::Create(so);
    if (server.ok()) {
      port = (*server)->port();
      js.server = std::move(*server);
    } else if (!absl::IsUnavailable(server.status()) || port == 0) {
      return server.status();
    }
    // kUnavailable: the port is taken, most likely by the agent of another
    // node on this machine that hosts the store: be its client.
  }
  js.worker_address = elastic::JoinHostPort(connect_host, port);
  BRAID_ASSIGN_OR_RETURN(js.store, ConnectEmbedded(js.worker_address, token, timeout));
  return js;
}

}  // namespace

bool IsLocalHost(absl::string_view host) {
  if (IsLoopback(host) || host == HostName() || host == "0.0.0.0") return true;
  std::set<std::string> local;
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) == 0) {
    for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr != nullptr) local.insert(AddrToString(i->ifa_addr));
    }
    ::freeifaddrs(ifs);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string h(host);
  if (::getaddrinfo(h.c_str(), nullptr, &hints, &res) != 0) return false;
  bool found = false;
  for (addrinfo* a = res; a != nullptr && !found; a = a->ai_next) {
    const std::string s = AddrToString(a->ai_addr);
    found = local.count(s) > 0 || absl::StartsWith(s, "127.");
  }
  ::freeaddrinfo(res);
  return found;
}

int PickFreePort(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const char* node = IsLocalHost(host) && !IsLoopback(host) ? nullptr : host.c_str();
  if (::getaddrinfo(node, "0", &hints, &res) != 0) return 0;
  int port = 0;
  for (addrinfo* a = res; a != nullptr && port == 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      port = ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                     : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    }
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return port;
}

absl::StatusOr<std::string> ResolveJobToken(const LaunchConfig& config) {
  if (const char* env = std::getenv("BRAID_JOB_TOKEN"); env != nullptr && env[0] != '\0') {
    return std::string(env);
  }
  if (!config.job_token_file.empty()) {
    std::ifstream in(config.job_token_file);
    if (!in) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read --job-token-file '",
                                                     config.job_token_file, "'"));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string token(absl::StripAsciiWhitespace(ss.str()));
    if (token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--job-token-file '", config.job_token_file, "' is empty"));
    }
    return token;
  }
  if (config.multi_node()) {
    return absl::InvalidArgumentError(
        "a multi-node job needs a job token shared by all nodes: set BRAID_JOB_TOKEN or pass "
        "--job-token-file (e.g. made with 'openssl rand -hex 32')");
  }
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    const ssize_t n = ::getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(absl::StrCat("getrandom: ", std::strerror(errno)));
    }
    got += static_cast<size_t>(n);
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes)));
}

absl::StatusOr<JobStore> OpenJobStore(const LaunchConfig& c, const std::string& token,
                                      absl::Duration connect_timeout) {
  switch (c.rdzv_backend) {
    case RdzvBackend::kEtcd: {
      elastic::EtcdStoreOptions eo;
      eo.endpoints.clear();
      for (absl::string_view e : absl::StrSplit(c.rdzv_endpoint, ',', absl::SkipEmpty())) {
        eo.endpoints.push_back(absl::StartsWith(e, "http://") || absl::StartsWith(e, "https://")
                                   ? std::string(e)
                                   : absl::StrCat("http://", e));
      }
      eo.connect_timeout = connect_timeout;
      BRAID_ASSIGN_OR_RETURN(std::unique_ptr<elastic::EtcdStore> etcd,
                             elastic::EtcdStore::Create(eo));
      JobStore js;
      js.store = std::move(etcd);
      std::vector<std::string> plain;
      for (const std::string& e : eo.endpoints) {
        absl::string_view v = e;
        if (!absl::ConsumePrefix(&v, "http://")) absl::ConsumePrefix(&v, "https://");
        plain.emplace_back(v);
      }
      js.worker_address = absl::StrCat("etcd://", absl::StrJoin(plain, ","));
      return js;
    }
    case RdzvBackend::kBraid: {
      // torchrun's default rendezvous port when the endpoint names none.
      const std::string endpoint = c.rdzv_endpoint.find(':') == std::string::npos
                                       ? absl::StrCat(c.rdzv_endpoint, ":29400")
                                       : c.rdzv_endpoint;
      const size_t colon = endpoint.rfind(':');
      elastic::HostPort hp;
      hp.host = endpoint.substr(0, colon);
      if (absl::StartsWith(hp.host, "[") && absl::EndsWith(hp.host, "]")) {
        hp.host = hp.host.substr(1, hp.host.size() - 2);
      }
      if (hp.host.empty() || !absl::SimpleAtoi(endpoint.substr(colon + 1), &hp.port) ||
          hp.port < 0 || hp.port > 65535) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--rdzv-endpoint '", c.rdzv_endpoint, "' is not host:port"));
      }
      if (hp.port == 0 && c.multi_node()) {
        return absl::InvalidArgumentError(
            "--rdzv-endpoint needs a fixed port for multi-node jobs (port 0 is for single-node)");
      }
      return OpenEmbedded(hp.host, hp.port, /*may_host=*/true, token, connect_timeout);
    }
    case RdzvBackend::kStatic: {
      const int port = (!c.multi_node() && !c.master_port_given) ? 0 : c.master_port;
      return OpenEmbedded(c.master_addr, port, /*may_host=*/c.node_rank == 0, token,
                          connect_timeout);
    }
  }
  return absl::InternalError("unknown rendezvous backend");
}

}  // namespace braid::launcher
