#include "elastic/etcd/etcd_store.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "elastic/etcd/etcd_json.h"
#include "runtime/status_macros.h"

namespace braid::elastic {
namespace {

using nlohmann::json;
namespace ej = etcd_json;

// Prefixes a status message with the operation, keeping the code.
absl::Status Annotate(const absl::Status& status, absl::string_view op, absl::string_view key) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat("EtcdStore::", op, "('", key, "'): ", status.message()));
}

json Compare(const std::string& full_key, const char* target, const char* field,
             const std::string& operand) {
  return json{{"key", ej::Base64(full_key)},
              {"target", target},
              {"result", "EQUAL"},
              {field, operand}};
}

json PutOp(const std::string& full_key, absl::string_view value) {
  return json{{"request_put", {{"key", ej::Base64(full_key)}, {"value", ej::Base64(value)}}}};
}

json RangeOp(const std::string& full_key) {
  return json{{"request_range", {{"key", ej::Base64(full_key)}}}};
}

// Parses a stored counter; absent counts as 0.
absl::StatusOr<int64_t> CounterValue(const std::optional<ej::KeyValue>& kv) {
  if (!kv.has_value()) return 0;
  int64_t out = 0;
  if (!absl::SimpleAtoi(kv->value, &out)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the stored value '", kv->value.substr(0, 64), "' is not a decimal integer"));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdStore>> EtcdStore::Create(const EtcdStoreOptions& options) {
  if (options.max_value_bytes <= 0) {
    return absl::InvalidArgumentError("EtcdStore: max_value_bytes must be positive");
  }
  EtcdHttpOptions http_options;
  http_options.endpoints = options.endpoints;
  http_options.connect_timeout = options.connect_timeout;
  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<EtcdHttpClient> http,
                         EtcdHttpClient::Create(http_options));
  absl::StatusOr<std::string> probe =
      http->Post("/v3/maintenance/status", "{}", absl::Now() + options.connect_timeout);
  if (!probe.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "EtcdStore: no etcd answered at ", absl::StrJoin(options.endpoints, ", "), " within ",
        absl::FormatDuration(options.connect_timeout), " (", probe.status().message(),
        "). Start etcd (apt-get install etcd-server; `etcd --listen-client-urls ...`) or "
        "point the endpoint at its client URL"));
  }
  return std::unique_ptr<EtcdStore>(new EtcdStore(options, std::move(http)));
}

EtcdStore::EtcdStore(const EtcdStoreOptions& options, std::unique_ptr<EtcdHttpClient> http)
    : options_(options), http_(std::move(http)) {}

absl::StatusOr<std::string> EtcdStore::FullKey(absl::string_view key, absl::string_view op) const {
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("EtcdStore::", op, ": the key is empty"));
  }
  return absl::StrCat(options_.key_prefix, key);
}

