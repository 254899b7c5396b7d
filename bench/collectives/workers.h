// The rank side of collectives_bench: one entry point per implementation
// under test. The parent starts N copies of the bench binary in worker mode
// (fork+exec for tcp and gloo, `mpirun -np N` for Open MPI and braid's mpi
// backend); each builds its BenchGroup and runs the sweep (sweep.h).
//
// The MPI and Gloo entry points live in files that CMake swaps for stubs
// reporting "not built" when Open MPI or Gloo is missing (no #if here).
#ifndef BRAID_BENCH_COLLECTIVES_WORKERS_H_
#define BRAID_BENCH_COLLECTIVES_WORKERS_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "bench/collectives/sweep.h"

namespace braid::bench {

struct WorkerArgs {
  // Given on the command line for fork+exec'd workers; taken from MPI under
  // mpirun.
  int rank = -1;
  int world_size = 0;
  // The parent's StoreServer ("host:port") and this run's key prefix.
  std::string store_address;
  std::string store_prefix;
  // Where rank 0 writes the sweep's result (sweep.h).
  std::string result_path;
  // Gloo's FileStore directory (created and removed by the parent).
  std::string gloo_dir;
  SweepOptions sweep;
  // The tcp backend's backend_options (tcp_options.h), e.g. for tuning runs.
  std::map<std::string, std::string> tcp_options;
};

// braid's "tcp" backend over the parent's store.
absl::Status RunTcpWorker(const WorkerArgs& args);

// Under mpirun: braid's "mpi" backend (MpiSession + the factory), Open MPI's
// own blocking MPI_Allreduce & co ("ompi" peer), or its non-blocking
// MPI_Iallreduce & co each followed by MPI_Wait ("ompi-nb" peer).
enum class MpiWorker { kBraid, kOmpi, kOmpiNonBlocking };
absl::Status RunMpiWorker(const WorkerArgs& args, MpiWorker which);
// Whether this binary was built with MPI, and the mpiexec found at
// configure time ("" without MPI).
bool HaveMpi();
std::string MpiexecPath();

// Gloo's ring all-reduce (and all-gather, broadcast, all-to-all) over TCP on
// loopback, rendezvous through a FileStore.
absl::Status RunGlooWorker(const WorkerArgs& args);
bool HaveGloo();

// braid's "nccl" backend on CUDA buffers (one GPU per rank; copies in and
// out of the host buffers happen outside the timed loop).
absl::Status RunNcclWorker(const WorkerArgs& args);
// GPUs visible to this process; 0 with the reason in `why_none`.
int NcclDeviceCount(std::string* why_none);

}  // namespace braid::bench

#endif  // BRAID_BENCH_COLLECTIVES_WORKERS_H_
