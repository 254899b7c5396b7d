// Helpers shared by the kernels' CUDA code (.cu files only): CUDA error ->
// absl::Status, a scoped current-device switch, and grid sizing.
#ifndef BRAID_KERNELS_CUDA_LAUNCH_H_
#define BRAID_KERNELS_CUDA_LAUNCH_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "kernels/stream.h"

namespace braid::kernels::cuda_internal {

// kFailedPrecondition when there is no usable GPU (what callers skip on),
// kInternal for any other CUDA failure. `what` names the op.
inline absl::Status FromCuda(cudaError_t err, absl::string_view what) {
  if (err == cudaSuccess) return absl::OkStatus();
  const std::string message = absl::StrCat("kernels::", what, ": ", cudaGetErrorString(err),
                                           " (cuda error ", static_cast<int>(err), ")");
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver ||
      err == cudaErrorInvalidDevice) {
    return absl::FailedPreconditionError(
        absl::StrCat(message, "; no usable GPU: use CPU tensors on this machine"));
  }
  return absl::InternalError(message);
}

// The status of the last kernel launch on this thread (clears it).
inline absl::Status LaunchStatus(absl::string_view what) {
  return FromCuda(cudaGetLastError(), what);
}

inline cudaStream_t ToCudaStream(const Stream& stream) {
  return static_cast<cudaStream_t>(stream.cuda_stream);
}

// Makes `ordinal` the current device for its scope and restores the previous
// one. Check status() before launching.
class DeviceGuard {
 public:
  explicit DeviceGuard(int ordinal) : status_(Switch(ordinal)) {}
  ~DeviceGuard() {
    if (switched_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

  const absl::Status& status() const { return status_; }

 private:
  absl::Status Switch(int ordinal) {
    if (absl::Status s = FromCuda(cudaGetDevice(&previous_), "cudaGetDevice"); !s.ok()) return s;
    if (previous_ == ordinal) return absl::OkStatus();
    if (absl::Status s = FromCuda(cudaSetDevice(ordinal), "cudaSetDevice"); !s.ok()) return s;
    switched_ = true;
    return absl::OkStatus();
  }

  int previous_ = 0;
  bool switched_ = false;
  absl::Status status_;  // after previous_ and switched_: Switch sets them
};

// Blocks of `threads` for `n` work items, capped so that a grid-stride loop
// covers the rest.
inline unsigned int GridFor(int64_t n, int threads, int64_t max_blocks = 65535) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks > max_blocks) blocks = max_blocks;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned int>(blocks);
}

}  // namespace braid::kernels::cuda_internal

#endif  // BRAID_KERNELS_CUDA_LAUNCH_H_
