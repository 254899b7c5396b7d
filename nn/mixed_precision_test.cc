// Tests for nn/mixed_precision.h: bf16/f16 compute copies are value rounded to
// nearest even, f32 shares storage, refresh after an update, reuse of an
// existing copy, and errors leaving parameters unchanged.
#include "nn/mixed_precision.h"

#include <vector>

#include "gtest/gtest.h"
#include "runtime/half.h"
#include "runtime/tensor.h"

namespace braid::nn {
namespace {

using runtime::BFloat16;
using runtime::DType;
using runtime::Half;
using runtime::Tensor;

struct Model {
  Parameter w, b;
  std::vector<NamedParameter> Params() { return {{"w", &w}, {"b", &b}}; }
};

Model MakeModel() {
  Model m;
  m.w = MakeParameter({3, 5}, runtime::Device::Cpu()).value();
  m.b = MakeParameter({5}, runtime::Device::Cpu(), false).value();
  for (int i = 0; i < 15; ++i) m.w.value.data<float>()[i] = 1.0f + 0.001f * i + 1e-5f;
  for (int i = 0; i < 5; ++i) m.b.value.data<float>()[i] = -3.14159f * i;
  return m;
}

template <typename T>
void ExpectRoundedCopy(const Parameter& p) {
  ASSERT_EQ(p.compute.dtype(), runtime::DTypeOf<T>());
  ASSERT_EQ(p.compute.shape(), p.value.shape());
  EXPECT_FALSE(p.compute.SharesStorageWith(p.value));
  for (int64_t i = 0; i < p.value.numel(); ++i) {
    EXPECT_EQ(p.compute.data<T>()[i].bits, T(p.value.data<float>()[i]).bits) << i;
  }
}

TEST(MixedPrecisionTest, Bf16CopyAndRefresh) {
  Model m = MakeModel();
  ASSERT_TRUE(EnableMixedPrecision(m.Params(), DType::kBF16).ok());
  ExpectRoundedCopy<BFloat16>(m.w);
  ExpectRoundedCopy<BFloat16>(m.b);
  EXPECT_EQ(m.w.value.dtype(), DType::kF32);  // master stays f32
  // An optimizer step changes value; compute follows only after the refresh.
  const Tensor compute_before = m.w.compute;
  m.w.value.data<float>()[0] = 42.0f;
  EXPECT_NE(static_cast<float>(m.w.compute.data<BFloat16>()[0]), 42.0f);
  ASSERT_TRUE(RefreshComputeCopies(m.Params()).ok());
  EXPECT_EQ(static_cast<float>(m.w.compute.data<BFloat16>()[0]), 42.0f);
  EXPECT_TRUE(m.w.compute.SharesStorageWith(compute_before)) << "refresh writes in place";
  // Enabling again with the same dtype reuses the copy.
  ASSERT_TRUE(EnableMixedPrecision(m.Params(), DType::kBF16).ok());
  EXPECT_TRUE(m.w.compute.SharesStorageWith(compute_before));
}

TEST(MixedPrecisionTest, F16CopyThenBackToF32) {
  Model m = MakeModel();
  ASSERT_TRUE(EnableMixedPrecision(m.Params(), DType::kF16).ok());
  ExpectRoundedCopy<Half>(m.w);
  ExpectRoundedCopy<Half>(m.b);
  ASSERT_TRUE(EnableMixedPrecision(m.Params(), DType::kF32).ok());
  EXPECT_TRUE(m.w.compute.SharesStorageWith(m.w.value));
  EXPECT_EQ(m.w.compute.dtype(), DType::kF32);
  // Refresh is a no-op when compute is value.
  ASSERT_TRUE(RefreshComputeCopies(m.Params()).ok());
  m.b.value.data<float>()[1] = 7.0f;
  EXPECT_EQ(m.b.compute.data<float>()[1], 7.0f);
}

TEST(MixedPrecisionTest, ErrorsLeaveParametersUnchanged) {
  Model m = MakeModel();
  EXPECT_EQ(EnableMixedPrecision(m.Params(), DType::kI32).code(),
            absl::StatusCode::kInvalidArgument);
  m.b.value = Tensor::Zeros({5}, DType::kBF16).value();  // not a master weight
  EXPECT_EQ(EnableMixedPrecision(m.Params(), DType::kBF16).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m.w.compute.dtype(), DType::kF32) << "w must not be converted when b fails";
  EXPECT_TRUE(m.w.compute.SharesStorageWith(m.w.value));
  Parameter no_compute = MakeParameter({2}, runtime::Device::Cpu()).value();
  const Tensor undefined;
  no_compute.compute = undefined;
  EXPECT_EQ(RefreshComputeCopies({{"x", &no_compute}}).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace braid::nn
