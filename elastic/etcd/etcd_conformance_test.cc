// Runs the runtime::Store conformance suite (elastic/store/store_conformance.h)
// against EtcdStore on a real etcd started on loopback for this binary.
#include <cstdlib>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "elastic/etcd/etcd_store.h"
#include "elastic/etcd/etcd_test_server.h"
#include "elastic/store/store_conformance.h"
#include "gtest/gtest.h"
#include "tests/testing/run_ranks.h"

namespace braid::elastic {
namespace {

// One etcd for the whole binary, started on the main thread before the tests
// (etcd dies with the thread that started it, see EtcdTestServer) and killed
// after them. Rank processes of RunRanks re-run this binary; they reach the
// parent's etcd through the environment instead of starting their own.
class EtcdEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (testing::IsRankProcess()) return;
    absl::StatusOr<std::unique_ptr<EtcdTestServer>> server = EtcdTestServer::Start();
    if (server.ok()) {
      server_ = *std::move(server);
      setenv("BRAID_TEST_ETCD_ENDPOINT", server_->endpoint().c_str(), 1);
    } else {
      start_status_ = server.status();
    }
  }
  void TearDown() override { server_.reset(); }

  static EtcdEnvironment* Get() {
    static EtcdEnvironment* const env = static_cast<EtcdEnvironment*>(
        ::testing::AddGlobalTestEnvironment(new EtcdEnvironment));
    return env;
  }

  absl::Status start_status() const { return start_status_; }

 private:
  std::unique_ptr<EtcdTestServer> server_;
  absl::Status start_status_;
};

// Registered before main() runs the tests.
EtcdEnvironment* const kEnvironment = EtcdEnvironment::Get();

absl::StatusOr<std::unique_ptr<runtime::Store>> MakeEtcdClient() {
  const char* endpoint = getenv("BRAID_TEST_ETCD_ENDPOINT");
  if (endpoint == nullptr) {
    const absl::Status status = kEnvironment->start_status();
    if (absl::IsNotFound(status)) {
      // The suite skips a test on kUnavailable: etcd is not installed here.
      return absl::UnavailableError(status.message());
    }
    return absl::InternalError(absl::StrCat("etcd did not start: ", status.message()));
  }
  EtcdStoreOptions options;
  options.endpoints = {endpoint};
  options.connect_timeout = absl::Seconds(5);
  absl::StatusOr<std::unique_ptr<EtcdStore>> store = EtcdStore::Create(options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<runtime::Store>(*std::move(store));
}

StoreFactory EtcdFactory() {
  StoreFactory factory;
  factory.name = "etcd";
  factory.make_client = &MakeEtcdClient;
  // etcd raises any ttl below 1.5 x its election timeout (1 s by default) to
  // that minimum and rounds to whole seconds, so 2 s is the shortest real ttl.
  factory.lease_ttl = absl::Seconds(2);
  // etcd's lessor checks expiry every 500 ms and revokes in batches.
  factory.lease_slack = absl::Seconds(3);
  return factory;
}

INSTANTIATE_TEST_SUITE_P(Etcd, StoreConformanceTest, ::testing::Values(EtcdFactory()),
                         StoreFactoryName);

}  // namespace
}  // namespace braid::elastic
