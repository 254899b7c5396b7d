// Logging: levelled, rank-prefixed lines on stderr, written through glog 0.6.
//
//   InitLogging({.rank = 3, .level = LogLevel::kInfo, .program = argv[0]});
//   BRAID_LOG(INFO) << "joined generation " << gen;
//   BRAID_LOG(WARNING) << "peer 2 slow: " << ms << " ms; still waiting";
//   BRAID_VLOG(1) << "frame " << seq;            // only with BRAID_LOG_LEVEL=debug
//   BRAID_CHECK(offset <= size) << "offset " << offset;   // broken invariant only
//
// A line reads
//   [rank3] I1123 15:26:01.123 file.cc:42] message
// (severity letter I/W/E/F, month-day, time, source file, line). Before
// InitLogging (or with rank < 0) the "[rankN] " part is left out.
//
// Levels: BRAID_LOG(INFO|WARNING|ERROR|FATAL). Messages below the level set
// by InitLogging are not formatted at all (one predictable branch).
// BRAID_VLOG(n) lines are debug detail, printed as INFO when the level is
// kDebug and n <= LoggingOptions::vlog_level. FATAL logs, flushes and aborts.
//
// BRAID_CHECK is for broken invariants (a braid bug) only. Anything that came
// from a peer, the network, a file, the environment or the user is a Status,
// never a CHECK.
//
// Process-wide: logging is the one deliberately process-global facility (as
// stderr is). InitLogging may be called again (e.g. after an elastic restart
// changes the rank); the latest call wins. glog stays out of this header: only
// logging.cc includes it.
//
// Thread-safety: all functions and macros are thread-safe; a line is written
// whole (lines from different threads never interleave within a line).
#ifndef BRAID_RUNTIME_LOGGING_H_
#define BRAID_RUNTIME_LOGGING_H_

#include <cstdint>
#include <sstream>
#include <string>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace braid::runtime {

enum class LogLevel : uint8_t {
  kDebug = 0,    // INFO plus BRAID_VLOG(n <= vlog_level)
  kInfo = 1,
  kWarning = 2,
  kError = 3,
};

// "debug", "info", "warning", "error".
absl::string_view ToString(LogLevel level);

// Parses BRAID_LOG_LEVEL values: debug|info|warning|error (any case; "warn"
// too). "debug:N" sets the VLOG verbosity to N (plain "debug" means 1).
// kInvalidArgument otherwise.
struct ParsedLogLevel {
  LogLevel level = LogLevel::kInfo;
  int vlog_level = 0;
};
absl::StatusOr<ParsedLogLevel> ParseLogLevel(absl::string_view text);

struct LoggingOptions {
  // Global rank shown as "[rank3] "; < 0 shows no rank. Default -1.
  int rank = -1;
  // Lowest severity printed. Default kInfo.
  LogLevel level = LogLevel::kInfo;
  // BRAID_VLOG(n) prints when level == kDebug and n <= vlog_level. Default 1.
  int vlog_level = 1;
  // Program name for glog (argv[0]). Default "braid".
  std::string program = "braid";
};

// Sets up (first call) or reconfigures (later calls) logging to stderr.
void InitLogging(const LoggingOptions& options);

// Changes only the rank in the prefix (e.g. after an elastic re-rank).
void SetLogRank(int rank);

// Flushes buffered log output (glog writes stderr unbuffered; this also
// flushes any log sink).
void FlushLogs();

namespace logging_internal {

enum class Severity : int { kInfo = 0, kWarning = 1, kError = 2, kFatal = 3 };

// True when a message of `severity` would be printed.
bool IsOn(Severity severity);
// True when BRAID_VLOG(level) would be printed.
bool VlogIsOn(int level);

// Collects one message and hands it to glog when destroyed.
class LogMessage {
 public:
  LogMessage(const char* file, int line, Severity severity)
      : file_(file), line_(line), severity_(severity) {}
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 protected:
  const char* file_;
  int line_;
  Severity severity_;
  std::ostringstream stream_;
};

// A FATAL message: logs, flushes and aborts the process when destroyed.
class LogMessageFatal : public LogMessage {
 public:
  LogMessageFatal(const char* file, int line) : LogMessage(file, line, Severity::kFatal) {}
  [[noreturn]] ~LogMessageFatal();
};

// Turns "stream << ..." into void so it fits the ?: in the macros below.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace logging_internal
}  // namespace braid::runtime

#define BRAID_LOG_INTERNAL_IF_ON_(sev)                                                   \
  !::braid::runtime::logging_internal::IsOn(::braid::runtime::logging_internal::sev)     \
      ? (void)0                                                                          \
      : ::braid::runtime::logging_internal::Voidify() &                                  \
            ::braid::runtime::logging_internal::LogMessage(                              \
                __FILE__, __LINE__, ::braid::runtime::logging_internal::sev)             \
                .stream()
#define BRAID_LOG_INTERNAL_INFO BRAID_LOG_INTERNAL_IF_ON_(Severity::kInfo)
#define BRAID_LOG_INTERNAL_WARNING BRAID_LOG_INTERNAL_IF_ON_(Severity::kWarning)
#define BRAID_LOG_INTERNAL_ERROR BRAID_LOG_INTERNAL_IF_ON_(Severity::kError)
#define BRAID_LOG_INTERNAL_FATAL \
  ::braid::runtime::logging_internal::LogMessageFatal(__FILE__, __LINE__).stream()

// BRAID_LOG(INFO|WARNING|ERROR|FATAL) << ...;
#define BRAID_LOG(severity) BRAID_LOG_INTERNAL_##severity

// BRAID_VLOG(n) << ...;  debug detail, see the file comment.
#define BRAID_VLOG(level)                                                              \
  !::braid::runtime::logging_internal::VlogIsOn(level)                                 \
      ? (void)0                                                                        \
      : ::braid::runtime::logging_internal::Voidify() &                                \
            ::braid::runtime::logging_internal::LogMessage(                            \
                __FILE__, __LINE__, ::braid::runtime::logging_internal::Severity::kInfo) \
                .stream()

// BRAID_CHECK(cond) << ...;  aborts with "Check failed: cond ..." when false.
#define BRAID_CHECK(condition)                                                 \
  ABSL_PREDICT_TRUE(condition)                                                 \
  ? (void)0                                                                    \
  : ::braid::runtime::logging_internal::Voidify() &                            \
        ::braid::runtime::logging_internal::LogMessageFatal(__FILE__, __LINE__) \
                .stream()                                                      \
            << "Check failed: " #condition " "

#endif  // BRAID_RUNTIME_LOGGING_H_
