// Encoding helpers for etcd v3's JSON gateway (used by EtcdStore).
//
// The gateway writes protobuf messages as proto3 JSON: bytes fields are
// base64, int64 fields are decimal strings, and fields holding their default
// value (0, false, "", empty list) are left out. The readers here treat an
// absent field as its default and turn anything malformed into kDataLoss, so
// no exception from the JSON library ever leaves this file's functions.
//
// Thread-safety: free functions without shared state; JsonLineSplitter is a
// plain value (one per stream).
#ifndef BRAID_ELASTIC_ETCD_ETCD_JSON_H_
#define BRAID_ELASTIC_ETCD_ETCD_JSON_H_

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace braid::elastic::etcd_json {

// Standard (padded) base64, as the gateway expects for bytes fields.
std::string Base64(absl::string_view bytes);

// The `range_end` that, with `key = prefix`, selects every key starting with
// `prefix`: the prefix with its last byte below 0xff incremented and the rest
// cut. For an empty or all-0xff prefix, "\0" (etcd: "every key >= key").
std::string PrefixRangeEnd(absl::string_view prefix);

// Parses one JSON value; kDataLoss naming `what` when `text` is not JSON.
absl::StatusOr<nlohmann::json> Parse(absl::string_view text, absl::string_view what);

// Field readers. `object` must be a JSON object (else kDataLoss); an absent
// field gives the default (0 / "" / false).
absl::StatusOr<int64_t> Int(const nlohmann::json& object, const char* field,
                            absl::string_view what);
absl::StatusOr<std::string> Bytes(const nlohmann::json& object, const char* field,
                                  absl::string_view what);
absl::StatusOr<std::string> String(const nlohmann::json& object, const char* field,
                                   absl::string_view what);
absl::StatusOr<bool> Bool(const nlohmann::json& object, const char* field,
                          absl::string_view what);

// etcd's mvccpb.KeyValue, decoded.
struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};
absl::StatusOr<KeyValue> ReadKeyValue(const nlohmann::json& kv, absl::string_view what);

// The first key of a RangeResponse; nullopt when it found none.
absl::StatusOr<std::optional<KeyValue>> FirstKeyValue(const nlohmann::json& range_response,
                                                      absl::string_view what);
// The RangeResponse at `index` of a TxnResponse's "responses".
absl::StatusOr<nlohmann::json> TxnRangeResponse(const nlohmann::json& txn, size_t index,
                                                absl::string_view what);
// header.revision of any answer.
absl::StatusOr<int64_t> HeaderRevision(const nlohmann::json& answer, absl::string_view what);

// Splits a streamed gateway answer into its newline-separated JSON messages.
class JsonLineSplitter {
 public:
  void Append(absl::string_view chunk) { buffer_.append(chunk.data(), chunk.size()); }
  // Moves the next complete, non-blank line into `line`; false when none.
  bool Next(std::string* line);
  // What is left after the last newline (a final message without one).
  std::string TakeRest();

 private:
  std::string buffer_;
  size_t consumed_ = 0;
};

}  // namespace braid::elastic::etcd_json

#endif  // BRAID_ELASTIC_ETCD_ETCD_JSON_H_
