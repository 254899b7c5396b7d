// logging.h on glog 0.6. The only file of braid that includes glog.
#include "runtime/logging.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iomanip>

#include "absl/base/call_once.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"

namespace braid::runtime {
namespace {

// Process-wide logging settings (see the header: logging is deliberately
// process-global, like stderr). Atomics, so the hot path takes no lock.
std::atomic<int> g_rank{-1};
std::atomic<int> g_min_severity{static_cast<int>(logging_internal::Severity::kInfo)};
std::atomic<int> g_vlog_level{-1};  // -1: BRAID_VLOG off
absl::once_flag g_glog_once;
std::string* g_program = nullptr;  // written once under g_glog_once, kept for glog

#ifdef NDEBUG
// Debian's Abseil is built without NDEBUG, so every absl::Mutex lock runs its
// deadlock detector (a process-wide graph behind a global spinlock) even in
// braid's Release builds: measured at about a tenth of an 8-byte tcp
// all-reduce, where several mutexes are taken per operation. Release builds
// turn it off before main, as a Release Abseil does; debug and sanitizer
// builds keep it. A program may turn it back on in main().
const bool g_mutex_deadlock_detection_off = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();
#endif

// "[rank3] I1123 15:26:01.123 file.cc:42]" (glog adds the space after it).
void PrefixCallback(std::ostream& s, const google::LogMessageInfo& info, void*) {
  const int rank = g_rank.load(std::memory_order_relaxed);
  if (rank >= 0) s << "[rank" << rank << "] ";
  const char fill = s.fill('0');
  s << info.severity[0] << std::setw(2) << 1 + info.time.month() << std::setw(2)
    << info.time.day() << ' ' << std::setw(2) << info.time.hour() << ':' << std::setw(2)
    << info.time.min() << ':' << std::setw(2) << info.time.sec() << '.' << std::setw(3)
    << info.time.usec() / 1000;
  s.fill(fill);
  s << ' ' << info.filename << ':' << info.line_number << ']';
}

void InitGlogOnce(const std::string& program) {
  absl::call_once(g_glog_once, [&] {
    // glibc's localtime_r (glog's timestamps) lazily initialises the time
    // zone without a lock; doing it once here keeps later calls read-only.
    ::tzset();
    g_program = new std::string(program.empty() ? "braid" : program);
    FLAGS_logtostderr = true;
    FLAGS_colorlogtostderr = false;
    FLAGS_minloglevel = 0;  // braid filters before formatting; glog prints what it gets
    google::InitGoogleLogging(g_program->c_str(), &PrefixCallback, nullptr);
  });
}

int SeverityFor(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
    case LogLevel::kInfo: return static_cast<int>(logging_internal::Severity::kInfo);
    case LogLevel::kWarning: return static_cast<int>(logging_internal::Severity::kWarning);
    case LogLevel::kError: return static_cast<int>(logging_internal::Severity::kError);
  }
  return static_cast<int>(logging_internal::Severity::kInfo);
}

google::LogSeverity GlogSeverity(logging_internal::Severity severity) {
  switch (severity) {
    case logging_internal::Severity::kInfo: return google::GLOG_INFO;
    case logging_internal::Severity::kWarning: return google::GLOG_WARNING;
    case logging_internal::Severity::kError: return google::GLOG_ERROR;
    case logging_internal::Severity::kFatal: return google::GLOG_FATAL;
  }
  return google::GLOG_ERROR;
}

}  // namespace

absl::string_view ToString(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "invalid";
}

absl::StatusOr<ParsedLogLevel> ParseLogLevel(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  absl::string_view word = lower;
  absl::string_view verbosity;
  if (const size_t colon = word.find(':'); colon != absl::string_view::npos) {
    verbosity = word.substr(colon + 1);
    word = word.substr(0, colon);
  }
  ParsedLogLevel out;
  if (word == "debug") {
    out.level = LogLevel::kDebug;
    out.vlog_level = 1;
    if (!verbosity.empty() || lower.find(':') != std::string::npos) {
      int v = 0;
      if (!absl::SimpleAtoi(verbosity, &v) || v < 0 || v > 9) {
        return absl::InvalidArgumentError(
            absl::StrCat("log level '", text, "': the verbosity after 'debug:' must be 0..9"));
      }
      out.vlog_level = v;
    }
    return out;
  }
  if (!verbosity.empty() || lower.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "log level '", text, "': only 'debug' takes a verbosity ('debug:2')"));
  }
  if (word == "info") {
    out.level = LogLevel::kInfo;
  } else if (word == "warning" || word == "warn") {
    out.level = LogLevel::kWarning;
  } else if (word == "error") {
    out.level = LogLevel::kError;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "log level '", text, "' is unknown; expected debug, info, warning or error"));
  }
  return out;
}

void InitLogging(const LoggingOptions& options) {
  InitGlogOnce(options.program);
  g_rank.store(options.rank, std::memory_order_relaxed);
  g_min_severity.store(SeverityFor(options.level), std::memory_order_relaxed);
  g_vlog_level.store(options.level == LogLevel::kDebug ? options.vlog_level : -1,
                     std::memory_order_relaxed);
}

void SetLogRank(int rank) { g_rank.store(rank, std::memory_order_relaxed); }

void FlushLogs() {
  google::FlushLogFiles(google::GLOG_INFO);
  std::fflush(stderr);
}

namespace logging_internal {

bool IsOn(Severity severity) {
  return static_cast<int>(severity) >= g_min_severity.load(std::memory_order_relaxed);
}

bool VlogIsOn(int level) { return level <= g_vlog_level.load(std::memory_order_relaxed); }

LogMessage::~LogMessage() {
  InitGlogOnce("braid");
  google::LogMessage(file_, line_, GlogSeverity(severity_)).stream() << stream_.str();
}

LogMessageFatal::~LogMessageFatal() {
  InitGlogOnce("braid");
  {
    google::LogMessage(file_, line_, google::GLOG_FATAL).stream() << stream_.str();
  }
  std::abort();  // glog aborts above; this keeps the [[noreturn]] promise regardless
}

}  // namespace logging_internal
}  // namespace braid::runtime
