// Tensor on a CUDA device; skipped without a GPU.
#include "runtime/tensor.h"

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/cuda_memory.h"

namespace braid::runtime {
namespace {

// A [rows, cols] f32 tensor holding 0, 1, 2, ... in row-major order.
Tensor Iota(Shape shape) {
  std::vector<float> v(static_cast<size_t>(NumElements(shape)));
  std::iota(v.begin(), v.end(), 0.0f);
  absl::StatusOr<Tensor> t = Tensor::FromVector(v, std::move(shape));
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

std::vector<double> Values(const Tensor& t) {
  absl::StatusOr<std::vector<double>> v = ToDoubleVector(t);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::vector<double>{};
}

TEST(TensorCudaTest, RoundTrip) {
  if (!cuda::Available()) GTEST_SKIP() << "no usable GPU";
  Tensor x = Iota({64, 33});
  absl::StatusOr<Tensor> d = x.To(Device::Cuda(0));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->device().is_cuda());
  absl::StatusOr<Tensor> back = d->To(Device::Cpu());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(BitwiseEqual(x, *back));
  EXPECT_TRUE(BitwiseEqual(x, *d));  // compares through a host copy
  // Strided host source into a device tensor, and a device fill.
  absl::StatusOr<Tensor> t = x.Transpose(0, 1);
  ASSERT_TRUE(t.ok());
  absl::StatusOr<Tensor> dt = Tensor::Empty(t->shape(), DType::kF32, Device::Cuda(0));
  ASSERT_TRUE(dt.ok());
  ASSERT_TRUE(dt->CopyFrom(*t).ok());
  EXPECT_EQ(Values(*dt), Values(*t));
  ASSERT_TRUE(dt->Fill(2.0).ok());
  EXPECT_EQ(Values(*dt), std::vector<double>(static_cast<size_t>(t->numel()), 2.0));
  absl::StatusOr<Tensor> z = Tensor::Zeros({5}, DType::kBF16, Device::Cuda(0));
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(Values(*z), std::vector<double>(5, 0.0));
}

TEST(TensorCudaTest, StridedDeviceViewsCopyThroughTheHost) {
  if (!cuda::Available()) GTEST_SKIP() << "no usable GPU";
  Tensor x = Iota({16, 9});
  absl::StatusOr<Tensor> d = x.To(Device::Cuda(0));
  ASSERT_TRUE(d.ok()) << d.status();
  absl::StatusOr<Tensor> dt = d->Transpose(0, 1);  // non-contiguous on the device
  ASSERT_TRUE(dt.ok());
  absl::StatusOr<Tensor> contiguous = dt->Contiguous();
  ASSERT_TRUE(contiguous.ok()) << contiguous.status();
  absl::StatusOr<Tensor> ht = x.Transpose(0, 1);
  ASSERT_TRUE(ht.ok());
  EXPECT_EQ(Values(*contiguous), Values(*ht));
  // Writing into a strided device view leaves the other elements alone.
  absl::StatusOr<Tensor> column = d->Slice(1, 2, 3);
  ASSERT_TRUE(column.ok());
  ASSERT_TRUE(column->Fill(-1.0).ok());
  std::vector<double> got = Values(*d);
  for (int64_t r = 0; r < 16; ++r) {
    for (int64_t c = 0; c < 9; ++c) {
      EXPECT_EQ(got[r * 9 + c], c == 2 ? -1.0 : static_cast<double>(r * 9 + c));
    }
  }
}

}  // namespace
}  // namespace braid::runtime
