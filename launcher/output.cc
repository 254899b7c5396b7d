#include "launcher/output.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace braid::launcher {
namespace {

void WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // console gone (EPIPE): nothing useful to do
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<OutputForwarder>> OutputForwarder::Create(
    const Options& options) {
  const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    return absl::InternalError(absl::StrCat("OutputForwarder: eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<OutputForwarder>(new OutputForwarder(options, wake));
}

OutputForwarder::OutputForwarder(const Options& options, int wake_fd)
    : options_(options), wake_fd_(wake_fd) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "braid-output");
    Loop();
  });
}

OutputForwarder::~OutputForwarder() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  const uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_, &one, sizeof(one));
  (void)ignored;
  thread_.join();
  ::close(wake_fd_);
}

absl::Status OutputForwarder::AddStream(uint64_t worker_id, int fd, const Route& route) {
  auto s = std::make_unique<Stream>();
  s->worker_id = worker_id;
  s->fd = fd;
  s->route = route;
  if (!route.log_path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(route.log_path).parent_path(), ec);
    s->log_fd = ::open(route.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s->log_fd < 0) {
      const int e = errno;
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat("cannot open log file '", route.log_path,
                                                     "': ", std::strerror(e),
                                                     "; check --log-dir"));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    tails_[worker_id].open_streams++;
    pending_.push_back(std::move(s));
  }
  const uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_, &one, sizeof(one));
  (void)ignored;
  return absl::OkStatus();
}

absl::Status OutputForwarder::Drain(uint64_t worker_id, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto done = [this, worker_id]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    auto it = tails_.find(worker_id);
    return it == tails_.end() || it->second.open_streams == 0;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&done), deadline)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "output of worker ", worker_id, " still open at the deadline (a child process it ",
        "started may still hold its stdout/stderr)"));
  }
  return absl::OkStatus();
}

std::vector<std::string> OutputForwarder::TailLines(uint64_t worker_id) const {
  absl::MutexLock lock(&mu_);
  auto it = tails_.find(worker_id);
  if (it == tails_.end()) return {};
  return {it->second.lines.begin(), it->second.lines.end()};
}

void OutputForwarder::WriteDirect(int fd, absl::string_view text) {
  absl::MutexLock lock(&write_mu_);
  WriteAll(fd, text);
}

void OutputForwarder::EmitLine(Stream& s, absl::string_view line) {
  if (s.route.console_fd >= 0) {
    std::string out = absl::StrCat(s.route.prefix, line, "\n");
    absl::MutexLock lock(&write_mu_);
    WriteAll(s.route.console_fd, out);
  }
  if (s.log_fd >= 0) WriteAll(s.log_fd, absl::StrCat(line, "\n"));
  absl::MutexLock lock(&mu_);
  std::deque<std::string>& lines = tails_[s.worker_id].lines;
  lines.emplace_back(line);
  while (lines.size() > options_.tail_lines) lines.pop_front();
}

OutputForwarder::PumpResult OutputForwarder::Pump(Stream& s) {
  char buf[65536];
  const ssize_t n = ::read(s.fd, buf, sizeof(buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return PumpResult::kNoData;
  if (n <= 0) {
    if (!s.partial.empty()) EmitLine(s, s.partial);
    s.partial.clear();
    return PumpResult::kEof;
  }
  s.partial.append(buf, static_cast<size_t>(n));
  size_t start = 0;
  for (;;) {
    const size_t nl = s.partial.find('\n', start);
    if (nl == std::string::npos) break;
    absl::string_view line = absl::string_view(s.partial).substr(start, nl - start);
    while (line.size() > options_.max_line_bytes) {
      EmitLine(s, line.substr(0, options_.max_line_bytes));
      line.remove_prefix(options_.max_line_bytes);
    }
    EmitLine(s, line);
    start = nl + 1;
  }
  s.partial.erase(0, start);
  while (s.partial.size() >= options_.max_line_bytes) {
    EmitLine(s, absl::string_view(s.partial).substr(0, options_.max_line_bytes));
    s.partial.erase(0, options_.max_line_bytes);
  }
  return PumpResult::kData;
}

void OutputForwarder::CloseStream(Stream& s) {
  ::close(s.fd);
  if (s.log_fd >= 0) ::close(s.log_fd);
  absl::MutexLock lock(&mu_);
  tails_[s.worker_id].open_streams--;
}

void OutputForwarder::Loop() {
  std::vector<std::unique_ptr<Stream>> streams;
  for (;;) {
    bool stop;
    {
      absl::MutexLock lock(&mu_);
      for (auto& s : pending_) streams.push_back(std::move(s));
      pending_.clear();
      stop = stop_;
    }
    if (stop) break;
    std::vector<pollfd> fds;
    fds.push_back({wake_fd_, POLLIN, 0});
    for (auto& s : streams) fds.push_back({s->fd, POLLIN, 0});
    // The timeout only bounds how long a missed wakeup could delay shutdown.
    if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      ssize_t ignored = ::read(wake_fd_, &v, sizeof(v));
      (void)ignored;
    }
    std::vector<std::unique_ptr<Stream>> still_open;
    for (size_t i = 0; i < streams.size(); ++i) {
      Stream& s = *streams[i];
      bool open = true;
      if (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
        open = Pump(s) != PumpResult::kEof;
      }
      if (open) {
        still_open.push_back(std::move(streams[i]));
      } else {
        CloseStream(s);
      }
    }
    streams = std::move(still_open);
  }
  // Shutdown: forward what is already buffered without blocking, then close.
  for (auto& s : streams) {
    ::fcntl(s->fd, F_SETFL, ::fcntl(s->fd, F_GETFL) | O_NONBLOCK);
    for (int i = 0; i < 64 && Pump(*s) == PumpResult::kData; ++i) {
    }
    if (!s->partial.empty()) EmitLine(*s, s->partial);
    CloseStream(*s);
  }
}

}  // namespace braid::launcher
