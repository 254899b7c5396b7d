#include "tests/testing/test_store.h"

#include "elastic/store/store_client.h"
#include "elastic/store/store_server.h"
#include "runtime/status_macros.h"

namespace braid::testing {

TestStoreServer::TestStoreServer(std::unique_ptr<elastic::StoreServer> server)
    : server_(std::move(server)) {}

TestStoreServer::~TestStoreServer() = default;

absl::StatusOr<std::unique_ptr<TestStoreServer>> TestStoreServer::Start() {
  elastic::StoreServerOptions options;
  options.allow_no_token = true;
  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<elastic::StoreServer> server,
                         elastic::StoreServer::Create(options));
  return std::unique_ptr<TestStoreServer>(new TestStoreServer(std::move(server)));
}

std::string TestStoreServer::address() const { return server_->address(); }

absl::StatusOr<std::unique_ptr<runtime::Store>> ConnectTestStore(absl::string_view address,
                                                                 absl::Duration connect_timeout) {
  elastic::StoreClientOptions options;
  options.address = std::string(address);
  options.connect_timeout = connect_timeout;
  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<elastic::StoreClient> client,
                         elastic::StoreClient::Create(options));
  return std::unique_ptr<runtime::Store>(std::move(client));
}

}  // namespace braid::testing
