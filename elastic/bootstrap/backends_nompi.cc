// The mpi backend is not built (BRAID_MPI=OFF or MPI not found).
#include <memory>

#include "absl/status/status.h"
#include "elastic/bootstrap/backends.h"

namespace braid::elastic::bootstrap_internal {

bool MpiBuilt() { return false; }

absl::StatusOr<std::unique_ptr<MpiRuntime>> StartMpi(absl::Duration) {
  return absl::UnimplementedError(
      "braid was built without MPI (BRAID_MPI=OFF or MPI not found at configure time)");
}

}  // namespace braid::elastic::bootstrap_internal
