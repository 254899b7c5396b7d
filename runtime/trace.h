// Tracer: per-rank Chrome-trace / Perfetto JSON of what a rank spent its time
// on (compute, communication, idle, ...), for pictures of overlap and
// pipeline bubbles. Open the file in https://ui.perfetto.dev or
// chrome://tracing; the launcher merges the ranks' files.
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<Tracer> tracer,
//                          Tracer::Create({.dir = config.trace_dir,
//                                          .rank = config.world.global_rank}));
//   {
//     ScopedSpan span(*tracer, "allreduce", Category::kCommunication);
//     ...                                          // one "X" event on close
//   }
//   uint64_t id = tracer->BeginAsync("bucket3 allreduce", Category::kCommunication);
//   ...                                            // overlapped with compute
//   tracer->EndAsync(id);
//   tracer->Counter("bytes_in_flight", 4 << 20);
//
// File format (the Chrome "JSON Object Format"):
//   {"traceEvents": [ ... ], "displayTimeUnit": "ms",
//    "otherData": {"rank": 3, "dropped_events": 0}}
// Each complete span is {"name", "cat", "ph": "X", "ts", "dur", "pid", "tid"}
// with pid = rank and tid = the category's track; "M" metadata events name
// the process "rank N" and each track ("compute", "communication", ...).
// Async spans are "b"/"e" pairs sharing an "id"; counters are "C" events;
// instants are "i". Timestamps are microseconds of CLOCK_MONOTONIC (Env::
// MonotonicNanos), so ranks on one host line up without clock alignment.
//
// Spans on one track must nest (Perfetto draws a track as a stack). Work
// that overlaps other work of the same category (several buckets in flight,
// spans from several threads) belongs in async spans.
//
// Cost: a Tracer made by the default constructor, or by Create with an
// empty dir, is disabled; then every call is one predictable branch on a
// const member and records nothing (see trace_test's DisabledSpanCost for the
// measured figure). Enabled, a span costs two clock reads and one
// mutex-protected append.
//
// Memory: events are kept in memory until Flush/Close rewrite the file.
// After `max_events` further events are dropped and counted in
// "otherData.dropped_events".
//
// Thread-safety: all methods may be called from several threads at once.
// Failure: Create fails when the directory cannot be made; Flush/Close
// return the write error; the destructor closes and logs a failure.
#ifndef BRAID_RUNTIME_TRACE_H_
#define BRAID_RUNTIME_TRACE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "runtime/env.h"

namespace braid::runtime {

// Which track a span is drawn on.
enum class Category : uint8_t {
  kCompute = 0,
  kCommunication = 1,
  kIdle = 2,
  kMemory = 3,      // copies, host<->device transfers
  kCheckpoint = 4,  // snapshots, checkpoints, recovery
  kOther = 5,
};
inline constexpr int kNumCategories = 6;

// "compute", "communication", "idle", "memory", "checkpoint", "other".
absl::string_view ToString(Category category);

struct TracerOptions {
  // Directory for the trace file; empty disables tracing. Created if missing.
  std::string dir;
  // Global rank: the file is `dir/trace_rank<rank>.json` and pid = rank.
  int rank = 0;
  // Clock and file system. nullptr means Env::Default(). Borrowed; must
  // outlive the Tracer.
  Env* env = nullptr;
  // Events kept in memory at most; later ones are dropped and counted.
  size_t max_events = 1'000'000;
};

class Tracer {
 public:
  // A disabled tracer: every call is a no-op.
  Tracer() = default;

  // An enabled tracer when options.dir is set (the directory is created;
  // kPermissionDenied/kInternal if it cannot be), otherwise a disabled one.
  static absl::StatusOr<std::unique_ptr<Tracer>> Create(const TracerOptions& options);

  // Closes (writes the file); a write failure is logged.
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  bool enabled() const { return enabled_; }
  int rank() const { return rank_; }
  // The file this tracer writes ("" when disabled).
  const std::string& path() const { return path_; }

  // Now on the trace clock, in nanoseconds.
  int64_t NowNanos() const;

  // Records a complete span [start_ns, end_ns) on `category`'s track.
  void Complete(absl::string_view name, Category category, int64_t start_ns, int64_t end_ns);

  // Starts an async span and returns its id (0 when disabled); EndAsync(id)
  // finishes it. Ids are unique within this tracer. Ending an unknown id is
  // ignored.
  uint64_t BeginAsync(absl::string_view name, Category category);
  void EndAsync(uint64_t id);

  // A point in time on `category`'s track.
  void Instant(absl::string_view name, Category category);

  // A sample of a numeric series (drawn as a graph named `name`).
  void Counter(absl::string_view name, double value);

  // Writes everything recorded so far to path() (atomically replacing the
  // file); recording continues. OK and no file when disabled.
  absl::Status Flush();

  // Flushes and stops recording (later calls are no-ops). Idempotent.
  absl::Status Close();

  // Events recorded and dropped so far (for tests).
  size_t num_events() const;
  size_t num_dropped() const;

 private:
  struct Event {
    char phase;  // 'X', 'b', 'e', 'i', 'C'
    Category category;
    std::string name;
    int64_t ts_ns;
    int64_t dur_ns;  // 'X' only
    uint64_t id;     // 'b'/'e' only
    double value;    // 'C' only
  };
  struct AsyncSpan {
    std::string name;
    Category category;
  };

  Tracer(const TracerOptions& options, std::string path);
  void Append(Event event);
  std::string RenderJson() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteJson(const std::string& json);

  const bool enabled_ = false;
  const int rank_ = 0;
  const std::string path_;
  Env* const env_ = nullptr;
  const size_t max_events_ = 0;
  std::atomic<uint64_t> next_async_id_{1};

  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);
  size_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<uint64_t, AsyncSpan>> open_async_ ABSL_GUARDED_BY(mu_);
};

// Records [construction, destruction) as a complete span. `name` must stay
// valid until the span ends (string literals do). When the tracer is
// disabled, construction and destruction are one branch each.
class ScopedSpan {
 public:
  ScopedSpan(Tracer& tracer, absl::string_view name, Category category)
      : tracer_(tracer), name_(name), category_(category) {
    if (tracer_.enabled()) start_ns_ = tracer_.NowNanos();
  }
  ~ScopedSpan() {
    if (tracer_.enabled()) tracer_.Complete(name_, category_, start_ns_, tracer_.NowNanos());
  }
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

 private:
  Tracer& tracer_;
  absl::string_view name_;
  Category category_;
  int64_t start_ns_ = 0;
};

}  // namespace braid::runtime

#endif  // BRAID_RUNTIME_TRACE_H_
