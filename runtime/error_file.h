// Error files: a failing worker's last word to its launcher.
//
// braidrun gives every worker BRAID_ERROR_FILE (and TORCHELASTIC_ERROR_FILE,
// torchrun's name) naming a per-rank file in the run directory. A worker that
// fails writes one JSON record there; braidrun reads the records of every
// failed worker and names the ROOT CAUSE: the failure with the earliest
// timestamp, with its error, stack and last lines of output
// (docs/launching.md, "Error files").
//
//   // once, early in main (elastic::Bootstrap does this for you):
//   BRAID_RETURN_IF_ERROR(InstallErrorReporting(
//       {.path = config.error_file, .global_rank = config.world.global_rank}));
//   ...
//   if (!status.ok()) {
//     (void)RecordError(status);      // before exiting non-zero
//     return 1;
//   }
//
// InstallErrorReporting also installs a fatal-signal handler (SIGSEGV,
// SIGBUS, SIGFPE, SIGILL, SIGABRT) that writes the same record for a crash
// (code "SIGSEGV", ...), using only async-signal-safe calls (open, write,
// rename, clock_gettime, absl::GetStackTrace, absl::Symbolize) on an
// alternate signal stack of the installing thread, then hands the signal to
// the previous disposition, so the process still dies of it (core dumps and
// exit status unchanged).
//
// Record format (one JSON object, written atomically: temporary file, then
// rename):
//   {"version":1,"rank":3,"pid":4711,"code":"ABORTED","signal":0,
//    "message":"AllReduce ...: peer 1 died","timestamp_us":1795460401123456,
//    "stack":["0x000055d0c1a2b3c4 braid::Foo()", ...]}
// `code` is absl's code name (StatusCodeToString) for a Status, or the
// signal name for a crash; `signal` is the signal number (0 for a Status);
// `timestamp_us` is wall-clock microseconds since the Unix epoch; `stack`
// is innermost frame first.
//
// First record wins: once this process wrote a record (a Status or a crash),
// later RecordError calls and crashes leave the file alone, because the first
// failure is the cause and what follows is usually its consequence.
//
// Process-wide: the installed path and rank are process-global state, the one
// exception to "no global mutable state", because a signal handler can reach
// nothing else. Install once, before starting threads; a second Install
// replaces the path and rank.
//
// Thread-safety: RecordError is thread-safe (the first caller wins).
// InstallErrorReporting must not race with RecordError or a crash.
#ifndef BRAID_RUNTIME_ERROR_FILE_H_
#define BRAID_RUNTIME_ERROR_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace braid::runtime {

// One worker failure as stored in an error file.
struct ErrorRecord {
  int global_rank = -1;
  int64_t pid = 0;
  // absl code name ("ABORTED") or signal name ("SIGSEGV").
  std::string code;
  // Fatal signal number; 0 for a Status.
  int signal = 0;
  std::string message;
  // When the failure was recorded (wall clock, microsecond resolution).
  absl::Time timestamp = absl::UnixEpoch();
  // Innermost first: "0x<pc> <symbol>" (symbol "(unknown)" when not found).
  std::vector<std::string> stack;

  // "ABORTED: peer 1 died" / "SIGSEGV: Segmentation fault".
  std::string Summary() const;
};

// The JSON text of `record` (see the file comment), one line plus '\n'.
std::string FormatErrorRecord(const ErrorRecord& record);

// Parses FormatErrorRecord's output. Unknown keys are ignored, so the format
// can grow. kDataLoss (naming the offset) for malformed JSON, a missing
// "code" or "timestamp_us", or a value of the wrong type.
absl::StatusOr<ErrorRecord> ParseErrorRecord(absl::string_view json);

// Reads and parses the file at `path`. kNotFound when it does not exist (the
// worker recorded nothing); kDataLoss when it is malformed; kInternal for
// other read errors.
absl::StatusOr<ErrorRecord> ReadErrorFile(const std::string& path);

// Writes `record` to `path` atomically (path + ".tmp", then rename); creates
// no folders. kInternal naming the path and errno on failure.
absl::Status WriteErrorFile(const std::string& path, const ErrorRecord& record);

// The current thread's stack, innermost first, `skip` frames above the
// caller left out, at most `max_frames` frames.
std::vector<std::string> CurrentStack(int skip = 0, int max_frames = 64);

struct ErrorReportingOptions {
  // Error file (Config::error_file: BRAID_ERROR_FILE, else
  // TORCHELASTIC_ERROR_FILE). Empty: reporting stays off and Install is a
  // no-op returning OK. REQUIRES: shorter than 4000 bytes.
  std::string path;
  // Global rank written into records.
  int global_rank = -1;
  // Also install the fatal-signal handler. Default true.
  bool install_signal_handler = true;
};

// Turns error reporting on for this process (see the file comment).
// kInvalidArgument for a path too long; kInternal when sigaction or the
// alternate stack fails.
absl::Status InstallErrorReporting(const ErrorReportingOptions& options);

// True after a successful InstallErrorReporting with a non-empty path.
bool ErrorReportingEnabled();

// Records `status` (with the caller's stack and the current time) in the
// installed error file. OK and nothing written when `status` is OK, when
// reporting is not installed, or when this process already wrote a record;
// otherwise WriteErrorFile's error.
absl::Status RecordError(const absl::Status& status);

}  // namespace braid::runtime

#endif  // BRAID_RUNTIME_ERROR_FILE_H_
