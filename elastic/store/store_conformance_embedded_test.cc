// Runs the runtime::Store conformance suite against the embedded store: one
// StoreServer for the whole binary, a new StoreClient per make_client().
#include <memory>

#include "absl/synchronization/mutex.h"
#include "elastic/store/store_client.h"
#include "elastic/store/store_conformance.h"
#include "elastic/store/store_server.h"

namespace braid::elastic {
namespace {

constexpr char kToken[] = "conformance-token-3f9c1a";

// The server shared by every test in this binary (each test uses its own key
// prefix). Started on first use, stopped at exit.
absl::StatusOr<std::string> SharedServerAddress() {
  static absl::Mutex mu(absl::kConstInit);
  static StoreServer* server = nullptr;
  absl::MutexLock lock(&mu);
  if (server == nullptr) {
    StoreServerOptions options;
    options.job_token = kToken;
    absl::StatusOr<std::unique_ptr<StoreServer>> created = StoreServer::Create(options);
    if (!created.ok()) return created.status();
    server = created->release();  // lives until the process exits
  }
  return server->address();
}

StoreFactory EmbeddedFactory() {
  StoreFactory factory;
  factory.name = "embedded";
  factory.make_client = []() -> absl::StatusOr<std::unique_ptr<runtime::Store>> {
    absl::StatusOr<std::string> address = SharedServerAddress();
    if (!address.ok()) return address.status();
    StoreClientOptions options;
    options.address = *address;
    options.job_token = kToken;
    options.connect_timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<StoreClient>> client = StoreClient::Create(options);
    if (!client.ok()) return client.status();
    return std::unique_ptr<runtime::Store>(std::move(*client));
  };
  factory.lease_ttl = absl::Milliseconds(400);
  factory.lease_slack = absl::Seconds(2);
  return factory;
}

INSTANTIATE_TEST_SUITE_P(Embedded, StoreConformanceTest, ::testing::Values(EmbeddedFactory()),
                         StoreFactoryName);

}  // namespace
}  // namespace braid::elastic
