// The runtime::Store conformance suite: one set of GoogleTest tests that every
// Store backend (the embedded StoreServer/StoreClient, etcd) must pass.
//
// It covers every operation of runtime/store.h: Set/Get (missing key ->
// kNotFound, binary and large values), Add (including concurrent adds from
// several clients and threads), CompareSet (absent, match, mismatch), Delete,
// ListPrefix, Wait (present, arriving later from another client, deadline ->
// kDeadlineExceeded naming the missing keys, not blocking other calls on the
// same client), Watch (put and delete events in order, continuing from a
// revision, prefix filtering, deadline), leases (keys vanish after the ttl
// without KeepAlive, stay with it, revoke, KeepAlive/Set of a dead lease ->
// kNotFound) and deadlines already past.
//
// To run it for a backend, link the `braid_store_conformance` target (an
// OBJECT library, so the tests always link in) and instantiate the suite with
// a factory that makes clients of one running store:
//
//   #include "elastic/store/store_conformance.h"
//
//   braid::elastic::StoreFactory EtcdFactory() {
//     braid::elastic::StoreFactory f;
//     f.name = "etcd";
//     f.make_client = [] () -> absl::StatusOr<std::unique_ptr<braid::runtime::Store>> {
//       ... start (once) or reuse an etcd, return a new EtcdStore client ...
//     };
//     f.lease_ttl = absl::Seconds(2);   // etcd's minimum ttl is about 1.5 s
//     f.lease_slack = absl::Seconds(3); // etcd checks expiry every 500 ms
//     return f;
//   }
//   INSTANTIATE_TEST_SUITE_P(Etcd, StoreConformanceTest,
//                            ::testing::Values(EtcdFactory()),
//                            braid::elastic::StoreFactoryName);
//
// Every test works under its own fresh key prefix (test name + pid + time), so
// all tests may share one running store, and a store left over from an earlier
// run does not disturb them. A test skips (GTEST_SKIP) when make_client fails
// with kUnavailable (e.g. no etcd binary), and fails on any other error.
//
// Thread-safety: the tests create their own threads; the factory's
// make_client must be callable from several threads.
#ifndef BRAID_ELASTIC_STORE_STORE_CONFORMANCE_H_
#define BRAID_ELASTIC_STORE_STORE_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/store.h"

namespace braid::elastic {

struct StoreFactory {
  // Used in test names ("embedded", "etcd"): letters, digits, underscores.
  std::string name;
  // A new, independent client of the one store under test (like another rank
  // connecting). Called several times per test, possibly from several threads.
  std::function<absl::StatusOr<std::unique_ptr<runtime::Store>>()> make_client;
  // The lease ttl the lease tests use: the shortest the backend honours.
  absl::Duration lease_ttl = absl::Milliseconds(500);
  // How much later than the ttl an expiry may be observed (the backend's
  // expiry granularity plus scheduling noise). Scaled by TimeoutScale().
  absl::Duration lease_slack = absl::Seconds(2);
};

// gtest prints parameters; this keeps it from dumping the struct's bytes.
inline void PrintTo(const StoreFactory& factory, std::ostream* os) { *os << factory.name; }

// Test-name generator for INSTANTIATE_TEST_SUITE_P.
std::string StoreFactoryName(const ::testing::TestParamInfo<StoreFactory>& info);

// The fixture. Tests use store() (one client), NewClient() for more, and Key()
// for keys under the test's private prefix.
class StoreConformanceTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;

  runtime::Store& store() { return *store_; }
  // Another client of the same store; fails the test (and returns nullptr)
  // when the factory fails.
  std::unique_ptr<runtime::Store> NewClient();
  // prefix() + name.
  std::string Key(absl::string_view name) const;
  // This test's key prefix, ending in '/'.
  const std::string& prefix() const { return prefix_; }
  // now + d * TimeoutScale(): the deadline for calls that should succeed.
  static absl::Time In(absl::Duration d);
  // Generous deadline for calls expected to succeed promptly.
  static absl::Time Soon();

 private:
  std::unique_ptr<runtime::Store> store_;
  std::string prefix_;
};

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_STORE_STORE_CONFORMANCE_H_
