#include "elastic/etcd/etcd_json.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace braid::elastic::etcd_json {
namespace {

absl::Status Malformed(absl::string_view what, absl::string_view field, absl::string_view why) {
  return absl::DataLossError(
      absl::StrCat(what, ": malformed etcd answer, field '", field, "' ", why));
}

}  // namespace

std::string Base64(absl::string_view bytes) { return absl::Base64Escape(bytes); }

std::string PrefixRangeEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

absl::StatusOr<nlohmann::json> Parse(absl::string_view text, absl::string_view what) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(what, ": etcd answered text that is not JSON (",
                                            e.what(), "): ", text.substr(0, 200)));
  }
}

absl::StatusOr<int64_t> Int(const nlohmann::json& object, const char* field,
                            absl::string_view what) {
  if (!object.is_object()) return Malformed(what, field, "is inside a non-object");
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    int64_t out = 0;
    if (absl::SimpleAtoi(it->get_ref<const std::string&>(), &out)) return out;
  }
  return Malformed(what, field, "is not an int64");
}

absl::StatusOr<std::string> Bytes(const nlohmann::json& object, const char* field,
                                  absl::string_view what) {
  if (!object.is_object()) return Malformed(what, field, "is inside a non-object");
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return std::string();
  std::string out;
  if (!it->is_string() || !absl::Base64Unescape(it->get_ref<const std::string&>(), &out)) {
    return Malformed(what, field, "is not base64");
  }
  return out;
}

absl::StatusOr<std::string> String(const nlohmann::json& object, const char* field,
                                   absl::string_view what) {
  if (!object.is_object()) return Malformed(what, field, "is inside a non-object");
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Malformed(what, field, "is not a string");
  return it->get<std::string>();
}

absl::StatusOr<bool> Bool(const nlohmann::json& object, const char* field,
                          absl::string_view what) {
  if (!object.is_object()) return Malformed(what, field, "is inside a non-object");
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return false;
  if (!it->is_boolean()) return Malformed(what, field, "is not a bool");
  return it->get<bool>();
}

absl::StatusOr<KeyValue> ReadKeyValue(const nlohmann::json& kv, absl::string_view what) {
  KeyValue out;
  absl::StatusOr<std::string> key = Bytes(kv, "key", what);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> value = Bytes(kv, "value", what);
  if (!value.ok()) return value.status();
  absl::StatusOr<int64_t> create_revision = Int(kv, "create_revision", what);
  if (!create_revision.ok()) return create_revision.status();
  absl::StatusOr<int64_t> mod_revision = Int(kv, "mod_revision", what);
  if (!mod_revision.ok()) return mod_revision.status();
  absl::StatusOr<int64_t> lease = Int(kv, "lease", what);
  if (!lease.ok()) return lease.status();
  out.key = *std::move(key);
  out.value = *std::move(value);
  out.create_revision = *create_revision;
  out.mod_revision = *mod_revision;
  out.lease = *lease;
  return out;
}

absl::StatusOr<std::optional<KeyValue>> FirstKeyValue(const nlohmann::json& range_response,
                                                      absl::string_view what) {
  if (!range_response.is_object()) return Malformed(what, "kvs", "is inside a non-object");
  auto kvs = range_response.find("kvs");
  if (kvs == range_response.end() || kvs->is_null()) return std::nullopt;
  if (!kvs->is_array()) return Malformed(what, "kvs", "is not a list");
  if (kvs->empty()) return std::nullopt;
  absl::StatusOr<KeyValue> kv = ReadKeyValue((*kvs)[0], what);
  if (!kv.ok()) return kv.status();
  return *std::move(kv);
}

absl::StatusOr<nlohmann::json> TxnRangeResponse(const nlohmann::json& txn, size_t index,
                                                absl::string_view what) {
  if (!txn.is_object()) return Malformed(what, "responses", "is inside a non-object");
  auto responses = txn.find("responses");
  if (responses == txn.end() || !responses->is_array() || responses->size() <= index) {
    return Malformed(what, "responses", absl::StrCat("lacks entry ", index));
  }
  const nlohmann::json& entry = (*responses)[index];
  if (!entry.is_object()) return Malformed(what, "responses", "holds a non-object");
  auto range = entry.find("response_range");
  if (range == entry.end() || !range->is_object()) {
    return Malformed(what, "responses", absl::StrCat("entry ", index, " is not a range"));
  }
  return *range;
}

absl::StatusOr<int64_t> HeaderRevision(const nlohmann::json& answer, absl::string_view what) {
  if (!answer.is_object()) return Malformed(what, "header", "is inside a non-object");
  auto header = answer.find("header");
  if (header == answer.end()) return Malformed(what, "header", "is missing");
  return Int(*header, "revision", what);
}

bool JsonLineSplitter::Next(std::string* line) {
  while (true) {
    const size_t newline = buffer_.find('\n', consumed_);
    if (newline == std::string::npos) {
      buffer_.erase(0, consumed_);
      consumed_ = 0;
      return false;
    }
    absl::string_view candidate(buffer_.data() + consumed_, newline - consumed_);
    consumed_ = newline + 1;
    candidate = absl::StripAsciiWhitespace(candidate);
    if (!candidate.empty()) {
      line->assign(candidate.data(), candidate.size());
      return true;
    }
  }
}

std::string JsonLineSplitter::TakeRest() {
  std::string rest(absl::StripAsciiWhitespace(absl::string_view(buffer_).substr(consumed_)));
  buffer_.clear();
  consumed_ = 0;
  return rest;
}

}  // namespace braid::elastic::etcd_json
