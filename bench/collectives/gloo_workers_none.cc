// Stand-in for gloo_workers.cc when Gloo (Debian libgloo-dev) is missing.
#include "bench/collectives/workers.h"

namespace braid::bench {

absl::Status RunGlooWorker(const WorkerArgs& args) {
  return absl::UnimplementedError(
      "collectives_bench was built without Gloo; install libgloo-dev and reconfigure");
}

bool HaveGloo() { return false; }

}  // namespace braid::bench
