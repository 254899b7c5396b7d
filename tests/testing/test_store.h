// A store for multi-process tests of layers that know only runtime::Store.
//
// collectives/ must not include elastic/ (DESIGN.md), but its multi-rank tests
// need a real store to bootstrap through. This helper hosts braid's embedded
// StoreServer (loopback, no token) in the test process and connects clients to
// it; the store's own tests live in elastic/store/.
//
//   std::unique_ptr<TestStoreServer> server = ...TestStoreServer::Start();   // parent
//   options.env["MY_TEST_STORE"] = server->address();                        // to RunRanks
//   std::unique_ptr<runtime::Store> store = ...ConnectTestStore(address);     // in a rank
//
// Thread-safety: as the embedded store (all methods thread-safe).
#ifndef BRAID_TESTS_TESTING_TEST_STORE_H_
#define BRAID_TESTS_TESTING_TEST_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/store.h"

namespace braid::elastic {
class StoreServer;
}  // namespace braid::elastic

namespace braid::testing {

class TestStoreServer {
 public:
  // Starts a StoreServer on 127.0.0.1, an ephemeral port, accepting clients
  // without a job token.
  static absl::StatusOr<std::unique_ptr<TestStoreServer>> Start();
  ~TestStoreServer();

  // "127.0.0.1:port", for ConnectTestStore.
  std::string address() const;

 private:
  explicit TestStoreServer(std::unique_ptr<elastic::StoreServer> server);
  std::unique_ptr<elastic::StoreServer> server_;
};

// A client of the TestStoreServer at `address`.
absl::StatusOr<std::unique_ptr<runtime::Store>> ConnectTestStore(
    absl::string_view address, absl::Duration connect_timeout = absl::Seconds(30));

}  // namespace braid::testing

#endif  // BRAID_TESTS_TESTING_TEST_STORE_H_
