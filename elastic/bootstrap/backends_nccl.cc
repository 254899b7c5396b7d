// The nccl backend is built.
#include "collectives/nccl/nccl_communicator.h"
#include "elastic/bootstrap/backends.h"

namespace braid::elastic::bootstrap_internal {

bool NcclBuilt() { return true; }

absl::Status RegisterNccl(collectives::CommunicatorFactory& factory) {
  return collectives::RegisterNcclBackend(factory);
}

}  // namespace braid::elastic::bootstrap_internal
