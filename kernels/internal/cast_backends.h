// The CPU (cpu/cast.cc) and CUDA (cuda/cast.cu, or cuda_none/cast.cc in builds
// without CUDA) implementations behind kernels/cast.h, declared once for both
// so the signatures cannot drift apart. Backends may assume validated
// arguments: defined, contiguous, floating-point tensors of one shape on one
// device, numel() > 0, and for AccumulateInto an f32 dst. Internal to kernels/.
#ifndef BRAID_KERNELS_INTERNAL_CAST_BACKENDS_H_
#define BRAID_KERNELS_INTERNAL_CAST_BACKENDS_H_

#include "absl/status/status.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

#define BRAID_KERNELS_CAST_BACKEND_DECLS                                                      \
  absl::Status Cast(const ::braid::runtime::Tensor& src, const ::braid::runtime::Tensor& dst, \
                    Stream stream);                                                           \
  absl::Status AccumulateInto(const ::braid::runtime::Tensor& src,                            \
                              const ::braid::runtime::Tensor& dst, Stream stream);

namespace braid::kernels::cpu {
BRAID_KERNELS_CAST_BACKEND_DECLS
}  // namespace braid::kernels::cpu

namespace braid::kernels::cuda {
BRAID_KERNELS_CAST_BACKEND_DECLS
}  // namespace braid::kernels::cuda

#endif  // BRAID_KERNELS_INTERNAL_CAST_BACKENDS_H_
