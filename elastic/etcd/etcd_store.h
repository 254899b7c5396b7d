// EtcdStore: runtime::Store on a real etcd v3 cluster (etcd >= 3.4).
//
// Talks to etcd's gRPC JSON gateway over HTTP with libcurl (EtcdHttpClient),
// so it needs no gRPC library. Every key is stored under
// `options.key_prefix` (a namespace such as "/braid/<job>/"); keys handed to
// and returned by the Store interface never include it. The protocol mapping
// is documented in docs/etcd.md:
//
//   Set         kv/put (with the etcd lease)
//   Get         kv/range on the key
//   Add         compare-and-swap loop: kv/txn comparing mod_revision (create_revision
//               == 0 when absent); the failure branch reads the key back, so a
//               lost race costs one round trip
//   CompareSet  kv/txn comparing the value (create_revision == 0 for "absent");
//               the failure branch reads the current value in the same txn
//   Delete      kv/deleterange
//   ListPrefix  kv/range [prefix, prefix+1)
//   Wait        txn of ranges (one round trip), then a watch on the span of the
//               missing keys from the revision read, repeated until all exist
//   Watch       watch with start_revision = after_revision + 1, reading the
//               stream until the first batch of events or the deadline
//   leases      lease/grant, lease/keepalive, lease/revoke
//
// Lease TTLs: etcd counts whole seconds, so a TTL is rounded up to a whole
// second; etcd also raises any TTL below its minimum (1.5 x the election
// timeout: 2 s with default flags) to that minimum without saying so. Expiry is
// checked by etcd every 500 ms, so keys of an expired lease go away up to about
// 0.5 s after the TTL.
//
// Errors (beyond runtime/store.h):
//   kOutOfRange        Watch from a revision etcd has compacted away; the message
//                      names the oldest revision kept. Re-read with ListPrefix and
//                      watch from its revision.
//   kUnavailable       no endpoint reachable, or the connection broke mid-call (a
//                      Set/CompareSet/Add may then have been applied)
//   kDataLoss          etcd's answer was not what the gateway sends
//   kInvalidArgument   also: a value over `max_value_bytes`, a TTL <= 0
//
// Thread-safety: thread-safe; calls may run concurrently from any threads
// (each uses its own pooled curl handle).
#ifndef BRAID_ELASTIC_ETCD_ETCD_STORE_H_
#define BRAID_ELASTIC_ETCD_ETCD_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "elastic/etcd/etcd_http.h"
#include "runtime/store.h"

namespace braid::elastic {

struct EtcdStoreOptions {
  // etcd client URLs, tried in order (one cluster). Default: a local etcd.
  std::vector<std::string> endpoints = {"http://127.0.0.1:2379"};
  // Namespace prepended to every key, e.g. "/braid/<job-id>/". Jobs sharing a
  // cluster must use different prefixes. Default: none (the whole keyspace).
  std::string key_prefix;
  // Longest wait for a TCP connection, and the deadline of the probe in Create.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Largest value accepted (kInvalidArgument above). etcd refuses requests over
  // its --max-request-bytes (default 1.5 MiB), so the default stays below it.
  int64_t max_value_bytes = 1 << 20;
};

class EtcdStore : public runtime::Store {
 public:
  // Connects and checks that an etcd answers on one of the endpoints within
  // connect_timeout. kUnavailable naming the endpoints otherwise;
  // kInvalidArgument for bad options.
  static absl::StatusOr<std::unique_ptr<EtcdStore>> Create(const EtcdStoreOptions& options);

  EtcdStore(const EtcdStore&) = delete;
  EtcdStore& operator=(const EtcdStore&) = delete;

  absl::Status Set(absl::string_view key, absl::string_view value, runtime::LeaseId lease,
                   absl::Time deadline) override;
  using runtime::Store::Set;
  absl::StatusOr<std::string> Get(absl::string_view key, absl::Time deadline) override;
  absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta, absl::Time deadline) override;
  absl::StatusOr<runtime::CompareSetResult> CompareSet(absl::string_view key,
                                                       std::optional<absl::string_view> expected,
                                                       absl::string_view desired,
                                                       absl::Time deadline) override;
  absl::StatusOr<bool> Delete(absl::string_view key, absl::Time deadline) override;
  absl::StatusOr<std::vector<runtime::KeyValue>> ListPrefix(absl::string_view prefix,
                                                            absl::Time deadline) override;
  absl::Status Wait(absl::Span<const std::string> keys, absl::Time deadline) override;
  absl::StatusOr<runtime::WatchResult> Watch(absl::string_view prefix, int64_t after_revision,
                                             absl::Time deadline) override;
  absl::StatusOr<runtime::LeaseId> GrantLease(absl::Duration ttl, absl::Time deadline) override;
  absl::Status KeepAlive(runtime::LeaseId lease, absl::Time deadline) override;
  absl::Status RevokeLease(runtime::LeaseId lease, absl::Time deadline) override;

  // etcd-specific. The cluster's current revision (any key, any namespace).
  absl::StatusOr<int64_t> CurrentRevision(absl::Time deadline);
  // etcd-specific, for operators and tests: drops the history before
  // `revision` for the WHOLE cluster (not only this namespace); later Watch
  // calls from older revisions fail with kOutOfRange.
  absl::Status Compact(int64_t revision, absl::Time deadline);

  const EtcdStoreOptions& options() const { return options_; }

 private:
  EtcdStore(const EtcdStoreOptions& options, std::unique_ptr<EtcdHttpClient> http);

  // key_prefix + key, after checking the key is not empty.
  absl::StatusOr<std::string> FullKey(absl::string_view key, absl::string_view op) const;
  absl::Status CheckValue(absl::string_view value, absl::string_view op) const;
  // POSTs a unary call and returns its JSON answer as text; callers decode it
  // with etcd_json (so the JSON library stays out of this header).
  absl::StatusOr<std::string> Call(absl::string_view path, const std::string& body,
                                   absl::Time deadline);
  // One watch long-poll on [key, range_end) from `start_revision` (0: now).
  absl::StatusOr<runtime::WatchResult> WatchRange(const std::string& key,
                                                  const std::string& range_end,
                                                  int64_t start_revision, absl::Time deadline);

  const EtcdStoreOptions options_;
  const std::unique_ptr<EtcdHttpClient> http_;
};

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_ETCD_ETCD_STORE_H_
