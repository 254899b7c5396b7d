#include "runtime/trace.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/logging.h"
#include "runtime/status_macros.h"

namespace braid::runtime {
namespace {

// Appends `s` as a JSON string literal (with quotes).
void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  for (const char c : s) {
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

// Nanoseconds as the microseconds Chrome traces use, keeping ns precision.
std::string Micros(int64_t ns) {
  return absl::StrFormat("%d.%03d", ns / 1000, std::abs(ns % 1000));
}

int TrackId(Category category) { return static_cast<int>(category) + 1; }

}  // namespace

absl::string_view ToString(Category category) {
  switch (category) {
    case Category::kCompute: return "compute";
    case Category::kCommunication: return "communication";
    case Category::kIdle: return "idle";
    case Category::kMemory: return "memory";
    case Category::kCheckpoint: return "checkpoint";
    case Category::kOther: return "other";
  }
  return "invalid";
}

Tracer::Tracer(const TracerOptions& options, std::string path)
    : enabled_(true),
      rank_(options.rank),
      path_(std::move(path)),
      env_(options.env != nullptr ? options.env : Env::Default()),
      max_events_(options.max_events) {}

absl::StatusOr<std::unique_ptr<Tracer>> Tracer::Create(const TracerOptions& options) {
  if (options.dir.empty()) return std::make_unique<Tracer>();
  if (options.rank < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Tracer: rank ", options.rank, " is negative; expected the global rank"));
  }
  Env* env = options.env != nullptr ? options.env : Env::Default();
  absl::Status made = env->CreateDirectories(options.dir);
  if (!made.ok()) {
    return absl::Status(made.code(), absl::StrCat("BRAID_TRACE: cannot use directory '",
                                                  options.dir, "' for traces: ", made.message(),
                                                  "; pick a writable directory"));
  }
  std::string path = absl::StrCat(options.dir, "/trace_rank", options.rank, ".json");
  return std::unique_ptr<Tracer>(new Tracer(options, std::move(path)));
}

Tracer::~Tracer() {
  if (!enabled_) return;
  if (absl::Status s = Close(); !s.ok()) {
    BRAID_LOG(ERROR) << "trace of rank " << rank_ << " was not written: " << s;
  }
}

int64_t Tracer::NowNanos() const { return enabled_ ? env_->MonotonicNanos() : 0; }

void Tracer::Append(Event event) {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  if (events_.size() >= max_events_) {
    ++dropped_;
    return;
  }
  events_.push_back(std::move(event));
}

void Tracer::Complete(absl::string_view name, Category category, int64_t start_ns,
                      int64_t end_ns) {
  if (!enabled_) return;
  Append(Event{'X', category, std::string(name), start_ns, std::max<int64_t>(0, end_ns - start_ns),
               0, 0.0});
}

uint64_t Tracer::BeginAsync(absl::string_view name, Category category) {
  if (!enabled_) return 0;
  const uint64_t id = next_async_id_.fetch_add(1, std::memory_order_relaxed);
  const int64_t now = NowNanos();
  absl::MutexLock lock(&mu_);
  if (closed_) return id;
  open_async_.push_back({id, AsyncSpan{std::string(name), category}});
  if (events_.size() >= max_events_) {
    ++dropped_;
  } else {
    events_.push_back(Event{'b', category, std::string(name), now, 0, id, 0.0});
  }
  return id;
}

void Tracer::EndAsync(uint64_t id) {
  if (!enabled_ || id == 0) return;
  const int64_t now = NowNanos();
  absl::MutexLock lock(&mu_);
  auto it = std::find_if(open_async_.begin(), open_async_.end(),
                         [id](const auto& entry) { return entry.first == id; });
  if (it == open_async_.end() || closed_) return;
  AsyncSpan span = std::move(it->second);
  open_async_.erase(it);
  if (events_.size() >= max_events_) {
    ++dropped_;
  } else {
    events_.push_back(Event{'e', span.category, std::move(span.name), now, 0, id, 0.0});
  }
}

void Tracer::Instant(absl::string_view name, Category category) {
  if (!enabled_) return;
  Append(Event{'i', category, std::string(name), NowNanos(), 0, 0, 0.0});
}

void Tracer::Counter(absl::string_view name, double value) {
  if (!enabled_) return;
  Append(Event{'C', Category::kOther, std::string(name), NowNanos(), 0, 0, value});
}

size_t Tracer::num_events() const {
  absl::MutexLock lock(&mu_);
  return events_.size();
}

size_t Tracer::num_dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

std::string Tracer::RenderJson() const {
  std::string out = "{\"traceEvents\":[\n";
  const std::string pid = absl::StrCat(rank_);
  absl::StrAppend(&out, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":", pid,
                  ",\"tid\":0,\"args\":{\"name\":\"rank ", rank_, "\"}},\n");
  absl::StrAppend(&out, "{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":", pid,
                  ",\"tid\":0,\"args\":{\"sort_index\":", rank_, "}}");
  for (int c = 0; c < kNumCategories; ++c) {
    const Category category = static_cast<Category>(c);
    absl::StrAppend(&out, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":", pid,
                    ",\"tid\":", TrackId(category), ",\"args\":{\"name\":\"",
                    ToString(category), "\"}}");
  }
  for (const Event& e : events_) {
    out.append(",\n{\"name\":");
    AppendJsonString(&out, e.name);
    absl::StrAppend(&out, ",\"cat\":\"", ToString(e.category), "\",\"ph\":\"",
                    absl::string_view(&e.phase, 1), "\",\"ts\":", Micros(e.ts_ns),
                    ",\"pid\":", pid, ",\"tid\":", TrackId(e.category));
    switch (e.phase) {
      case 'X': absl::StrAppend(&out, ",\"dur\":", Micros(e.dur_ns)); break;
      case 'b':
      case 'e': absl::StrAppend(&out, ",\"id\":\"0x", absl::Hex(e.id), "\""); break;
      case 'i': out.append(",\"s\":\"t\""); break;
      case 'C': absl::StrAppend(&out, ",\"args\":{\"value\":", absl::StrFormat("%.17g", e.value),
                                "}"); break;
      default: break;
    }
    out.push_back('}');
  }
  absl::StrAppend(&out, "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"rank\":", rank_,
                  ",\"dropped_events\":", dropped_, "}}\n");
  return out;
}

absl::Status Tracer::WriteJson(const std::string& json) {
  absl::Status s = env_->WriteFileAtomically(path_, json);
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("Tracer of rank ", rank_, ": cannot write ", path_,
                                               ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status Tracer::Flush() {
  if (!enabled_) return absl::OkStatus();
  std::string json;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::OkStatus();
    json = RenderJson();
  }
  return WriteJson(json);
}

absl::Status Tracer::Close() {
  if (!enabled_) return absl::OkStatus();
  std::string json;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::OkStatus();
    json = RenderJson();
    closed_ = true;
    events_.clear();
    events_.shrink_to_fit();
    open_async_.clear();
  }
  return WriteJson(json);
}

}  // namespace braid::runtime
