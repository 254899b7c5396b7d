// The nccl backend is not built (no CUDA/NCCL, or BRAID_NCCL=OFF).
#include "elastic/bootstrap/backends.h"

namespace braid::elastic::bootstrap_internal {

bool NcclBuilt() { return false; }

absl::Status RegisterNccl(collectives::CommunicatorFactory&) { return absl::OkStatus(); }

}  // namespace braid::elastic::bootstrap_internal
