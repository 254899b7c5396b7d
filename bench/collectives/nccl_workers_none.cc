// Stand-in for nccl_workers.cc when braid is built without CUDA/NCCL.
#include "bench/collectives/workers.h"

namespace braid::bench {

int NcclDeviceCount(std::string* why_none) {
  *why_none = "collectives_bench was built without CUDA and NCCL";
  return 0;
}

absl::Status RunNcclWorker(const WorkerArgs& args) {
  return absl::UnimplementedError("collectives_bench was built without CUDA and NCCL");
}

}  // namespace braid::bench
