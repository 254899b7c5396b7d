// OutputForwarder: copies worker stdout/stderr from pipes to braidrun's own
// stdout/stderr and to per-worker log files, one whole line at a time.
//
// Each line a worker writes appears as "<prefix><line>\n" (braidrun uses the
// prefix "[rank3]:") with a single write(2), so lines of different workers
// never interleave inside a line. A line longer than `max_line_bytes` is cut
// into pieces of that size; a last line without '\n' at end of file gets one.
// Log files get the raw lines, unprefixed (one file per worker and stream).
// The last `tail_lines` lines of each worker (both streams, in arrival order)
// are kept for the failure summary.
//
// Thread-safety: thread-safe. One named thread ("braid-output") does all the
// reading and writing; it is joined by the destructor.
#ifndef BRAID_LAUNCHER_OUTPUT_H_
#define BRAID_LAUNCHER_OUTPUT_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace braid::launcher {

class OutputForwarder {
 public:
  struct Options {
    // Lines longer than this are split. Default 64 KiB.
    size_t max_line_bytes = 64 * 1024;
    // Lines kept per worker for TailLines. Default 10.
    size_t tail_lines = 10;
  };

  // Where one stream of one worker goes.
  struct Route {
    // Written before every line on the console, e.g. "[rank3]:".
    std::string prefix;
    // Console descriptor (braidrun's 1 or 2), borrowed; -1: not to the console.
    int console_fd = -1;
    // Log file, created (with parent folders) or appended to; empty: none.
    std::string log_path;
  };

  // Starts the forwarding thread. kInternal when it cannot make its wakeup fd.
  static absl::StatusOr<std::unique_ptr<OutputForwarder>> Create(const Options& options);
  ~OutputForwarder();

  // Takes ownership of the read end `fd` of worker `worker_id`'s stream and
  // forwards it until end of file. A worker normally adds two streams.
  // kInvalidArgument when the log file cannot be opened (fd is closed then).
  absl::Status AddStream(uint64_t worker_id, int fd, const Route& route);

  // Blocks until every stream of `worker_id` has reached end of file (the
  // worker and everything that inherited its pipes exited) or `deadline`.
  // kDeadlineExceeded when some stream is still open then.
  absl::Status Drain(uint64_t worker_id, absl::Time deadline);

  // The worker's last lines (see Options::tail_lines), oldest first.
  std::vector<std::string> TailLines(uint64_t worker_id) const;

  // Writes `text` (whole lines) to `fd` in one write, serialised with the
  // forwarded lines. For braidrun's own messages.
  void WriteDirect(int fd, absl::string_view text);

 private:
  struct Stream {
    uint64_t worker_id = 0;
    int fd = -1;
    int log_fd = -1;
    Route route;
    std::string partial;
  };
  struct WorkerTail {
    int open_streams = 0;
    std::deque<std::string> lines;
  };

  OutputForwarder(const Options& options, int wake_fd);
  void Loop();
  enum class PumpResult { kData, kNoData, kEof };
  // Reads what is available on `s` and emits its whole lines.
  PumpResult Pump(Stream& s);
  void EmitLine(Stream& s, absl::string_view line);
  void CloseStream(Stream& s);

  const Options options_;
  const int wake_fd_;  // eventfd: wakes Loop for new streams and shutdown
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<Stream>> pending_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, WorkerTail> tails_ ABSL_GUARDED_BY(mu_);
  absl::Mutex write_mu_;  // serialises console writes
  std::thread thread_;
};

}  // namespace braid::launcher

#endif  // BRAID_LAUNCHER_OUTPUT_H_
