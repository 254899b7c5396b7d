#include "collectives/tcp/test_util.h"

#include <cstdlib>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace braid::collectives::tcp::testing {

StoreFixture StartStore(absl::Duration timeout) {
  StoreFixture f;
  f.run.timeout = timeout;
  if (braid::testing::IsRankProcess()) return f;
  auto server = braid::testing::TestStoreServer::Start();
  if (!server.ok()) {
    ADD_FAILURE() << "store server: " << server.status();
    return f;
  }
  f.server = std::move(*server);
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  f.run.env["BRAID_TCP_TEST_STORE"] = f.server->address();
  f.run.env["BRAID_TCP_TEST_PREFIX"] =
      absl::StrCat("test/", info->test_suite_name(), ".", info->name(), "/", getpid(), "/");
  return f;
}

absl::StatusOr<std::unique_ptr<runtime::Store>> ConnectStore() {
  const char* address = std::getenv("BRAID_TCP_TEST_STORE");
  if (address == nullptr) return absl::FailedPreconditionError("BRAID_TCP_TEST_STORE unset");
  return braid::testing::ConnectTestStore(address);
}

absl::StatusOr<std::unique_ptr<TcpCommunicator>> MakeComm(runtime::Store* store, int rank,
                                                           int size, const CommSpec& spec) {
  CommunicatorOptions o;
  o.rank = rank;
  o.size = size;
  o.store = store;
  const char* prefix = std::getenv("BRAID_TCP_TEST_PREFIX");
  o.store_prefix = prefix != nullptr ? prefix : "test/";
  o.connect_timeout = Bound(absl::Seconds(20));
  o.op_timeout = spec.op_timeout * braid::testing::TimeoutScale();
  o.deterministic = spec.deterministic;
  o.backend_options = spec.backend_options;
  o.backend_options.emplace("host", "127.0.0.1");
  // Under sanitizers a rank can be descheduled longer than the default
  // silence bound (100 ms x 10) on two shared cores; tests that measure
  // heartbeats set their own values.
  o.backend_options.emplace("heartbeat_misses",
                            absl::StrCat(10 * braid::testing::TimeoutScale()));
  return TcpCommunicator::Create(o);
}

void DisableSharedMemory(CommSpec& spec) {
  // (swap, not operator=: gcc 12 warns falsely on a short literal assignment)
  std::string zero(1, '0');
  spec.backend_options["shm_ring_bytes"].swap(zero);
}

absl::Duration Bound(absl::Duration d) { return d * braid::testing::TimeoutScale(); }

}  // namespace braid::collectives::tcp::testing
