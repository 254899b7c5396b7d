// Test helpers for CUDA kernel tests: skip without a GPU, copy tensors to and
// from GPU 0, and compare a CUDA result with the CPU reference.
//
// Copies use the legacy default stream synchronously (runtime::Tensor::To),
// so a kernel enqueued on the default stream has finished when its output has
// been copied back. Header-only; for tests (uses GoogleTest).
#ifndef BRAID_KERNELS_TESTING_DEVICE_H_
#define BRAID_KERNELS_TESTING_DEVICE_H_

#include "gtest/gtest.h"
#include "kernels/testing/gradcheck.h"
#include "runtime/cuda_memory.h"
#include "runtime/tensor.h"

// Skip the current test (shown as skipped by ctest) when a GPU is usable /
// when none is.
#define BRAID_SKIP_WITH_GPU()                                                    \
  do {                                                                           \
    if (::braid::runtime::cuda::Available()) {                                   \
      GTEST_SKIP() << "a GPU is usable: the no-GPU error path is not reachable"; \
    }                                                                            \
  } while (0)

#define BRAID_SKIP_WITHOUT_GPU()                                         \
  do {                                                                   \
    if (!::braid::runtime::cuda::Available()) {                          \
      GTEST_SKIP() << "no usable CUDA device: CUDA kernel test skipped"; \
    }                                                                    \
  } while (0)

namespace braid::kernels::testing {

// A copy of `t` on GPU 0.
inline runtime::Tensor ToGpu(const runtime::Tensor& t) {
  absl::StatusOr<runtime::Tensor> g = t.To(runtime::Device::Cuda(0));
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *g : runtime::Tensor();
}

// A host copy of `t`.
inline runtime::Tensor ToHost(const runtime::Tensor& t) {
  absl::StatusOr<runtime::Tensor> h = t.To(runtime::Device::Cpu());
  EXPECT_TRUE(h.ok()) << h.status();
  return h.ok() ? *h : runtime::Tensor();
}

// Success when the GPU tensor `gpu` matches the CPU tensor `cpu` elementwise
// within atol + rtol * |cpu|; equal infinities match.
inline ::testing::AssertionResult MatchesCpu(const runtime::Tensor& gpu, const runtime::Tensor& cpu,
                                             double atol, double rtol) {
  std::vector<double> g = Values(gpu), c = Values(cpu);
  for (size_t i = 0; i < g.size() && i < c.size(); ++i) {
    if (std::isinf(g[i]) && g[i] == c[i]) g[i] = c[i] = 0.0;
  }
  return GradientsClose(g, c, atol, rtol);
}

// A tensor labelled cuda:0 over the host memory of `host` (which must outlive
// it). Only for tests where no GPU is usable, checking that ops reject CUDA
// operands cleanly (kFailedPrecondition) without touching the memory.
inline runtime::Tensor FakeCudaView(const runtime::Tensor& host) {
  absl::StatusOr<runtime::Tensor> t = runtime::Tensor::FromBlob(
      host.raw_data(), host.shape(), host.dtype(), runtime::Device::Cuda(0));
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : runtime::Tensor();
}

}  // namespace braid::kernels::testing

#endif  // BRAID_KERNELS_TESTING_DEVICE_H_
