#include "runtime/env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace braid::runtime {
namespace {

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path) {
  std::string msg = absl::StrCat(what, " '", path, "': ", std::strerror(err));
  switch (err) {
    case ENOENT: return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
    case EROFS: return absl::PermissionDeniedError(msg);
    case ENOTDIR:
    case ENAMETOOLONG:
    case EEXIST: return absl::InvalidArgumentError(msg);
    case ENOSPC:
    case EDQUOT: return absl::ResourceExhaustedError(msg);
    default: return absl::InternalError(msg);
  }
}

absl::Status MakeDirs(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("CreateDirectories: empty path");
  // Create each prefix ending at a '/', then the whole path.
  for (size_t pos = path.find('/', 1);; pos = path.find('/', pos + 1)) {
    const std::string prefix = pos == std::string::npos ? path : path.substr(0, pos);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "cannot create directory", prefix);
    }
    if (pos == std::string::npos) break;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "cannot stat", path);
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("CreateDirectories: '", path, "' exists and is not a directory"));
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status WriteAtomically(const std::string& path, absl::string_view contents) {
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "cannot create", tmp);
  absl::Status status = WriteAll(fd, contents, tmp);
  if (::close(fd) != 0 && status.ok()) status = ErrnoStatus(errno, "cannot close", tmp);
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus(errno, "cannot rename to", path);
  }
  if (!status.ok()) ::unlink(tmp.c_str());
  return status;
}

absl::StatusOr<std::string> Read(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return ErrnoStatus(err, "cannot read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// The real OS. Stateless, so a single shared instance is safe.
class PosixEnv final : public Env {
 public:
  absl::Time NowMonotonic() override { return absl::Now(); }
  int64_t MonotonicNanos() override {
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  }
  void SleepFor(absl::Duration duration) override {
    if (duration > absl::ZeroDuration()) absl::SleepFor(duration);
  }
  absl::Status CreateDirectories(const std::string& path) override { return MakeDirs(path); }
  absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) override {
    return WriteAtomically(path, contents);
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override { return Read(path); }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* const env = new PosixEnv();  // never destroyed: usable during exit
  return env;
}

void Env::SleepUntil(absl::Time deadline) {
  const absl::Time now = NowMonotonic();
  if (deadline > now) SleepFor(deadline - now);
}

absl::Time DeadlineFromTimeout(absl::Duration timeout, Env& env) {
  if (timeout == absl::InfiniteDuration()) return absl::InfiniteFuture();
  return env.NowMonotonic() + timeout;
}

absl::Duration TimeLeft(absl::Time deadline, Env& env) {
  if (deadline == absl::InfiniteFuture()) return absl::InfiniteDuration();
  const absl::Duration left = deadline - env.NowMonotonic();
  return left > absl::ZeroDuration() ? left : absl::ZeroDuration();
}

// ---- FakeClockEnv -----------------------------------------------------------------

absl::Time FakeClockEnv::NowMonotonic() {
  absl::MutexLock lock(&mu_);
  return now_;
}

int64_t FakeClockEnv::MonotonicNanos() {
  absl::MutexLock lock(&mu_);
  return absl::ToInt64Nanoseconds(now_ - start_);
}

void FakeClockEnv::SleepFor(absl::Duration duration) {
  if (duration <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  now_ += duration;
  slept_ += duration;
}

void FakeClockEnv::AdvanceBy(absl::Duration duration) {
  if (duration <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  now_ += duration;
}

void FakeClockEnv::SetNow(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (now > now_) now_ = now;
}

absl::Duration FakeClockEnv::total_slept() {
  absl::MutexLock lock(&mu_);
  return slept_;
}

absl::Status FakeClockEnv::CreateDirectories(const std::string& path) { return MakeDirs(path); }

absl::Status FakeClockEnv::WriteFileAtomically(const std::string& path,
                                               absl::string_view contents) {
  return WriteAtomically(path, contents);
}

absl::StatusOr<std::string> FakeClockEnv::ReadFile(const std::string& path) { return Read(path); }

}  // namespace braid::runtime
