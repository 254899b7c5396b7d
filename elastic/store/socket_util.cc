#include "elastic/store/socket_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace braid::elastic {
namespace {

// Milliseconds until `deadline` for poll(), rounded up, capped; -1 for never.
int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
}

// Waits for `events` on fd. OK when ready, kDeadlineExceeded at the deadline.
absl::Status PollFor(int fd, short events, absl::Time deadline, absl::string_view what) {
  while (true) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, PollTimeoutMs(deadline));
    if (rc > 0) return absl::OkStatus();
    if (rc == 0) {
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat(what, ": deadline exceeded"));
      }
      continue;
    }
    if (errno == EINTR) continue;
    return absl::UnavailableError(absl::StrCat(what, ": poll failed: ", std::strerror(errno)));
  }
}

}  // namespace

ScopedFd& ScopedFd::operator=(ScopedFd&& other) noexcept {
  if (this != &other) {
    Reset();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void ScopedFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

absl::StatusOr<HostPort> SplitHostPort(absl::string_view address) {
  HostPort out;
  absl::string_view port_text;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("store address '", address, "' is not \"[v6addr]:port\""));
    }
    out.host = std::string(address.substr(1, close - 1));
    port_text = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("store address '", address, "' is not \"host:port\""));
    }
    out.host = std::string(address.substr(0, colon));
    port_text = address.substr(colon + 1);
  }
  if (!absl::SimpleAtoi(port_text, &out.port) || out.port <= 0 || out.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("store address '", address, "' has no valid port (1-65535)"));
  }
  return out;
}

std::string JoinHostPort(absl::string_view host, int port) {
  if (host.find(':') != absl::string_view::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<ScopedFd> ConnectTcp(const HostPort& target, absl::Time deadline) {
  const std::string where = JoinHostPort(target.host, target.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = absl::StrCat(target.port);
  const int gai = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve store host '", target.host, "': ", gai_strerror(gai)));
  }
  absl::Status last = absl::UnavailableError(absl::StrCat("no address for ", where));
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    ScopedFd fd(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd.valid()) {
      last = absl::UnavailableError(absl::StrCat("socket(): ", std::strerror(errno)));
      continue;
    }
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = ::connect(fd.get(), ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno != EINPROGRESS) {
      last = absl::UnavailableError(
          absl::StrCat("connect to store at ", where, ": ", std::strerror(errno)));
      continue;
    }
    if (rc != 0) {
      absl::Status ready = PollFor(fd.get(), POLLOUT, deadline, absl::StrCat("connect to ", where));
      if (!ready.ok()) {
        last = absl::UnavailableError(ready.message());
        continue;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last = absl::UnavailableError(
            absl::StrCat("connect to store at ", where, ": ", std::strerror(err)));
        continue;
      }
    }
    ::freeaddrinfo(res);
    return fd;
  }
  ::freeaddrinfo(res);
  return last;
}

absl::Status SendAll(int fd, absl::string_view data, absl::Time deadline) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      absl::Status ready = PollFor(fd, POLLOUT, deadline, "store send");
      if (!ready.ok()) return ready;
      continue;
    }
    return absl::UnavailableError(
        absl::StrCat("store connection broke while sending: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RecvFrame(int fd, FrameDecoder* decoder, absl::Time deadline) {
  char buf[64 * 1024];
  while (true) {
    absl::StatusOr<std::optional<std::string>> frame = decoder->Next();
    if (!frame.ok()) return frame.status();
    if (frame->has_value()) return std::move(**frame);
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      decoder->Append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return absl::UnavailableError("store connection closed by the peer");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      absl::Status ready = PollFor(fd, POLLIN, deadline, "store receive");
      if (!ready.ok()) return ready;
      continue;
    }
    return absl::UnavailableError(
        absl::StrCat("store connection broke while receiving: ", std::strerror(errno)));
  }
}

std::string PeerName(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown peer";
  char host[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  } else {
    return "unknown peer";
  }
  return JoinHostPort(host, port);
}

}  // namespace braid::elastic
