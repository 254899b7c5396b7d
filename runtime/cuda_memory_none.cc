// cuda_memory.h for builds without CUDA: every operation reports that no GPU
// can be used.
#include "runtime/cuda_memory.h"

namespace braid::runtime::cuda {
namespace {
absl::Status NoCuda() {
  return absl::FailedPreconditionError(
      "braid was built without CUDA; rebuild with the CUDA toolkit installed "
      "(-DBRAID_CUDA=ON) to use GPU tensors");
}
}  // namespace

bool Available() { return false; }
int DeviceCount() { return 0; }
bool CompiledWithCuda() { return false; }
absl::StatusOr<void*> Malloc(size_t, int) { return NoCuda(); }
void Free(void*, int) {}
absl::Status Memcpy(void*, Device, const void*, Device, size_t) { return NoCuda(); }
absl::Status Memset(void*, int, size_t, int) { return NoCuda(); }

}  // namespace braid::runtime::cuda
