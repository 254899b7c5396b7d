// main() of the mpi test binaries: one MpiSession for the process, then the
// tests. `--braid_mpi_serialized` asks for MPI_THREAD_SERIALIZED, so the
// progress-thread-only model is tested too; `--braid_mpi_finalize_timeout_s=N`
// shortens how long the session waits for stuck requests before MPI_Abort.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/strings/numbers.h"
#include "collectives/mpi/mpi_test_env.h"
#include "gtest/gtest.h"

namespace braid::collectives::testing {
namespace {
MpiSession* g_session = nullptr;  // test-only: set in main, read by TESTs
}  // namespace

MpiSession& TestSession() { return *g_session; }

absl::Duration ScaledTimeout(absl::Duration d) {
  int scale = 1;
  const char* v = std::getenv("BRAID_TEST_TIMEOUT_SCALE");
  if (v == nullptr || !absl::SimpleAtoi(v, &scale) || scale < 1) scale = 1;
  return d * scale;
}

}  // namespace braid::collectives::testing

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  braid::collectives::MpiSession::Options options;
  options.finalize_timeout = braid::collectives::testing::ScaledTimeout(absl::Seconds(20));
  constexpr char kFinalizeFlag[] = "--braid_mpi_finalize_timeout_s=";
  for (int i = 1; i < argc; ++i) {
    int seconds = 0;
    if (std::strcmp(argv[i], "--braid_mpi_serialized") == 0)
      options.request_thread_multiple = false;
    if (std::strncmp(argv[i], kFinalizeFlag, sizeof(kFinalizeFlag) - 1) == 0 &&
        absl::SimpleAtoi(argv[i] + sizeof(kFinalizeFlag) - 1, &seconds)) {
      options.finalize_timeout = absl::Seconds(seconds);
    }
  }
  auto session = braid::collectives::MpiSession::Create(options);
  if (!session.ok()) {
    std::fprintf(stderr, "MpiSession::Create: %s\n", session.status().ToString().c_str());
    return 1;
  }
  braid::collectives::testing::g_session = session->get();
  std::fprintf(stderr, "[rank %d/%d] MPI thread level: %s, %s\n", (*session)->world_rank(),
               (*session)->world_size(),
               std::string(braid::collectives::ToString((*session)->thread_level())).c_str(),
               (*session)->engine().direct_post() ? "direct posts" : "progress thread posts");
  const int rc = RUN_ALL_TESTS();
  session->reset();  // MPI_Finalize (or MPI_Abort if requests are stuck)
  return rc;
}
