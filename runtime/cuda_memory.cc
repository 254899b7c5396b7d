// cuda_memory.h over the CUDA runtime API.
#include "runtime/cuda_memory.h"

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"

namespace braid::runtime::cuda {
namespace {

absl::Status FromCuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(what, " failed: ", cudaGetErrorString(err), " (cuda error ", static_cast<int>(err), ")"));
}

absl::Status CheckOrdinal(int ordinal) {
  const int count = DeviceCount();
  if (count == 0) {
    return absl::FailedPreconditionError(
        "no usable CUDA device (no GPU, or the driver is missing or too old); "
        "use CPU tensors on this machine");
  }
  if (ordinal < 0 || ordinal >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda:", ordinal, " does not exist; this process sees ", count, " GPU(s)"));
  }
  return absl::OkStatus();
}

}  // namespace

int DeviceCount() {
  int count = 0;
  // Any error (e.g. "driver version is insufficient") means no usable GPU.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error
    return 0;
  }
  return count;
}

bool Available() { return DeviceCount() > 0; }
bool CompiledWithCuda() { return true; }

absl::StatusOr<void*> Malloc(size_t size_bytes, int ordinal) {
  if (absl::Status s = CheckOrdinal(ordinal); !s.ok()) return s;
  if (absl::Status s = FromCuda(cudaSetDevice(ordinal), "cudaSetDevice"); !s.ok()) return s;
  void* ptr = nullptr;
  if (size_bytes == 0) return ptr;
  if (absl::Status s = FromCuda(cudaMalloc(&ptr, size_bytes), "cudaMalloc"); !s.ok()) {
    return absl::ResourceExhaustedError(
        absl::StrCat(s.message(), " allocating ", size_bytes, " bytes on cuda:", ordinal));
  }
  return ptr;
}

void Free(void* ptr, int ordinal) {
  if (ptr == nullptr) return;
  cudaSetDevice(ordinal);
  cudaFree(ptr);
}

absl::Status Memcpy(void* dst, Device dst_device, const void* src, Device src_device,
                    size_t size_bytes) {
  if (size_bytes == 0) return absl::OkStatus();
  cudaMemcpyKind kind = cudaMemcpyDefault;
  if (dst_device.is_cpu() && src_device.is_cpu()) kind = cudaMemcpyHostToHost;
  if (dst_device.is_cuda()) {
    if (absl::Status s = CheckOrdinal(dst_device.index); !s.ok()) return s;
  }
  if (src_device.is_cuda()) {
    if (absl::Status s = CheckOrdinal(src_device.index); !s.ok()) return s;
  }
  return FromCuda(cudaMemcpy(dst, src, size_bytes, kind), "cudaMemcpy");
}

absl::Status Memset(void* dst, int byte, size_t size_bytes, int ordinal) {
  if (absl::Status s = CheckOrdinal(ordinal); !s.ok()) return s;
  if (absl::Status s = FromCuda(cudaSetDevice(ordinal), "cudaSetDevice"); !s.ok()) return s;
  return FromCuda(cudaMemset(dst, byte, size_bytes), "cudaMemset");
}

}  // namespace braid::runtime::cuda
