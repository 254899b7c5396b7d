// Store: the key/value service that ranks and launchers coordinate through.
//
// It bootstraps communicators (address exchange), runs rendezvous and
// membership (leases as heartbeats, Watch for changes) and carries small
// control data. It is not for bulk data: values are limited (the embedded
// store allows 4 MiB per value).
//
// Implementations live above runtime: elastic::StoreClient (braid's embedded
// store, TCP + protobuf) and elastic::EtcdStore (a real etcd v3). Code that
// only needs a store takes a `runtime::Store&` and never knows which.
//
// Every call takes a deadline and returns by then. Errors:
//   kDeadlineExceeded  the call (or the awaited condition) ran out of time
//   kUnavailable       the store cannot be reached; retry the call
//   kNotFound          Get of a missing key, KeepAlive of an expired lease
//                      (also RevokeLease of one, and Set with one)
//   kInvalidArgument   empty key, value over the size limit, bad lease id
//   kUnauthenticated   the job token was refused
//   kOutOfRange        Watch from a revision whose history the store no longer
//                      keeps ("compacted"): re-list with ListPrefix and watch
//                      from the highest mod_revision listed
//
// Thread-safety: implementations are thread-safe; calls from several threads
// may be in flight at once.
#ifndef BRAID_RUNTIME_STORE_H_
#define BRAID_RUNTIME_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace braid::runtime {

// Identifies a lease; keys bound to a lease are deleted when it expires or is
// revoked. 0 means "no lease".
using LeaseId = int64_t;
inline constexpr LeaseId kNoLease = 0;

struct KeyValue {
  std::string key;
  std::string value;
  // Store revision at which this key was last modified.
  int64_t mod_revision = 0;
  friend bool operator==(const KeyValue&, const KeyValue&) = default;
};

struct CompareSetResult {
  // True when the value was replaced (or created).
  bool swapped = false;
  // The value stored after the call; nullopt when the key is absent.
  std::optional<std::string> current;
};

enum class WatchEventType : uint8_t { kPut = 0, kDelete = 1 };

struct WatchEvent {
  WatchEventType type = WatchEventType::kPut;
  std::string key;
  std::string value;  // empty for kDelete
  int64_t revision = 0;
};

struct WatchResult {
  // Changes under the prefix after the requested revision, oldest first.
  std::vector<WatchEvent> events;
  // Pass this as `after_revision` to the next Watch call to continue.
  int64_t revision = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Sets `key` to `value`. With a lease, the key is deleted when the lease
  // expires or is revoked.
  virtual absl::Status Set(absl::string_view key, absl::string_view value, LeaseId lease,
                           absl::Time deadline) = 0;
  absl::Status Set(absl::string_view key, absl::string_view value, absl::Time deadline) {
    return Set(key, value, kNoLease, deadline);
  }

  // The value of `key`; kNotFound when absent.
  virtual absl::StatusOr<std::string> Get(absl::string_view key, absl::Time deadline) = 0;

  // Atomically adds `delta` to the decimal integer stored at `key` (absent
  // counts as 0) and returns the new value. kInvalidArgument when the stored
  // value is not an integer.
  virtual absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta,
                                      absl::Time deadline) = 0;

  // Atomically sets `key` to `desired` if its value equals `expected`
  // (nullopt: if the key is absent).
  virtual absl::StatusOr<CompareSetResult> CompareSet(absl::string_view key,
                                                      std::optional<absl::string_view> expected,
                                                      absl::string_view desired,
                                                      absl::Time deadline) = 0;

  // Deletes `key`; returns whether it existed.
  virtual absl::StatusOr<bool> Delete(absl::string_view key, absl::Time deadline) = 0;

  // Every key starting with `prefix`, sorted by key.
  virtual absl::StatusOr<std::vector<KeyValue>> ListPrefix(absl::string_view prefix,
                                                           absl::Time deadline) = 0;

  // Blocks until every key in `keys` exists. kDeadlineExceeded names the keys
  // still missing.
  virtual absl::Status Wait(absl::Span<const std::string> keys, absl::Time deadline) = 0;

  // Long-poll watch: returns the changes to keys under `prefix` made after
  // store revision `after_revision` (0: from now on), waiting until there is at
  // least one. kDeadlineExceeded when none came by the deadline. Start from
  // the mod_revision of a ListPrefix entry (or the revision of the last
  // result) to miss nothing.
  virtual absl::StatusOr<WatchResult> Watch(absl::string_view prefix, int64_t after_revision,
                                            absl::Time deadline) = 0;

  // Creates a lease that expires `ttl` after its last KeepAlive.
  virtual absl::StatusOr<LeaseId> GrantLease(absl::Duration ttl, absl::Time deadline) = 0;
  // Renews a lease; kNotFound when it has already expired.
  virtual absl::Status KeepAlive(LeaseId lease, absl::Time deadline) = 0;
  // Ends a lease now, deleting its keys.
  virtual absl::Status RevokeLease(LeaseId lease, absl::Time deadline) = 0;
};

}  // namespace braid::runtime

#endif  // BRAID_RUNTIME_STORE_H_
