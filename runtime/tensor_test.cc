#include "runtime/tensor.h"

#include "gtest/gtest.h"

namespace braid::runtime {
namespace {

TEST(TensorTest, EmptyHasShape) {
  absl::StatusOr<Tensor> t = Tensor::Zeros({2, 3}, DType::kF32);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->numel(), 6);
  EXPECT_TRUE(t->is_contiguous());
}

}  // namespace
}  // namespace braid::runtime
