// FailureReport: what braidrun prints when a job fails on this node, with the
// ROOT CAUSE named: the failure that happened first.
//
// Each failed worker contributes its exit (as braidrun saw it), the record it
// left in its error file (runtime/error_file.h) if any, and the last lines of
// its output. A failure's time is its error record's timestamp, or, for a
// worker that wrote none (killed, or exited without RecordError), the time
// braidrun saw it end. The earliest time is the root cause (ties: the lower
// global rank), as torchrun does: the other failures are usually its
// consequences (peers of a dead rank fail their next collective with
// kAborted).
//
// Thread-safety: plain functions of values.
#ifndef BRAID_LAUNCHER_FAILURE_REPORT_H_
#define BRAID_LAUNCHER_FAILURE_REPORT_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "launcher/process.h"
#include "runtime/error_file.h"

namespace braid::launcher {

struct WorkerFailure {
  int global_rank = -1;
  int local_rank = -1;
  pid_t pid = -1;
  // How it ended; nullopt while it still runs.
  std::optional<ExitInfo> exit;
  // When braidrun saw it end.
  absl::Time ended = absl::InfinitePast();
  // Its error file, what it recorded there, or why that could not be read
  // (a malformed file; "" when it simply wrote none).
  std::string error_file;
  std::optional<runtime::ErrorRecord> error;
  std::string error_file_problem;
  // Last lines of its output, oldest first.
  std::vector<std::string> tail;

  // The error record's timestamp, else `ended`.
  absl::Time FailureTime() const;
};

// Index of the root cause in `failures`. REQUIRES: non-empty.
size_t RootCause(const std::vector<WorkerFailure>& failures);

// The report: a table of every failure (rank, local rank, pid, how it ended,
// its error), then the root cause with its time, error, error file, the first
// `max_stack_frames` frames of its stack and its last lines of output. Each
// line is indented by two spaces and ends in '\n'. REQUIRES: non-empty.
std::string FormatFailureReport(const std::vector<WorkerFailure>& failures,
                                int max_stack_frames = 12);

}  // namespace braid::launcher

#endif  // BRAID_LAUNCHER_FAILURE_REPORT_H_
