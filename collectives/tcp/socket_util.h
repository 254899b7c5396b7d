// Small POSIX socket helpers for the tcp backend: every blocking helper takes
// a deadline and returns a Status instead of errno. Internal to collectives/tcp.
// Thread-safety: pure functions over the file descriptors passed in.
#ifndef BRAID_COLLECTIVES_TCP_SOCKET_UTIL_H_
#define BRAID_COLLECTIVES_TCP_SOCKET_UTIL_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace braid::collectives::tcp {

// "what: strerror(err)" with the given code.
absl::Status ErrnoStatus(absl::StatusCode code, absl::string_view what, int err);

// A listening IPv4 socket on INADDR_ANY with an ephemeral port.
absl::StatusOr<int> ListenEphemeral(int* port);

// Connects to host:port, retrying refused connections until `deadline`
// (kUnavailable when it never succeeds). Returns a blocking socket.
absl::StatusOr<int> ConnectWithRetry(const std::string& host, int port, absl::Time deadline);

// Accepts one connection (kDeadlineExceeded at the deadline).
absl::StatusOr<int> AcceptWithDeadline(int listen_fd, absl::Time deadline);

// Writes/reads exactly `size` bytes, waiting with poll; kUnavailable when the
// peer closed or reset, kDeadlineExceeded at the deadline.
absl::Status WriteFully(int fd, const void* data, size_t size, absl::Time deadline);
absl::Status ReadFully(int fd, void* data, size_t size, absl::Time deadline);

// TCP_NODELAY, large buffers, and optionally O_NONBLOCK.
absl::Status ConfigureSocket(int fd, bool non_blocking);

// Milliseconds until `deadline`, clamped to [0, cap_ms]; for poll().
int PollTimeoutMs(absl::Time deadline, int cap_ms);

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_SOCKET_UTIL_H_