absl::Status EtcdStore::CheckValue(absl::string_view value, absl::string_view op) const {
  if (static_cast<int64_t>(value.size()) > options_.max_value_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EtcdStore::", op, ": value of ", value.size(), " bytes is over the limit of ",
        options_.max_value_bytes, " (EtcdStoreOptions::max_value_bytes; etcd's own limit is "
        "--max-request-bytes)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EtcdStore::Call(absl::string_view path, const std::string& body,
                                            absl::Time deadline) {
  return http_->Post(path, body, deadline);
}

absl::Status EtcdStore::Set(absl::string_view key, absl::string_view value,
                            runtime::LeaseId lease, absl::Time deadline) {
  BRAID_ASSIGN_OR_RETURN(std::string full, FullKey(key, "Set"));
  BRAID_RETURN_IF_ERROR(CheckValue(value, "Set"));
  if (lease < 0) return absl::InvalidArgumentError(absl::StrCat("EtcdStore::Set: bad lease ", lease));
  json request = {{"key", ej::Base64(full)}, {"value", ej::Base64(value)}};
  if (lease != runtime::kNoLease) request["lease"] = absl::StrCat(lease);
  absl::StatusOr<std::string> answer = Call("/v3/kv/put", request.dump(), deadline);
  if (absl::IsNotFound(answer.status())) {
    return absl::NotFoundError(absl::StrCat("EtcdStore::Set('", key, "'): lease ", lease,
                                            " has expired or was revoked; grant a new one"));
  }
  return Annotate(answer.status(), "Set", key);
}

absl::StatusOr<std::string> EtcdStore::Get(absl::string_view key, absl::Time deadline) {
  BRAID_ASSIGN_OR_RETURN(std::string full, FullKey(key, "Get"));
  const json request = {{"key", ej::Base64(full)}};
  absl::StatusOr<std::string> answer = Call("/v3/kv/range", request.dump(), deadline);
  if (!answer.ok()) return Annotate(answer.status(), "Get", key);
  BRAID_ASSIGN_OR_RETURN(json parsed, ej::Parse(*answer, "EtcdStore::Get"));
  BRAID_ASSIGN_OR_RETURN(std::optional<ej::KeyValue> kv, ej::FirstKeyValue(parsed, "EtcdStore::Get"));
  if (!kv.has_value()) {
    return absl::NotFoundError(absl::StrCat("EtcdStore::Get: key '", key, "' not found (namespace '",
                                            options_.key_prefix, "')"));
  }
  return std::move(kv->value);
}

absl::StatusOr<int64_t> EtcdStore::Add(absl::string_view key, int64_t delta,
                                       absl::Time deadline) {
  BRAID_ASSIGN_OR_RETURN(std::string full, FullKey(key, "Add"));
  const char* what = "EtcdStore::Add";
  absl::StatusOr<std::string> first =
      Call("/v3/kv/range", json{{"key", ej::Base64(full)}}.dump(), deadline);
  if (!first.ok()) return Annotate(first.status(), "Add", key);
  BRAID_ASSIGN_OR_RETURN(json parsed, ej::Parse(*first, what));
  BRAID_ASSIGN_OR_RETURN(std::optional<ej::KeyValue> current, ej::FirstKeyValue(parsed, what));
  // Compare-and-swap until no other writer came in between; a lost race
  // returns the winner's value in the same answer (the failure branch), so
  // the retry needs no extra read. Under heavy contention on one key this
  // yields about one success per round of contenders' txns (measured in
  // docs/etcd.md; a random backoff gained too little to keep).
  while (true) {
    absl::StatusOr<int64_t> old_value = CounterValue(current);
    if (!old_value.ok()) return Annotate(old_value.status(), "Add", key);
    if ((delta > 0 && *old_value > std::numeric_limits<int64_t>::max() - delta) ||
        (delta < 0 && *old_value < std::numeric_limits<int64_t>::min() - delta)) {
      return absl::InvalidArgumentError(absl::StrCat("EtcdStore::Add('", key, "'): ", *old_value,
                                                     " + ", delta, " overflows int64"));
    }
    const int64_t new_value = *old_value + delta;
    const json compare =
        current.has_value()
            ? Compare(full, "MOD", "mod_revision", absl::StrCat(current->mod_revision))
            : Compare(full, "CREATE", "create_revision", "0");
    const json txn = {{"compare", json::array({compare})},
                      {"success", json::array({PutOp(full, absl::StrCat(new_value))})},
                      {"failure", json::array({RangeOp(full)})}};
    absl::StatusOr<std::string> answer = Call("/v3/kv/txn", txn.dump(), deadline);
    if (!answer.ok()) return Annotate(answer.status(), "Add", key);
    BRAID_ASSIGN_OR_RETURN(json result, ej::Parse(*answer, what));
    BRAID_ASSIGN_OR_RETURN(bool succeeded, ej::Bool(result, "succeeded", what));
    if (succeeded) return new_value;
    BRAID_ASSIGN_OR_RETURN(json range, ej::TxnRangeResponse(result, 0, what));
    BRAID_ASSIGN_OR_RETURN(current, ej::FirstKeyValue(range, what));
  }
}

absl::StatusOr<runtime::CompareSetResult> EtcdStore::CompareSet(
    absl::string_view key, std::optional<absl::string_view> expected, absl::string_view desired,
    absl::Time deadline) {
  BRAID_ASSIGN_OR_RETURN(std::string full, FullKey(key, "CompareSet"));
  BRAID_RETURN_IF_ERROR(CheckValue(desired, "CompareSet"));
  const char* what = "EtcdStore::CompareSet";
  // etcd fails a VALUE comparison on an absent key, so "expected absent" is
  // create_revision == 0 and "expected v" never matches an absent key.
  const json compare = expected.has_value()
                           ? Compare(full, "VALUE", "value", ej::Base64(*expected))
                           : Compare(full, "CREATE", "create_revision", "0");
  const json txn = {{"compare", json::array({compare})},
                    {"success", json::array({PutOp(full, desired)})},
                    {"failure", json::array({RangeOp(full)})}};
  absl::StatusOr<std::string> answer = Call("/v3/kv/txn", txn.dump(), deadline);
  if (!answer.ok()) return Annotate(answer.status(), "CompareSet", key);
  BRAID_ASSIGN_OR_RETURN(json result, ej::Parse(*answer, what));
  BRAID_ASSIGN_OR_RETURN(bool succeeded, ej::Bool(result, "succeeded", what));
  runtime::CompareSetResult out;
  out.swapped = succeeded;
  if (succeeded) {
    out.current = std::string(desired);
    return out;
  }
  BRAID_ASSIGN_OR_RETURN(json range, ej::TxnRangeResponse(result, 0, what));
  BRAID_ASSIGN_OR_RETURN(std::optional<ej::KeyValue> current, ej::FirstKeyValue(range, what));
  if (current.has_value()) out.current = std::move(current->value);
  return out;
}

absl::StatusOr<bool> EtcdStore::Delete(absl::string_view key, absl::Time deadline) {
  BRAID_ASSIGN_OR_RETURN(std::string full, FullKey(key, "Delete"));
  absl::StatusOr<std::string> answer =
      Call("/v3/kv/deleterange", json{{"key", ej::Base64(full)}}.dump(), deadline);
  if (!answer.ok()) return Annotate(answer.status(), "Delete", key);
  BRAID_ASSIGN_OR_RETURN(json parsed, ej::Parse(*answer, "EtcdStore::Delete"));
  BRAID_ASSIGN_OR_RETURN(int64_t deleted, ej::Int(parsed, "deleted", "EtcdStore::Delete"));
  return deleted > 0;
}

absl::StatusOr<std::vector<runtime::KeyValue>> EtcdStore::ListPrefix(absl::string_view prefix,
                                                                     absl::Time deadline) {
  const std::string full = absl::StrCat(options_.key_prefix, prefix);
  const char* what = "EtcdStore::ListPrefix";
  const json request = {{"key", ej::Base64(full.empty() ? std::string(1, '\0') : full)},
                        {"range_end", ej::Base64(ej::PrefixRangeEnd(full))}};
  absl::StatusOr<std::string> answer = Call("/v3/kv/range", request.dump(), deadline);
  if (!answer.ok()) return Annotate(answer.status(), "ListPrefix", prefix);
  BRAID_ASSIGN_OR_RETURN(json parsed, ej::Parse(*answer, what));
  std::vector<runtime::KeyValue> out;
  auto kvs = parsed.find("kvs");
  if (kvs == parsed.end() || kvs->is_null()) return out;
  if (!kvs->is_array()) return absl::DataLossError(absl::StrCat(what, ": 'kvs' is not a list"));
  out.reserve(kvs->size());
  for (const json& item : *kvs) {
    BRAID_ASSIGN_OR_RETURN(ej::KeyValue kv, ej::ReadKeyValue(item, what));
    if (!absl::StartsWith(kv.key, options_.key_prefix)) continue;
    out.push_back(runtime::KeyValue{kv.key.substr(options_.key_prefix.size()),
                                    std::move(kv.value), kv.mod_revision});
  }
  return out;  // etcd returns ranges sorted by key (bytewise).
}

absl::StatusOr<int64_t> EtcdStore::CurrentRevision(absl::Time deadline) {
  const json request = {{"key", ej::Base64(std::string(1, '\0'))}, {"count_only", true}};
  BRAID_ASSIGN_OR_RETURN(std::string answer, Call("/v3/kv/range", request.dump(), deadline));
  BRAID_ASSIGN_OR_RETURN(json parsed, ej::Parse(answer, "EtcdStore::CurrentRevision"));
  return ej::HeaderRevision(parsed, "EtcdStore::CurrentRevision");
}

absl::Status EtcdStore::Compact(int64_t revision, absl::Time deadline) {
  const json request = {{"revision", absl::StrCat(revision)}, {"physical", true}};
  return Annotate(Call("/v3/kv/compaction", request.dump(), deadline).status(), "Compact",
                  absl::StrCat(revision));
}

absl::StatusOr<runtime::LeaseId> EtcdStore::GrantLease(absl::Duration ttl, absl::Time deadline) {
  if (ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("EtcdStore::GrantLease: ttl must be positive, got ", absl::FormatDuration(ttl)));
  }
  const int64_t seconds = std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(ttl, absl::Seconds(1))));
  const char* what = "EtcdStore::GrantLease";
  BRAID_ASSIGN_OR_RETURN(std::string answer,
                         Call("/v3/lease/grant", json{{"TTL", absl::StrCat(seconds)}}.dump(), deadline));
  BRAID_ASSIGN_OR_RETURN(json parsed, ej::Parse(answer, what));
  BRAID_ASSIGN_OR_RETURN(std::string error, ej::String(parsed, "error", what));
  if (!error.empty()) return absl::UnavailableError(absl::StrCat(what, ": etcd: ", error));
  BRAID_ASSIGN_OR_RETURN(int64_t id, ej::Int(parsed, "ID", what));
  if (id <= 0) return absl::DataLossError(absl::StrCat(what, ": etcd granted lease id ", id));
  return id;
}

