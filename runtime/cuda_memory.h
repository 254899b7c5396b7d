// The door to CUDA device memory for runtime/ (allocation and copies).
//
// Two implementations are linked depending on the build: cuda_memory.cc (CUDA
// runtime API) when braid is built with CUDA, cuda_memory_none.cc otherwise.
// Without a usable GPU (no device, or, as on CPU-only machines with the CUDA
// toolkit installed, "driver version is insufficient") every call fails with
// kFailedPrecondition and Available() is false: callers and tests skip.
//
// Thread-safety: all functions are thread-safe. Copies are synchronous with
// respect to the host (they return when the bytes have arrived).
#ifndef BRAID_RUNTIME_CUDA_MEMORY_H_
#define BRAID_RUNTIME_CUDA_MEMORY_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/device.h"

namespace braid::runtime::cuda {

// True when braid was built with CUDA and at least one GPU can be used.
bool Available();

// Number of usable GPUs; 0 when none (never an error).
int DeviceCount();

// True when this build contains CUDA code (whether or not a GPU is present).
bool CompiledWithCuda();

absl::StatusOr<void*> Malloc(size_t size_bytes, int ordinal);
void Free(void* ptr, int ordinal);

// Copies `size_bytes` between any two devices (host<->device, device<->device).
absl::Status Memcpy(void* dst, Device dst_device, const void* src, Device src_device,
                    size_t size_bytes);

absl::Status Memset(void* dst, int byte, size_t size_bytes, int ordinal);

}  // namespace braid::runtime::cuda

#endif  // BRAID_RUNTIME_CUDA_MEMORY_H_
