#include "collectives/tcp/socket_util.h"

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
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace braid::collectives::tcp {

absl::Status ErrnoStatus(absl::StatusCode code, absl::string_view what, int err) {
  return absl::Status(code, absl::StrCat(what, ": ", std::strerror(err)));
}

int PollTimeoutMs(absl::Time deadline, int cap_ms) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return static_cast<int>(std::min<int64_t>(ms, cap_ms));
}

absl::StatusOr<int> ListenEphemeral(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(absl::StatusCode::kUnavailable, "tcp: socket()", errno);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 1024) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoStatus(absl::StatusCode::kUnavailable, "tcp: bind/listen on an ephemeral port", err);
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

absl::StatusOr<int> ConnectWithRetry(const std::string& host, int port, absl::Time deadline) {
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    addrinfo hints = {};
    hints.ai_family = AF_INET;
    addrinfo* result = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0 || result == nullptr) {
      return absl::UnavailableError(absl::StrCat("tcp: cannot resolve peer host '", host, "'"));
    }
    addr.sin_addr = reinterpret_cast<sockaddr_in*>(result->ai_addr)->sin_addr;
    freeaddrinfo(result);
  }
  int last_err = 0;
  absl::Duration backoff = absl::Milliseconds(1);
  while (true) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return ErrnoStatus(absl::StatusCode::kUnavailable, "tcp: socket()", errno);
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd pfd = {fd, POLLOUT, 0};
      rc = poll(&pfd, 1, PollTimeoutMs(deadline, 1000));
      if (rc > 0) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0) {
          rc = 0;
        } else {
          errno = err;
          rc = -1;
        }
      } else {
        errno = rc == 0 ? ETIMEDOUT : errno;
        rc = -1;
      }
    }
    if (rc == 0) {
      const int flags = fcntl(fd, F_GETFL, 0);
      fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
      return fd;
    }
    last_err = errno;
    close(fd);
    if (absl::Now() + backoff >= deadline) break;
    // Retry backoff: the peer may not be listening yet.
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, absl::Milliseconds(50));
  }
  return ErrnoStatus(absl::StatusCode::kUnavailable,
                     absl::StrCat("tcp: cannot connect to peer at ", host, ":", port,
                                  " before the connect deadline (is it running? firewall?)"),
                     last_err);
}

absl::StatusOr<int> AcceptWithDeadline(int listen_fd, absl::Time deadline) {
  while (true) {
    pollfd pfd = {listen_fd, POLLIN, 0};
    const int rc = poll(&pfd, 1, PollTimeoutMs(deadline, 1000));
    if (rc < 0 && errno != EINTR) return ErrnoStatus(absl::StatusCode::kUnavailable, "tcp: poll", errno);
    if (rc > 0) {
      const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) return fd;
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
        return ErrnoStatus(absl::StatusCode::kUnavailable, "tcp: accept", errno);
      }
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("tcp: timed out waiting for peers to connect");
    }
  }
}

absl::Status WriteFully(int fd, const void* data, size_t size, absl::Time deadline) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = send(fd, p, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      size -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return ErrnoStatus(absl::StatusCode::kUnavailable, "tcp: send", errno);
    }
    if (absl::Now() >= deadline) return absl::DeadlineExceededError("tcp: send timed out");
    pollfd pfd = {fd, POLLOUT, 0};
    poll(&pfd, 1, PollTimeoutMs(deadline, 100));
  }
  return absl::OkStatus();
}

absl::Status ReadFully(int fd, void* data, size_t size, absl::Time deadline) {
  auto* p = static_cast<uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = recv(fd, p, size, MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      size -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return absl::UnavailableError("tcp: peer closed the connection");
    if (errno != EAGAIN && errno != EINTR) {
      return ErrnoStatus(absl::StatusCode::kUnavailable, "tcp: recv", errno);
    }
    if (absl::Now() >= deadline) return absl::DeadlineExceededError("tcp: recv timed out");
    pollfd pfd = {fd, POLLIN, 0};
    poll(&pfd, 1, PollTimeoutMs(deadline, 100));
  }
  return absl::OkStatus();
}

absl::Status ConfigureSocket(int fd, bool non_blocking) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  const int flags = fcntl(fd, F_GETFL, 0);
  const int want = non_blocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, want) != 0) {
    return ErrnoStatus(absl::StatusCode::kInternal, "tcp: fcntl(O_NONBLOCK)", errno);
  }
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
