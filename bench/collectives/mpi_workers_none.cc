// Stand-in for mpi_workers.cc when braid is built without MPI: the "ompi"
// peer and the "mpi" backend report that they were not built.
#include "bench/collectives/workers.h"

namespace braid::bench {

absl::Status RunMpiWorker(const WorkerArgs& args, MpiWorker which) {
  return absl::UnimplementedError(
      "collectives_bench was built without MPI; install libopenmpi-dev openmpi-bin and "
      "reconfigure");
}

bool HaveMpi() { return false; }

std::string MpiexecPath() { return ""; }

}  // namespace braid::bench
