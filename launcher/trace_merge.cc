#include "launcher/trace_merge.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace braid::launcher {
namespace {

// Index just past the JSON string starting at text[i] == '"', or npos.
size_t SkipString(absl::string_view text, size_t i) {
  for (++i; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      return i + 1;
    }
  }
  return absl::string_view::npos;
}

// The text between the brackets of the top-level array `"key":[...]` of a
// JSON object, found by bracket matching that skips strings.
absl::StatusOr<absl::string_view> TopLevelArray(absl::string_view text, absl::string_view key) {
  const std::string quoted = absl::StrCat("\"", key, "\"");
  int depth = 0;
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '"') {
      const size_t end = SkipString(text, i);
      if (end == absl::string_view::npos) return absl::DataLossError("unterminated string");
      if (depth == 1 && text.substr(i, end - i) == quoted) {
        size_t j = end;
        while (j < text.size() && (text[j] == ' ' || text[j] == ':' || text[j] == '\n')) ++j;
        if (j >= text.size() || text[j] != '[') {
          return absl::DataLossError(absl::StrCat("\"", key, "\" is not an array"));
        }
        int inner = 0;
        for (size_t k = j; k < text.size();) {
          if (text[k] == '"') {
            k = SkipString(text, k);
            if (k == absl::string_view::npos) return absl::DataLossError("unterminated string");
            continue;
          }
          if (text[k] == '[' || text[k] == '{') ++inner;
          if (text[k] == ']' || text[k] == '}') {
            if (--inner == 0) return text.substr(j + 1, k - j - 1);
          }
          ++k;
        }
        return absl::DataLossError(absl::StrCat("\"", key, "\" is not closed"));
      }
      i = end;
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') --depth;
    ++i;
  }
  return absl::DataLossError(absl::StrCat("no top-level \"", key, "\""));
}

// otherData.dropped_events of a rank file (0 when absent).
int64_t DroppedEvents(absl::string_view text) {
  const size_t at = text.rfind("\"dropped_events\":");
  if (at == absl::string_view::npos) return 0;
  absl::string_view rest = text.substr(at + std::strlen("\"dropped_events\":"));
  size_t n = 0;
  while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
  int64_t v = 0;
  return absl::SimpleAtoi(rest.substr(0, n), &v) ? v : 0;
}

absl::Status WriteWhole(const std::string& path, absl::string_view text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot write '", tmp, "': ", std::strerror(errno)));
  }
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      return absl::InternalError(absl::StrCat("cannot write '", tmp, "': ", std::strerror(e)));
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename '", tmp, "': ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TraceMergeResult> MergeTraces(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("cannot list trace folder '", dir, "' (BRAID_TRACE): ", ec.message()));
  }
  std::vector<std::pair<int, std::string>> files;  // (rank, name)
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    absl::string_view rank_text = name;
    int rank;
    if (absl::ConsumePrefix(&rank_text, "trace_rank") && absl::ConsumeSuffix(&rank_text, ".json") &&
        absl::SimpleAtoi(rank_text, &rank) && rank >= 0) {
      files.emplace_back(rank, name);
    }
  }
  std::sort(files.begin(), files.end());
  TraceMergeResult result;
  std::vector<std::string> parts;
  int64_t dropped = 0;
  for (const auto& [rank, name] : files) {
    std::ifstream in(absl::StrCat(dir, "/", name), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) {
      result.skipped.push_back(absl::StrCat(name, ": cannot read it"));
      continue;
    }
    const std::string text = ss.str();
    absl::StatusOr<absl::string_view> events = TopLevelArray(text, "traceEvents");
    if (!events.ok()) {
      result.skipped.push_back(absl::StrCat(name, ": ", events.status().message()));
      continue;
    }
    const absl::string_view body = absl::StripAsciiWhitespace(*events);
    if (!body.empty()) parts.emplace_back(body);
    dropped += DroppedEvents(text);
    result.ranks.push_back(rank);
  }
  if (result.ranks.empty()) return result;
  const std::string merged = absl::StrCat(
      "{\"traceEvents\":[\n", absl::StrJoin(parts, ",\n"),
      "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"ranks\":[", absl::StrJoin(result.ranks, ","),
      "],\"dropped_events\":", dropped, "}}\n");
  result.path = absl::StrCat(dir, "/trace.json");
  if (absl::Status s = WriteWhole(result.path, merged); !s.ok()) return s;
  return result;
}

}  // namespace braid::launcher
