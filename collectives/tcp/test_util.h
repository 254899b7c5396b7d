// Helpers for the tcp backend's multi-process tests: a real StoreServer in
// the parent test process, its address handed to the RunRanks children, and
// a one-call communicator factory for a child.
#ifndef BRAID_COLLECTIVES_TCP_TEST_UTIL_H_
#define BRAID_COLLECTIVES_TCP_TEST_UTIL_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collectives/tcp/tcp_communicator.h"
#include "runtime/store.h"
#include "tests/testing/run_ranks.h"
#include "tests/testing/test_store.h"

namespace braid::collectives::tcp::testing {

// In the parent: a store server (null in a child) and RunRanks options whose
// env tells the children where it is and which key prefix to use.
struct StoreFixture {
  std::unique_ptr<braid::testing::TestStoreServer> server;
  braid::testing::RunRanksOptions run;
};
StoreFixture StartStore(absl::Duration timeout = absl::Seconds(60));

// In a child: a client of the parent's store.
absl::StatusOr<std::unique_ptr<runtime::Store>> ConnectStore();

struct CommSpec {
  std::map<std::string, std::string> backend_options;
  absl::Duration op_timeout = absl::Seconds(30);
  bool deterministic = false;
};

// Keeps every pair of ranks on plain TCP (no shared-memory rings).
void DisableSharedMemory(CommSpec& spec);

// In a child: the world communicator over `store`.
absl::StatusOr<std::unique_ptr<TcpCommunicator>> MakeComm(runtime::Store* store, int rank,
                                                           int size, const CommSpec& spec = {});

// Generous bound for timing assertions, scaled under sanitizers.
absl::Duration Bound(absl::Duration d);

}  // namespace braid::collectives::tcp::testing

#endif  // BRAID_COLLECTIVES_TCP_TEST_UTIL_H_
