// Small POSIX socket helpers shared by the store server and client: an owning
// fd, "host:port" parsing, a connect and blocking-style I/O bounded by a
// deadline (poll on non-blocking sockets, so no call can hang).
//
// Thread-safety: ScopedFd is not thread-safe; the functions are, on distinct
// fds. Two threads may use one fd when one only sends and the other only
// receives.
#ifndef BRAID_ELASTIC_STORE_SOCKET_UTIL_H_
#define BRAID_ELASTIC_STORE_SOCKET_UTIL_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "elastic/store/frame.h"

namespace braid::elastic {

// Owns a file descriptor; closes it on destruction.
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept;
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset();

 private:
  int fd_ = -1;
};

struct HostPort {
  std::string host;
  int port = 0;
};

// Splits "host:port" or "[v6addr]:port". kInvalidArgument when malformed.
absl::StatusOr<HostPort> SplitHostPort(absl::string_view address);

// Joins host and port, bracketing IPv6 literals.
std::string JoinHostPort(absl::string_view host, int port);

// Connects a TCP socket to host:port (name or literal) by `deadline`. The fd
// is non-blocking, close-on-exec, with TCP_NODELAY. kUnavailable when the peer
// cannot be reached (refused, unreachable, timed out), kInvalidArgument when
// the host does not resolve.
absl::StatusOr<ScopedFd> ConnectTcp(const HostPort& target, absl::Time deadline);

// Sends all of `data` by `deadline` (kDeadlineExceeded) or fails with
// kUnavailable when the connection broke. REQUIRES: fd is non-blocking.
absl::Status SendAll(int fd, absl::string_view data, absl::Time deadline);

// Reads until `decoder` yields one frame and returns its payload.
// kDeadlineExceeded by `deadline`, kUnavailable when the peer closed or the
// connection broke, kDataLoss for an oversized frame. REQUIRES: non-blocking.
absl::StatusOr<std::string> RecvFrame(int fd, FrameDecoder* decoder, absl::Time deadline);

// "ip:port" of the peer (or "unknown peer").
std::string PeerName(int fd);

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_STORE_SOCKET_UTIL_H_