absl::Status EtcdStore::KeepAlive(runtime::LeaseId lease, absl::Time deadline) {
  if (lease <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("EtcdStore::KeepAlive: bad lease id ", lease));
  }
  const char* what = "EtcdStore::KeepAlive";
  // A one-message stream: the gateway sends the request, etcd answers once and
  // ends the stream when the request body ends.
  BRAID_ASSIGN_OR_RETURN(std::string answer,
                         Call("/v3/lease/keepalive", json{{"ID", absl::StrCat(lease)}}.dump(), deadline));
  ej::JsonLineSplitter lines;
  lines.Append(answer);
  std::string line;
  if (!lines.Next(&line)) line = lines.TakeRest();
  BRAID_ASSIGN_OR_RETURN(json parsed, ej::Parse(line, what));
  auto result = parsed.find("result");
  if (result == parsed.end() || !result->is_object()) {
    return absl::UnavailableError(absl::StrCat(what, ": etcd answered without a result: ",
                                               line.substr(0, 200)));
  }
  BRAID_ASSIGN_OR_RETURN(int64_t ttl, ej::Int(*result, "TTL", what));
  if (ttl <= 0) {
    return absl::NotFoundError(absl::StrCat(what, ": lease ", lease,
                                            " has expired or was revoked; its keys are gone"));
  }
  return absl::OkStatus();
}

absl::Status EtcdStore::RevokeLease(runtime::LeaseId lease, absl::Time deadline) {
  if (lease <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("EtcdStore::RevokeLease: bad lease id ", lease));
  }
  return Annotate(
      Call("/v3/lease/revoke", json{{"ID", absl::StrCat(lease)}}.dump(), deadline).status(),
      "RevokeLease", absl::StrCat(lease));
}

}  // namespace braid::elastic
