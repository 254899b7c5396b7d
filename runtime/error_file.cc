#include "runtime/error_file.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/debugging/symbolize.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace braid::runtime {
namespace {

constexpr int kMaxFrames = 64;
constexpr size_t kMaxPath = 4000;
constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
constexpr int kNumFatalSignals = sizeof(kFatalSignals) / sizeof(kFatalSignals[0]);

// ---------------------------------------------------------------------------
// JSON writing (normal context).

void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

std::string FormatFrame(void* pc) {
  char symbol[1024];
  if (!absl::Symbolize(pc, symbol, sizeof(symbol))) std::strcpy(symbol, "(unknown)");
  return absl::StrFormat("0x%016x %s", reinterpret_cast<uintptr_t>(pc), symbol);
}

// ---------------------------------------------------------------------------
// JSON reading: just enough for error records (objects, arrays, strings,
// numbers, true/false/null).

class JsonReader {
 public:
  explicit JsonReader(absl::string_view text) : text_(text) {}

  absl::Status Error(absl::string_view what) const {
    return absl::DataLossError(
        absl::StrCat("error record: ", what, " at offset ", pos_, " of ", text_.size()));
  }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ == text_.size();
  }
  char Peek() {
    SkipSpace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  absl::Status String(std::string* out) {
    out->clear();
    if (!Consume('"')) return Error("expected a string");
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return absl::OkStatus();
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"': case '\\': case '/': out->push_back(e); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return Error("bad \\u escape");
          if (cp >= 0xD800 && cp < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
            pos_ += 2;
            uint32_t low = 0;
            if (!Hex4(&low) || low < 0xDC00 || low > 0xDFFF) return Error("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Error("bad escape");
      }
    }
    return Error("unterminated string");
  }

  absl::Status Integer(int64_t* out) {
    SkipSpace();
    const size_t start = pos_;
    while (pos_ < text_.size() && (text_[pos_] == '-' || text_[pos_] == '+' ||
                                   text_[pos_] == '.' || text_[pos_] == 'e' ||
                                   text_[pos_] == 'E' || (text_[pos_] >= '0' && text_[pos_] <= '9'))) {
      ++pos_;
    }
    if (!absl::SimpleAtoi(text_.substr(start, pos_ - start), out)) {
      pos_ = start;
      return Error("expected an integer");
    }
    return absl::OkStatus();
  }

  // Skips any value.
  absl::Status Skip(int depth = 0) {
    if (depth > 64) return Error("nested too deeply");
    const char c = Peek();
    if (c == '"') {
      std::string ignored;
      return String(&ignored);
    }
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++pos_;
      if (Consume(close)) return absl::OkStatus();
      do {
        if (c == '{') {
          std::string key;
          if (absl::Status s = String(&key); !s.ok()) return s;
          if (!Consume(':')) return Error("expected ':'");
        }
        if (absl::Status s = Skip(depth + 1); !s.ok()) return s;
      } while (Consume(','));
      if (!Consume(close)) return Error("expected ',' or a closing bracket");
      return absl::OkStatus();
    }
    for (absl::string_view word : {"true", "false", "null"}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return absl::OkStatus();
      }
    }
    const size_t start = pos_;
    while (pos_ < text_.size() && std::strchr("+-.eE0123456789", text_[pos_]) != nullptr) ++pos_;
    if (pos_ == start) return Error("expected a value");
    return absl::OkStatus();
  }

 private:
  bool Hex4(uint32_t* out) {
    if (pos_ + 4 > text_.size()) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else return false;
    }
    *out = v;
    return true;
  }
  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------
// Process-wide reporting state, reachable from the signal handler. Constant-
// initialised, so the handler never runs a static initialiser.

struct ReportingState {
  std::atomic<bool> enabled{false};
  std::atomic<bool> recorded{false};
  int global_rank = -1;
  char path[kMaxPath + 1] = {};
  char tmp_path[kMaxPath + 8] = {};
  struct sigaction previous[kNumFatalSignals] = {};
  bool handlers_installed = false;
};
ReportingState g_state;

