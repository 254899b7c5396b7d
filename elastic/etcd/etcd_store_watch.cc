// EtcdStore's blocking operations: Watch (a long-poll over etcd's watch
// stream) and Wait (read, then watch the missing keys).
#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "elastic/etcd/etcd_json.h"
#include "elastic/etcd/etcd_store.h"
#include "runtime/status_macros.h"

namespace braid::elastic {
namespace {

using nlohmann::json;
namespace ej = etcd_json;

// What one message of the watch stream said.
struct WatchMessage {
  bool has_events = false;
};

// Decodes one line of the watch stream into `out` (events appended, keys with
// `key_prefix` removed).
absl::StatusOr<WatchMessage> ReadWatchMessage(const std::string& line,
                                              const std::string& key_prefix,
                                              runtime::WatchResult* out) {
  const char* what = "EtcdStore::Watch";
  BRAID_ASSIGN_OR_RETURN(json message, ej::Parse(line, what));
  if (!message.is_object()) return absl::DataLossError(absl::StrCat(what, ": not an object"));
  if (auto error = message.find("error"); error != message.end()) {
    // A stream error: {"error": {"grpc_code": N, "message": "..."}}.
    int code = static_cast<int>(absl::StatusCode::kUnavailable);
    std::string text = error->dump();
    if (error->is_object()) {
      BRAID_ASSIGN_OR_RETURN(int64_t grpc_code, ej::Int(*error, "grpc_code", what));
      BRAID_ASSIGN_OR_RETURN(text, ej::String(*error, "message", what));
      if (grpc_code > 0 && grpc_code <= 16) code = static_cast<int>(grpc_code);
    }
    return absl::Status(static_cast<absl::StatusCode>(code),
                        absl::StrCat(what, ": etcd ended the watch: ", text));
  }
  auto result = message.find("result");
  if (result == message.end() || !result->is_object()) {
    return absl::DataLossError(absl::StrCat(what, ": message without a result: ", line.substr(0, 200)));
  }
  BRAID_ASSIGN_OR_RETURN(bool canceled, ej::Bool(*result, "canceled", what));
  if (canceled) {
    BRAID_ASSIGN_OR_RETURN(int64_t compact_revision, ej::Int(*result, "compact_revision", what));
    if (compact_revision > 0) {
      return absl::OutOfRangeError(absl::StrCat(
          what, ": the requested revision was compacted away; the oldest revision kept is ",
          compact_revision, ". Re-read the state with ListPrefix and watch from its revision"));
    }
    BRAID_ASSIGN_OR_RETURN(std::string reason, ej::String(*result, "cancel_reason", what));
    return absl::UnavailableError(absl::StrCat(what, ": etcd canceled the watch (", reason,
                                               "); retry"));
  }
  WatchMessage info;
  auto events = result->find("events");
  if (events == result->end() || events->is_null()) return info;
  if (!events->is_array()) return absl::DataLossError(absl::StrCat(what, ": 'events' is not a list"));
  for (const json& event : *events) {
    BRAID_ASSIGN_OR_RETURN(std::string type, ej::String(event, "type", what));
    auto kv_it = event.find("kv");
    if (kv_it == event.end()) return absl::DataLossError(absl::StrCat(what, ": event without kv"));
    BRAID_ASSIGN_OR_RETURN(ej::KeyValue kv, ej::ReadKeyValue(*kv_it, what));
    if (!absl::StartsWith(kv.key, key_prefix)) continue;
    runtime::WatchEvent out_event;
    out_event.type = type == "DELETE" ? runtime::WatchEventType::kDelete
                                      : runtime::WatchEventType::kPut;
    out_event.key = kv.key.substr(key_prefix.size());
    if (out_event.type == runtime::WatchEventType::kPut) out_event.value = std::move(kv.value);
    out_event.revision = kv.mod_revision;
    out->revision = std::max(out->revision, kv.mod_revision);
    out->events.push_back(std::move(out_event));
    info.has_events = true;
  }
  return info;
}

}  // namespace

absl::StatusOr<runtime::WatchResult> EtcdStore::WatchRange(const std::string& key,
                                                           const std::string& range_end,
                                                           int64_t start_revision,
                                                           absl::Time deadline) {
  json create = {{"key", ej::Base64(key)}, {"range_end", ej::Base64(range_end)}};
  if (start_revision > 0) create["start_revision"] = absl::StrCat(start_revision);
  const json request = {{"create_request", create}};

  runtime::WatchResult result;
  absl::Status decode_status;
  bool got_events = false;
  ej::JsonLineSplitter lines;
  auto handle_line = [&](const std::string& line) {
    absl::StatusOr<WatchMessage> message = ReadWatchMessage(line, options_.key_prefix, &result);
    if (!message.ok()) {
      decode_status = message.status();
      return false;
    }
    got_events = got_events || message->has_events;
    return !got_events;  // Stop at the first batch of events.
  };
  const EtcdChunkCallback on_chunk = [&](absl::string_view chunk) {
    lines.Append(chunk);
    std::string line;
    while (lines.Next(&line)) {
      if (!handle_line(line)) return false;
    }
    return true;
  };
  absl::Status stream_status = http_->PostStream("/v3/watch", request.dump(), deadline, on_chunk);
  if (!decode_status.ok()) return decode_status;
  if (got_events) return result;
  if (!stream_status.ok()) return stream_status;
  // The server ended the stream; a last message may lack its newline.
  if (std::string rest = lines.TakeRest(); !rest.empty()) {
    handle_line(rest);
    if (!decode_status.ok()) return decode_status;
    if (got_events) return result;
  }
  return absl::UnavailableError("EtcdStore::Watch: etcd ended the watch stream without events; retry");
}

absl::StatusOr<runtime::WatchResult> EtcdStore::Watch(absl::string_view prefix,
                                                      int64_t after_revision,
                                                      absl::Time deadline) {
  if (after_revision < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("EtcdStore::Watch: after_revision must be >= 0, got ", after_revision));
  }
  const std::string full = absl::StrCat(options_.key_prefix, prefix);
  absl::StatusOr<runtime::WatchResult> result =
      WatchRange(full.empty() ? std::string(1, '\0') : full, ej::PrefixRangeEnd(full),
                 after_revision > 0 ? after_revision + 1 : 0, deadline);
  if (absl::IsDeadlineExceeded(result.status())) {
    return absl::DeadlineExceededError(absl::StrCat(
        "EtcdStore::Watch('", prefix, "'): no change after revision ", after_revision,
        " by the deadline"));
  }
  return result;
}

