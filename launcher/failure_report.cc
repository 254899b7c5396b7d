#include "launcher/failure_report.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace braid::launcher {
namespace {

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S UTC", t, absl::UTCTimeZone());
}

// One line of text for a table cell: the first line, cut at `max` bytes.
std::string OneLine(absl::string_view text, size_t max) {
  std::string out(text.substr(0, text.find('\n')));
  if (out.size() > max) out = absl::StrCat(out.substr(0, max - 3), "...");
  return out;
}

}  // namespace

absl::Time WorkerFailure::FailureTime() const {
  return error.has_value() ? error->timestamp : ended;
}

size_t RootCause(const std::vector<WorkerFailure>& failures) {
  size_t best = 0;
  for (size_t i = 1; i < failures.size(); ++i) {
    const absl::Time t = failures[i].FailureTime(), best_t = failures[best].FailureTime();
    if (t < best_t || (t == best_t && failures[i].global_rank < failures[best].global_rank)) {
      best = i;
    }
  }
  return best;
}

std::string FormatFailureReport(const std::vector<WorkerFailure>& failures,
                                int max_stack_frames) {
  std::string out = absl::StrFormat("  %-6s %-6s %-8s %-30s %s\n", "rank", "local", "pid",
                                    "result", "error");
  for (const WorkerFailure& f : failures) {
    absl::StrAppendFormat(&out, "  %-6d %-6d %-8d %-30s %s\n", f.global_rank, f.local_rank, f.pid,
                          f.exit.has_value() ? f.exit->ToString() : "running",
                          f.error.has_value() ? OneLine(f.error->Summary(), 100) : "-");
  }
  const WorkerFailure& root = failures[RootCause(failures)];
  absl::StrAppend(&out, "  root cause (first failure): rank ", root.global_rank, " (local ",
                  root.local_rank, ", pid ", root.pid, ") at ", TimeText(root.FailureTime()),
                  ": ", root.exit.has_value() ? root.exit->ToString() : "still running", "\n");
  if (root.error.has_value()) {
    absl::StrAppend(&out, "    error: ", root.error->Summary(), "\n");
  } else if (!root.error_file_problem.empty()) {
    absl::StrAppend(&out, "    error: unknown (", root.error_file_problem, ")\n");
  } else {
    absl::StrAppend(&out,
                    "    error: unknown (the worker wrote no error file; a braid program "
                    "records one with runtime::RecordError)\n");
  }
  if (root.error.has_value() && !root.error_file.empty()) {
    absl::StrAppend(&out, "    error file: ", root.error_file, "\n");
  }
  if (root.error.has_value() && !root.error->stack.empty()) {
    absl::StrAppend(&out, "    stack:\n");
    const int frames = std::min<int>(max_stack_frames, root.error->stack.size());
    for (int i = 0; i < frames; ++i) {
      absl::StrAppend(&out, "      #", i, " ", root.error->stack[i], "\n");
    }
    if (frames < static_cast<int>(root.error->stack.size())) {
      absl::StrAppend(&out, "      ... ", root.error->stack.size() - frames, " more\n");
    }
  }
  if (root.tail.empty()) {
    absl::StrAppend(&out, "    rank ", root.global_rank, " wrote no output\n");
  } else {
    absl::StrAppend(&out, "    last output of rank ", root.global_rank, ":\n");
    for (const std::string& line : root.tail) absl::StrAppend(&out, "      | ", line, "\n");
  }
  return out;
}

}  // namespace braid::launcher
