// Internal to elastic::Bootstrap: reading a backend spec.
#ifndef BRAID_ELASTIC_BOOTSTRAP_PLAN_UTIL_H_
#define BRAID_ELASTIC_BOOTSTRAP_PLAN_UTIL_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace braid::elastic::bootstrap_internal {

// The backend names in a spec: "cpu:tcp, cuda:nccl" -> {"tcp", "nccl"};
// "mpi" -> {"mpi"}.
std::vector<std::string> BackendNames(absl::string_view spec);

// True for a per-device spec ("cpu:tcp,cuda:nccl") that needs a
// DeviceDispatchCommunicator rather than one backend.
bool IsDispatchSpec(absl::string_view spec);

}  // namespace braid::elastic::bootstrap_internal

#endif  // BRAID_ELASTIC_BOOTSTRAP_PLAN_UTIL_H_
