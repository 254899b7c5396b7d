// CUDA vs CPU for kernels/cast.h: every pair of float dtypes, accumulate, a
// non-default stream. Results must be bit-identical (same math/cast.h).
// Skips when no GPU can be used.
#include "kernels/cast.h"

#include <cuda_runtime_api.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/testing/device.h"
#include "runtime/tensor.h"

namespace braid::kernels {
namespace {

using runtime::DType;
using runtime::Tensor;

constexpr DType kFloatTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

Tensor Random(int64_t n, DType dtype, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1e5f, 1e5f);
  Tensor t = Tensor::Empty({n}, dtype).value();
  runtime::VisitDType(dtype, [&]<typename T>() {
    for (int64_t i = 0; i < n; ++i) t.data<T>()[i] = T(dist(rng) * (i % 3 == 0 ? 1e-9f : 1.0f));
  });
  return t;
}

TEST(CudaCastTest, EveryPairBitIdenticalToCpu) {
  BRAID_SKIP_WITHOUT_GPU();
  const int64_t n = 100003;
  for (DType from : kFloatTypes) {
    for (DType to : kFloatTypes) {
      const Tensor src = Random(n, from, 1);
      Tensor cpu = Tensor::Empty({n}, to).value();
      ASSERT_TRUE(Cast(src, cpu).ok());
      Tensor gpu = Tensor::Empty({n}, to, runtime::Device::Cuda(0)).value();
      ASSERT_TRUE(Cast(testing::ToGpu(src), gpu).ok());
      EXPECT_TRUE(runtime::BitwiseEqual(testing::ToHost(gpu), cpu))
          << runtime::ToString(from) << " -> " << runtime::ToString(to);
    }
  }
}

TEST(CudaCastTest, AccumulateBitIdenticalToCpuOnAStream) {
  BRAID_SKIP_WITHOUT_GPU();
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  const int64_t n = 4099;
  for (DType from : kFloatTypes) {
    const Tensor src = Random(n, from, 2);
    Tensor cpu = Random(n, DType::kF32, 3);
    Tensor gpu = testing::ToGpu(cpu);
    const Tensor src_gpu = testing::ToGpu(src);
    ASSERT_TRUE(AccumulateInto(src, cpu).ok());
    ASSERT_TRUE(AccumulateInto(src_gpu, gpu, Stream{stream}).ok());
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    EXPECT_TRUE(runtime::BitwiseEqual(testing::ToHost(gpu), cpu)) << runtime::ToString(from);
  }
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace braid::kernels