absl::Status EtcdStore::Wait(absl::Span<const std::string> keys, absl::Time deadline) {
  if (keys.empty()) return absl::OkStatus();
  std::vector<std::string> full_keys;
  full_keys.reserve(keys.size());
  for (const std::string& key : keys) {
    BRAID_ASSIGN_OR_RETURN(std::string full, FullKey(key, "Wait"));
    full_keys.push_back(std::move(full));
  }
  const char* what = "EtcdStore::Wait";
  json ranges = json::array();
  for (const std::string& full : full_keys) {
    ranges.push_back(json{{"request_range", {{"key", ej::Base64(full)}, {"count_only", true}}}});
  }
  const std::string read_all = json{{"success", ranges}}.dump();
  std::vector<std::string> missing(keys.begin(), keys.end());
  while (true) {
    // 1. Read every key in one transaction (one revision).
    absl::StatusOr<std::string> answer = Call("/v3/kv/txn", read_all, deadline);
    if (absl::IsDeadlineExceeded(answer.status())) break;
    if (!answer.ok()) return absl::Status(answer.status().code(), absl::StrCat(what, ": ", answer.status().message()));
    BRAID_ASSIGN_OR_RETURN(json txn, ej::Parse(*answer, what));
    missing.clear();
    std::string low, high;
    for (size_t i = 0; i < full_keys.size(); ++i) {
      BRAID_ASSIGN_OR_RETURN(json range, ej::TxnRangeResponse(txn, i, what));
      BRAID_ASSIGN_OR_RETURN(int64_t count, ej::Int(range, "count", what));
      if (count > 0) continue;
      missing.push_back(keys[i]);
      if (low.empty() || full_keys[i] < low) low = full_keys[i];
      if (high.empty() || full_keys[i] > high) high = full_keys[i];
    }
    if (missing.empty()) return absl::OkStatus();
    BRAID_ASSIGN_OR_RETURN(int64_t revision, ej::HeaderRevision(txn, what));
    // 2. Watch the span of the missing keys from just after that revision, so
    //    no write in between is missed; any event there means "read again".
    absl::StatusOr<runtime::WatchResult> watched =
        WatchRange(low, high + std::string(1, '\0'), revision + 1, deadline);
    if (absl::IsDeadlineExceeded(watched.status())) break;
    if (!watched.ok() && !absl::IsOutOfRange(watched.status())) return watched.status();
  }
  return absl::DeadlineExceededError(absl::StrCat(
      what, ": keys still missing at the deadline: ", absl::StrJoin(missing, ", "),
      " (namespace '", options_.key_prefix, "')"));
}

}  // namespace braid::elastic