// Writes through a fixed buffer with write(2) only: async-signal-safe.
class SafeWriter {
 public:
  explicit SafeWriter(int fd) : fd_(fd) {}
  ~SafeWriter() { Flush(); }
  void Char(char c) {
    if (n_ == sizeof(buf_)) Flush();
    buf_[n_++] = c;
  }
  void Str(const char* s) {
    while (*s != '\0') Char(*s++);
  }
  void Int(int64_t v) {
    char digits[24];
    int n = 0;
    const bool negative = v < 0;
    uint64_t u = negative ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    do {
      digits[n++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u != 0);
    if (negative) Char('-');
    while (n > 0) Char(digits[--n]);
  }
  void Hex(uintptr_t v) {
    Str("0x");
    for (int shift = 60; shift >= 0; shift -= 4) Char("0123456789abcdef"[(v >> shift) & 0xF]);
  }
  // The characters of `s`, escaped for a JSON string (no quotes).
  void Escaped(const char* s) {
    for (; *s != '\0'; ++s) {
      const unsigned char c = static_cast<unsigned char>(*s);
      if (c == '"' || c == '\\') {
        Char('\\');
        Char(static_cast<char>(c));
      } else if (c < 0x20) {
        Str("\\u00");
        Char("0123456789abcdef"[c >> 4]);
        Char("0123456789abcdef"[c & 0xF]);
      } else {
        Char(static_cast<char>(c));
      }
    }
  }
  void Flush() {
    size_t done = 0;
    while (done < n_) {
      const ssize_t w = ::write(fd_, buf_ + done, n_ - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      done += static_cast<size_t>(w);
    }
    n_ = 0;
  }

 private:
  int fd_;
  char buf_[4096];
  size_t n_ = 0;
};

const char* SignalName(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
  }
  return "SIGNAL";
}

const char* SignalMessage(int sig) {
  switch (sig) {
    case SIGSEGV: return "Segmentation fault";
    case SIGBUS: return "Bus error";
    case SIGFPE: return "Floating point exception";
    case SIGILL: return "Illegal instruction";
    case SIGABRT: return "Aborted";
  }
  return "Fatal signal";
}

// The signal-handler twin of FormatErrorRecord + WriteErrorFile.
void WriteSignalRecord(int sig) {
  const int fd = ::open(g_state.tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  struct timespec ts = {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  void* pcs[kMaxFrames];
  const int frames = ::backtrace(pcs, kMaxFrames);
  {
    SafeWriter w(fd);
    w.Str("{\"version\":1,\"rank\":");
    w.Int(g_state.global_rank);
    w.Str(",\"pid\":");
    w.Int(::getpid());
    w.Str(",\"code\":\"");
    w.Str(SignalName(sig));
    w.Str("\",\"signal\":");
    w.Int(sig);
    w.Str(",\"message\":\"");
    w.Str(SignalMessage(sig));
    w.Str(" (fatal signal ");
    w.Int(sig);
    w.Str(")\",\"timestamp_us\":");
    w.Int(static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000);
    w.Str(",\"stack\":[");
    // Every frame, the handler's own included: inlining makes their number
    // unknowable here.
    for (int i = 0; i < frames; ++i) {
      char symbol[512];
      if (!absl::Symbolize(pcs[i], symbol, sizeof(symbol))) std::strcpy(symbol, "(unknown)");
      if (i > 0) w.Char(',');
      w.Char('"');
      w.Hex(reinterpret_cast<uintptr_t>(pcs[i]));
      w.Char(' ');
      w.Escaped(symbol);
      w.Char('"');
    }
    w.Str("]}\n");
  }
  ::close(fd);
  ::rename(g_state.tmp_path, g_state.path);
}

void OnFatalSignal(int sig, siginfo_t*, void*) {
  const int saved_errno = errno;
  if (!g_state.recorded.exchange(true)) WriteSignalRecord(sig);
  // Hand the signal to the previous disposition (never "ignore": a fault
  // would loop). It is blocked while this handler runs and delivered on
  // return; a fault re-executes its instruction then.
  for (int i = 0; i < kNumFatalSignals; ++i) {
    if (kFatalSignals[i] != sig) continue;
    struct sigaction previous = g_state.previous[i];
    if (previous.sa_handler == SIG_IGN) previous.sa_handler = SIG_DFL;
    ::sigaction(sig, &previous, nullptr);
  }
  ::raise(sig);
  errno = saved_errno;
}

absl::Status InstallSignalHandlers() {
  // An alternate stack, so a stack overflow can still be reported. Mapped
  // once and kept for the life of the process.
  stack_t current = {};
  if (::sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) != 0) {
    constexpr size_t kAltStackBytes = 256 * 1024;
    void* mem = ::mmap(nullptr, kAltStackBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
      return absl::InternalError(absl::StrCat("error reporting: mmap of the signal stack: ",
                                              std::strerror(errno)));
    }
    stack_t ss = {};
    ss.ss_sp = mem;
    ss.ss_size = kAltStackBytes;
    if (::sigaltstack(&ss, nullptr) != 0) {
      return absl::InternalError(
          absl::StrCat("error reporting: sigaltstack: ", std::strerror(errno)));
    }
  }
  // backtrace() loads libgcc's unwinder on first use (dlopen, not signal
  // safe): do that now.
  void* warm[4];
  (void)::backtrace(warm, 4);
  for (int i = 0; i < kNumFatalSignals; ++i) {
    struct sigaction sa = {};
    sa.sa_sigaction = OnFatalSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    struct sigaction previous = {};
    if (::sigaction(kFatalSignals[i], &sa, &previous) != 0) {
      return absl::InternalError(absl::StrCat("error reporting: sigaction(",
                                              SignalName(kFatalSignals[i]),
                                              "): ", std::strerror(errno)));
    }
    // A second Install keeps the disposition found by the first.
    if (!g_state.handlers_installed) g_state.previous[i] = previous;
  }
  g_state.handlers_installed = true;
  return absl::OkStatus();
}

}  // namespace

std::string ErrorRecord::Summary() const { return absl::StrCat(code, ": ", message); }

std::string FormatErrorRecord(const ErrorRecord& record) {
  std::string out = absl::StrCat("{\"version\":1,\"rank\":", record.global_rank,
                                 ",\"pid\":", record.pid, ",\"code\":");
  AppendJsonString(&out, record.code);
  absl::StrAppend(&out, ",\"signal\":", record.signal, ",\"message\":");
  AppendJsonString(&out, record.message);
  absl::StrAppend(&out, ",\"timestamp_us\":", absl::ToUnixMicros(record.timestamp),
                  ",\"stack\":[");
  for (size_t i = 0; i < record.stack.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(&out, record.stack[i]);
  }
  out.append("]}\n");
  return out;
}

absl::StatusOr<ErrorRecord> ParseErrorRecord(absl::string_view json) {
  JsonReader r(json);
  ErrorRecord record;
  bool has_code = false, has_time = false;
  if (!r.Consume('{')) return r.Error("expected '{'");
  if (!r.Consume('}')) {
    do {
      std::string key;
      if (absl::Status s = r.String(&key); !s.ok()) return s;
      if (!r.Consume(':')) return r.Error("expected ':'");
      int64_t v = 0;
      absl::Status s;
      if (key == "rank") {
        s = r.Integer(&v);
        record.global_rank = static_cast<int>(v);
      } else if (key == "pid") {
        s = r.Integer(&record.pid);
      } else if (key == "code") {
        s = r.String(&record.code);
        has_code = true;
      } else if (key == "signal") {
        s = r.Integer(&v);
        record.signal = static_cast<int>(v);
      } else if (key == "message") {
        s = r.String(&record.message);
      } else if (key == "timestamp_us") {
        s = r.Integer(&v);
        record.timestamp = absl::FromUnixMicros(v);
        has_time = true;
      } else if (key == "stack") {
        if (!r.Consume('[')) return r.Error("\"stack\" is not an array");
        if (!r.Consume(']')) {
          do {
            std::string frame;
            if (s = r.String(&frame); !s.ok()) return s;
            record.stack.push_back(std::move(frame));
          } while (r.Consume(','));
          if (!r.Consume(']')) return r.Error("expected ']'");
        }
      } else {
        s = r.Skip();
      }
      if (!s.ok()) return s;
    } while (r.Consume(','));
    if (!r.Consume('}')) return r.Error("expected ',' or '}'");
  }
  if (!r.AtEnd()) return r.Error("trailing text");
  if (!has_code || !has_time) return r.Error("\"code\" or \"timestamp_us\" missing");
  return record;
}

absl::StatusOr<ErrorRecord> ReadErrorFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no error file '", path, "'"));
    return absl::InternalError(
        absl::StrCat("cannot read error file '", path, "': ", std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<ErrorRecord> record = ParseErrorRecord(ss.str());
  if (!record.ok()) {
    return absl::DataLossError(absl::StrCat(record.status().message(), " in '", path, "'"));
  }
  return record;
}

absl::Status WriteErrorFile(const std::string& path, const ErrorRecord& record) {
  const std::string tmp = path + ".tmp";
  const std::string text = FormatErrorRecord(record);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot write error file '", tmp, "': ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int e = errno;
      ::close(fd);
      return absl::InternalError(
          absl::StrCat("cannot write error file '", tmp, "': ", std::strerror(e)));
    }
    done += static_cast<size_t>(w);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename error file '", tmp, "' to '", path,
                                            "': ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::vector<std::string> CurrentStack(int skip, int max_frames) {
  max_frames = std::min(max_frames, kMaxFrames);
  void* pcs[kMaxFrames];
  const int n = ::backtrace(pcs, std::min(kMaxFrames, max_frames + skip + 1));
  std::vector<std::string> out;
  for (int i = skip + 1; i < n; ++i) out.push_back(FormatFrame(pcs[i]));
  return out;
}

absl::Status InstallErrorReporting(const ErrorReportingOptions& options) {
  if (options.path.empty()) return absl::OkStatus();
  if (options.path.size() > kMaxPath) {
    return absl::InvalidArgumentError(absl::StrCat(
        "error file path is ", options.path.size(), " bytes long; at most ", kMaxPath,
        " are supported (BRAID_ERROR_FILE / TORCHELASTIC_ERROR_FILE)"));
  }
  g_state.enabled.store(false);
  std::memcpy(g_state.path, options.path.c_str(), options.path.size() + 1);
  const std::string tmp = options.path + ".tmp";
  std::memcpy(g_state.tmp_path, tmp.c_str(), tmp.size() + 1);
  g_state.global_rank = options.global_rank;
  if (options.install_signal_handler) {
    if (absl::Status s = InstallSignalHandlers(); !s.ok()) return s;
  }
  g_state.enabled.store(true);
  return absl::OkStatus();
}

bool ErrorReportingEnabled() { return g_state.enabled.load(); }

absl::Status RecordError(const absl::Status& status) {
  if (status.ok() || !g_state.enabled.load()) return absl::OkStatus();
  if (g_state.recorded.exchange(true)) return absl::OkStatus();
  ErrorRecord record;
  record.global_rank = g_state.global_rank;
  record.pid = ::getpid();
  record.code = absl::StatusCodeToString(status.code());
  record.message = std::string(status.message());
  record.timestamp = absl::Now();
  record.stack = CurrentStack(1);
  return WriteErrorFile(g_state.path, record);
}

}  // namespace braid::runtime
