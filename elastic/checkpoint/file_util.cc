#include "elastic/checkpoint/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace braid::elastic::checkpoint {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path, int err) {
  const std::string text = absl::StrCat("checkpoint: ", what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(text);
  return absl::InternalError(absl::StrCat(text, " (check free space and permissions)"));
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

constexpr absl::string_view kStepPrefix = "step-";

}  // namespace

absl::StatusOr<DurableFile> DurableFile::Create(std::string temp_path) {
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", temp_path, errno);
  return DurableFile(fd, std::move(temp_path));
}

DurableFile::DurableFile(DurableFile&& other) noexcept
    : fd_(other.fd_), temp_path_(std::move(other.temp_path_)), size_(other.size_) {
  other.fd_ = -1;
  other.temp_path_.clear();
}

DurableFile::~DurableFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_path_.c_str());
  }
}

absl::Status DurableFile::Append(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, std::min<size_t>(size, size_t{1} << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write", temp_path_, errno);
    }
    p += n;
    size -= static_cast<size_t>(n);
    size_ += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status DurableFile::Commit(const std::string& final_path, bool sync) {
  if (sync && ::fsync(fd_) != 0) return ErrnoError("cannot fsync", temp_path_, errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(temp_path_.c_str());
    return ErrnoError("cannot close", temp_path_, err);
  }
  if (::rename(temp_path_.c_str(), final_path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp_path_.c_str());
    return ErrnoError(absl::StrCat("cannot rename ", temp_path_, " to"), final_path, err);
  }
  if (sync) return SyncDirectory(DirName(final_path));
  return absl::OkStatus();
}

absl::Status WriteFileDurably(const std::string& path, absl::string_view contents, bool sync) {
  absl::StatusOr<DurableFile> file = DurableFile::Create(path + ".tmp");
  if (!file.ok()) return file.status();
  if (absl::Status s = file->Append(contents.data(), contents.size()); !s.ok()) return s;
  return file->Commit(path, sync);
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, uint64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoError("cannot stat", path, err);
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return absl::DataLossError(absl::StrCat("checkpoint: ", path, " is ", st.st_size,
                                            " bytes, more than the limit of ", max_bytes));
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      return ErrnoError("cannot read", path, err);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

absl::Status SyncDirectory(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open directory", path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError("cannot fsync directory", path, err);
  return absl::OkStatus();
}

absl::Status MakeDirectories(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("checkpoint: cannot create directory ", path, ": ",
                                            ec.message(), " (check the path and permissions)"));
  }
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("checkpoint: cannot remove ", path, ": ", ec.message()));
  }
  return absl::OkStatus();
}

std::string StepDirectory(absl::string_view directory, int64_t step) {
  return absl::StrCat(directory, "/", kStepPrefix, step);
}

absl::StatusOr<std::vector<int64_t>> ListStepDirectories(const std::string& directory) {
  std::vector<int64_t> steps;
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return steps;
    return ErrnoError("cannot list", directory, errno);
  }
  while (const dirent* entry = ::readdir(dir)) {
    const absl::string_view name(entry->d_name);
    if (!absl::StartsWith(name, kStepPrefix)) continue;
    const absl::string_view digits = name.substr(kStepPrefix.size());
    int64_t step = -1;
    if (digits.empty() || (digits.size() > 1 && digits[0] == '0') ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        !absl::SimpleAtoi(digits, &step)) {
      continue;  // "step-12.tmp" and other strangers are not ours to judge
    }
    struct stat st;
    const std::string full = absl::StrCat(directory, "/", name);
    if (::stat(full.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) steps.push_back(step);
  }
  ::closedir(dir);
  std::sort(steps.begin(), steps.end());
  return steps;
}

}  // namespace braid::elastic::checkpoint
