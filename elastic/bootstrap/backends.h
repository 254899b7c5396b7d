// Internal to elastic::Bootstrap: the backends CMake built, behind functions
// whose definitions CMake picks per build (no #if in shared code):
//   backends_mpi.cc   / backends_nompi.cc    (target braid_collectives_mpi)
//   backends_nccl.cc  / backends_nonccl.cc   (target braid_collectives_nccl)
// The "tcp" backend is always built and registered directly by bootstrap.cc.
//
// Thread-safety: as the wrapped objects (MpiSession, CommunicatorFactory).
#ifndef BRAID_ELASTIC_BOOTSTRAP_BACKENDS_H_
#define BRAID_ELASTIC_BOOTSTRAP_BACKENDS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collectives/factory.h"

namespace braid::elastic::bootstrap_internal {

// MPI's lifetime in this process (an MpiSession when MPI is built). The
// destructor finalises MPI; destroy it after every communicator.
class MpiRuntime {
 public:
  virtual ~MpiRuntime() = default;
  virtual int world_rank() const = 0;
  virtual int world_size() const = 0;
  // MPI_Bcast of a string from world rank `root`; collective.
  virtual absl::StatusOr<std::string> BroadcastString(std::string value_on_root, int root,
                                                      absl::Time deadline) = 0;
  // Registers the "mpi" backend (communicators over MPI_COMM_WORLD).
  virtual absl::Status RegisterBackend(collectives::CommunicatorFactory& factory) = 0;
};

// True when braid was built with the mpi backend.
bool MpiBuilt();
// Initialises MPI (collective over MPI_COMM_WORLD). kUnimplemented when MPI
// is not built.
absl::StatusOr<std::unique_ptr<MpiRuntime>> StartMpi(absl::Duration timeout);

// True when braid was built with the nccl backend.
bool NcclBuilt();
// Registers "nccl"; OK and nothing registered when it is not built.
absl::Status RegisterNccl(collectives::CommunicatorFactory& factory);

}  // namespace braid::elastic::bootstrap_internal

#endif  // BRAID_ELASTIC_BOOTSTRAP_BACKENDS_H_
