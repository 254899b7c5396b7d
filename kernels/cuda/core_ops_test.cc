// CUDA vs CPU for the core op families: reduce (every dtype and op), GEMM
// (transposes, batched, f32/f16/bf16), elementwise, top-k and row
// gather/scatter. Skips when no GPU can be used (runtime::cuda::Available()).
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/index.h"
#include "kernels/reduce.h"
#include "kernels/topk.h"
#include "runtime/cuda_memory.h"
#include "runtime/tensor.h"

namespace braid::kernels {
namespace {

using runtime::BFloat16;
using runtime::Device;
using runtime::DType;
using runtime::Half;
using runtime::Tensor;

constexpr Device kGpu = Device::Cuda(0);

class CudaCoreOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!runtime::cuda::Available()) GTEST_SKIP() << "no usable GPU on this machine";
  }
};

// Random CPU tensor: floats in [-2, 2] (16-bit types rounded), integers
// across their range.
Tensor Random(runtime::Shape shape, DType dtype, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  Tensor t = Tensor::Empty(shape, dtype).value();
  runtime::VisitDType(dtype, [&]<typename T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, Half> ||
                    std::is_same_v<T, BFloat16>) {
        p[i] = T(dist(rng));
      } else {
        p[i] = static_cast<T>(rng());
      }
    }
  });
  return t;
}

Tensor ToGpu(const Tensor& t) { return t.To(kGpu).value(); }
Tensor ToCpu(const Tensor& t) {
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return t.To(Device::Cpu()).value();
}

// Bitwise equal, except that any NaN equals any NaN.
bool SameBits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  if (runtime::BitwiseEqual(a, b)) return true;
  const std::vector<double> va = runtime::ToDoubleVector(a).value();
  const std::vector<double> vb = runtime::ToDoubleVector(b).value();
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) && std::isnan(vb[i])) continue;
    if (va[i] != vb[i]) {
      ADD_FAILURE() << "element " << i << ": " << va[i] << " vs " << vb[i];
      return false;
    }
  }
  return true;
}

TEST_F(CudaCoreOpsTest, ReduceMatchesCpuForEveryDTypeAndOp) {
  for (DType dtype : runtime::kAllDTypes) {
    for (ReduceKind kind : kAllReduceKinds) {
      for (int64_t n : {int64_t{1}, int64_t{1001}, int64_t{1 << 20}}) {
        const Tensor a = Random({n}, dtype, 1), b = Random({n}, dtype, 2);
        Tensor want = a.Clone().value();
        ASSERT_TRUE(ReduceInto(want.raw_data(), b.raw_data(), n, dtype, kind).ok());
        Tensor ga = ToGpu(a), gb = ToGpu(b);
        Tensor gout = Tensor::Empty({n}, dtype, kGpu).value();
        ASSERT_TRUE(
            cuda::ReduceTo(gout.raw_data(), ga.raw_data(), gb.raw_data(), n, dtype, kind, {}).ok());
        ASSERT_TRUE(cuda::ReduceInto(ga.raw_data(), gb.raw_data(), n, dtype, kind, {}).ok());
        const std::string what =
            absl::StrCat(runtime::ToString(dtype), " ", ToString(kind), " n=", n);
        EXPECT_TRUE(SameBits(ToCpu(gout), want)) << "ReduceTo " << what;
        EXPECT_TRUE(SameBits(ToCpu(ga), want)) << "ReduceInto " << what;
      }
    }
    const Tensor x = Random({4097}, dtype, 3);
    Tensor want = x.Clone().value();
    ASSERT_TRUE(DivideInPlace(want.raw_data(), 4097, dtype, 3).ok());
    Tensor gx = ToGpu(x);
    ASSERT_TRUE(cuda::DivideInPlace(gx.raw_data(), 4097, dtype, 3, {}).ok());
    EXPECT_TRUE(SameBits(ToCpu(gx), want)) << "DivideInPlace " << runtime::ToString(dtype);
  }
}

TEST_F(CudaCoreOpsTest, GemmMatchesCpu) {
  GemmContext context;
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        const int64_t m = 37, n = 45, k = 70;
        const Tensor a = ta ? Random({k, m}, dtype, 4) : Random({m, k}, dtype, 4);
        const Tensor b = tb ? Random({n, k}, dtype, 5) : Random({k, n}, dtype, 5);
        const Tensor c = Random({m, n}, dtype, 6);
        const GemmOptions o{.transpose_a = ta, .transpose_b = tb, .alpha = 0.5f, .beta = 2.0f};
        Tensor want = c.Clone().value();
        ASSERT_TRUE(Gemm(a, b, want, o).ok());
        Tensor gc = ToGpu(c);
        ASSERT_TRUE(Gemm(ToGpu(a), ToGpu(b), gc, o, {}, &context).ok());
        const double tol = dtype == DType::kF32 ? 1e-4 : dtype == DType::kF16 ? 1e-2 : 6e-2;
        EXPECT_TRUE(runtime::AllClose(ToCpu(gc), want, tol, tol))
            << runtime::ToString(dtype) << " ta=" << ta << " tb=" << tb;
      }
    }
    // Batched, with a broadcast B, and without a context.
    const Tensor a = Random({3, 8, 16}, dtype, 7), b = Random({16, 4}, dtype, 8);
    Tensor want = Tensor::Zeros({3, 8, 4}, dtype).value();
    ASSERT_TRUE(GemmBatched(a, b, want).ok());
    Tensor gc = Tensor::Zeros({3, 8, 4}, dtype, kGpu).value();
    ASSERT_TRUE(GemmBatched(ToGpu(a), ToGpu(b), gc).ok());
    const double tol = dtype == DType::kF32 ? 1e-4 : 3e-2;
    EXPECT_TRUE(runtime::AllClose(ToCpu(gc), want, tol, tol))
        << "batched " << runtime::ToString(dtype);
  }
}

