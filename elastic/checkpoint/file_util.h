// Durable-file helpers of the checkpoint library: POSIX writes with fsync,
// atomic replacement (temporary name, fsync, rename, fsync of the directory),
// bounded whole-file reads, and the step-directory listing.
//
//   BRAID_ASSIGN_OR_RETURN(DurableFile f, DurableFile::Create(dir + "/x.tmp"));
//   BRAID_RETURN_IF_ERROR(f.Append(bytes, n));
//   BRAID_RETURN_IF_ERROR(f.Commit(dir + "/x", /*sync=*/true));   // fsync + rename + fsync dir
//
// Errors: every OS failure is kInternal (kNotFound for a missing file on
// read) carrying the path and errno's text. Thread-safety: a DurableFile is
// used by one thread; the free functions share no state.
#ifndef BRAID_ELASTIC_CHECKPOINT_FILE_UTIL_H_
#define BRAID_ELASTIC_CHECKPOINT_FILE_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace braid::elastic::checkpoint {

// A file being written under a temporary name; Commit makes it durable and
// moves it to its final name. Destroying an uncommitted DurableFile closes
// and deletes the temporary file.
class DurableFile {
 public:
  // Creates (truncating) `temp_path`.
  static absl::StatusOr<DurableFile> Create(std::string temp_path);

  DurableFile(DurableFile&& other) noexcept;
  DurableFile& operator=(DurableFile&& other) = delete;
  DurableFile(const DurableFile&) = delete;
  ~DurableFile();

  // Appends `size` bytes (retries short writes and EINTR).
  absl::Status Append(const void* data, size_t size);
  // Bytes appended so far.
  uint64_t size() const { return size_; }
  // fsync (when `sync`), close, rename to `final_path` (same directory),
  // fsync of the directory (when `sync`).
  absl::Status Commit(const std::string& final_path, bool sync);

 private:
  DurableFile(int fd, std::string temp_path) : fd_(fd), temp_path_(std::move(temp_path)) {}
  int fd_ = -1;
  std::string temp_path_;
  uint64_t size_ = 0;
};

// Writes `contents` to `path` atomically (through `path`.tmp).
absl::Status WriteFileDurably(const std::string& path, absl::string_view contents, bool sync);

// The whole file; kNotFound when missing, kDataLoss when larger than
// `max_bytes`.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, uint64_t max_bytes);

// fsyncs the directory itself (makes renames and unlinks in it durable).
absl::Status SyncDirectory(const std::string& path);

// mkdir -p.
absl::Status MakeDirectories(const std::string& path);

// Removes `path` and everything below it; OK when it does not exist.
absl::Status RemoveTree(const std::string& path);

// "D/step-<N>".
std::string StepDirectory(absl::string_view directory, int64_t step);

// The N of every "step-<N>" subdirectory of `directory` (N a non-negative
// decimal), sorted ascending. Empty when `directory` does not exist.
absl::StatusOr<std::vector<int64_t>> ListStepDirectories(const std::string& directory);

}  // namespace braid::elastic::checkpoint

#endif  // BRAID_ELASTIC_CHECKPOINT_FILE_UTIL_H_