TEST_F(CudaCoreOpsTest, ElementwiseMatchesCpuBitwise) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    const Tensor a = Random({3, 1001}, dtype, 9), b = Random({3, 1001}, dtype, 10);
    const Tensor ga = ToGpu(a), gb = ToGpu(b);
    Tensor want = Tensor::Empty({3, 1001}, dtype).value();
    Tensor got = Tensor::Empty({3, 1001}, dtype, kGpu).value();
    ASSERT_TRUE(Add(a, b, want).ok());
    ASSERT_TRUE(Add(ga, gb, got).ok());
    EXPECT_TRUE(SameBits(ToCpu(got), want)) << "Add " << runtime::ToString(dtype);
    ASSERT_TRUE(Mul(a, b, want).ok());
    ASSERT_TRUE(Mul(ga, gb, got).ok());
    EXPECT_TRUE(SameBits(ToCpu(got), want)) << "Mul " << runtime::ToString(dtype);
    ASSERT_TRUE(Scale(a, 0.37f, want).ok());
    ASSERT_TRUE(Scale(ga, 0.37f, got).ok());
    EXPECT_TRUE(SameBits(ToCpu(got), want)) << "Scale " << runtime::ToString(dtype);
    Tensor y = b.Clone().value();
    Tensor gy = ToGpu(b);
    ASSERT_TRUE(Axpy(-1.3f, a, y).ok());
    ASSERT_TRUE(Axpy(-1.3f, ga, gy).ok());
    EXPECT_TRUE(SameBits(ToCpu(gy), y)) << "Axpy " << runtime::ToString(dtype);
  }
}

TEST_F(CudaCoreOpsTest, TopKMatchesCpu) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    Tensor x = Random({33, 500}, dtype, 11);
    // Force ties: quantise to a few levels.
    runtime::VisitDType(dtype, [&]<typename T>() {
      for (int64_t i = 0; i < x.numel(); ++i) {
        x.data<T>()[i] = T(std::round(static_cast<float>(x.data<T>()[i]) * 2.0f));
      }
    });
    for (int64_t k : {int64_t{1}, int64_t{8}, int64_t{500}}) {
      TopKResult want = TopK(x, k).value();
      TopKResult got = TopK(ToGpu(x), k).value();
      EXPECT_TRUE(runtime::BitwiseEqual(ToCpu(got.indices), want.indices))
          << runtime::ToString(dtype) << " k=" << k;
      EXPECT_TRUE(runtime::BitwiseEqual(ToCpu(got.values), want.values));
    }
  }
}

TEST_F(CudaCoreOpsTest, GatherAndScatterAddMatchCpu) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    const Tensor in = Random({64, 96}, dtype, 12);
    std::vector<int64_t> perm(64);
    for (int i = 0; i < 64; ++i) perm[i] = (i * 37) % 64;
    perm[5] = -1;
    const Tensor idx = Tensor::FromVector(perm, {64}).value();
    Tensor want = Tensor::Empty({64, 96}, dtype).value();
    Tensor got = Tensor::Empty({64, 96}, dtype, kGpu).value();
    ASSERT_TRUE(GatherRows(in, idx, want).ok());
    ASSERT_TRUE(GatherRows(ToGpu(in), ToGpu(idx), got).ok());
    EXPECT_TRUE(runtime::BitwiseEqual(ToCpu(got), want)) << "gather " << runtime::ToString(dtype);
    // Distinct destinations: exact.
    Tensor out = Random({64, 96}, dtype, 13);
    Tensor gout = ToGpu(out);
    ASSERT_TRUE(ScatterAddRows(in, idx, out).ok());
    ASSERT_TRUE(ScatterAddRows(ToGpu(in), ToGpu(idx), gout).ok());
    EXPECT_TRUE(runtime::BitwiseEqual(ToCpu(gout), out)) << "scatter " << runtime::ToString(dtype);
    // Repeated destinations (top-2 unpermute): within rounding.
    std::vector<int32_t> twice(64);
    for (int i = 0; i < 64; ++i) twice[i] = i / 2;
    const Tensor idx2 = Tensor::FromVector(twice, {64}).value();
    Tensor sum = Tensor::Zeros({32, 96}, dtype).value();
    Tensor gsum = Tensor::Zeros({32, 96}, dtype, kGpu).value();
    ASSERT_TRUE(ScatterAddRows(in, idx2, sum).ok());
    ASSERT_TRUE(ScatterAddRows(ToGpu(in), ToGpu(idx2), gsum).ok());
    EXPECT_TRUE(runtime::AllClose(ToCpu(gsum), sum, 1e-2, 1e-2)) << "scatter repeats";
  }
}

TEST(CudaCoreOpsNoGpuTest, ReportsFailedPreconditionWithoutGpu) {
  if (runtime::cuda::Available()) GTEST_SKIP() << "a GPU is present";
  EXPECT_EQ(cuda::ReduceTo(reinterpret_cast<void*>(256), reinterpret_cast<void*>(256),
                           reinterpret_cast<void*>(256), 4, DType::kF32, ReduceKind::kSum, {})
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace braid::kernels
