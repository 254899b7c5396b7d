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

TEST(TensorTest, EmptyHasShape) {
  absl::StatusOr<Tensor> t = Tensor::Zeros({2, 3}, DType::kF32);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->numel(), 6);
  EXPECT_EQ(t->nbytes(), 24u);
  EXPECT_EQ(t->ndim(), 2);
  EXPECT_EQ(t->dim(-1), 3);
  EXPECT_TRUE(t->is_contiguous());
  EXPECT_EQ(t->strides(), (Strides{3, 1}));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->raw_data()) % 64, 0u);  // 64-byte aligned
  EXPECT_EQ(Values(*t), std::vector<double>(6, 0.0));
}

TEST(TensorTest, ShapeHelpers) {
  EXPECT_EQ(NumElements({}), 1);
  EXPECT_EQ(NumElements({2, 0, 3}), 0);
  EXPECT_EQ(ContiguousStrides({2, 3, 4}), (Strides{12, 4, 1}));
  EXPECT_EQ(ShapeToString({2, 3}), "[2, 3]");
  EXPECT_EQ(Tensor::Empty({2, -1}, DType::kF32).status().code(),
            absl::StatusCode::kInvalidArgument);
  Tensor undefined;
  EXPECT_FALSE(undefined.defined());
  EXPECT_EQ(undefined.DebugString(), "Tensor(undefined)");
  absl::StatusOr<Tensor> scalar = Tensor::Full({}, DType::kI64, 7);
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->numel(), 1);
  EXPECT_EQ(*scalar->data<int64_t>(), 7);
}

TEST(TensorTest, SliceSharesStorageAndIndexes) {
  Tensor x = Iota({4, 5});
  absl::StatusOr<Tensor> rows = x.Slice(0, 1, 3);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->SharesStorageWith(x));
  EXPECT_EQ(rows->shape(), (Shape{2, 5}));
  EXPECT_TRUE(rows->is_contiguous());
  EXPECT_EQ(rows->storage_offset(), 5);
  EXPECT_EQ(rows->data<float>()[0], 5.0f);

  absl::StatusOr<Tensor> cols = x.Slice(1, 2, 4);  // [4, 2], strided
  ASSERT_TRUE(cols.ok());
  EXPECT_FALSE(cols->is_contiguous());
  EXPECT_EQ(Values(*cols), (std::vector<double>{2, 3, 7, 8, 12, 13, 17, 18}));
  // Writing through a view changes the base.
  ASSERT_TRUE(cols->Fill(-1).ok());
  EXPECT_EQ(x.data<float>()[2], -1.0f);
  EXPECT_EQ(x.data<float>()[1], 1.0f);
  EXPECT_EQ(x.data<float>()[19], 19.0f);
  absl::StatusOr<Tensor> empty = x.Slice(0, 2, 2);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->numel(), 0);
  absl::StatusOr<Tensor> neg = x.Slice(-1, 4, 5);
  ASSERT_TRUE(neg.ok());
  EXPECT_EQ(Values(*neg), (std::vector<double>{4, 9, 14, 19}));

  EXPECT_EQ(x.Slice(0, 3, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(x.Slice(0, 2, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(x.Slice(2, 0, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(x.Slice(-3, 0, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorTest, SelectAndTranspose) {
  Tensor x = Iota({2, 3, 4});
  absl::StatusOr<Tensor> s = x.Select(1, 2);  // [2, 4]
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->SharesStorageWith(x));
  EXPECT_EQ(s->shape(), (Shape{2, 4}));
  EXPECT_EQ(Values(*s), (std::vector<double>{8, 9, 10, 11, 20, 21, 22, 23}));
  EXPECT_EQ(x.Select(1, 3).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(x.Select(1, -1).status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<Tensor> t = x.Transpose(0, 2);  // [4, 3, 2]
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->SharesStorageWith(x));
  EXPECT_EQ(t->shape(), (Shape{4, 3, 2}));
  EXPECT_FALSE(t->is_contiguous());
  std::vector<double> v = Values(*t);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 2; ++k) {
        EXPECT_EQ(v[static_cast<size_t>((i * 3 + j) * 2 + k)], k * 12 + j * 4 + i);
      }
    }
  }
  absl::StatusOr<Tensor> back = t->Transpose(-1, 0);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->is_contiguous());
  EXPECT_TRUE(BitwiseEqual(*back, x));
  EXPECT_EQ(x.Transpose(0, 3).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorTest, ViewReshapesContiguousOnly) {
  Tensor x = Iota({2, 6});
  absl::StatusOr<Tensor> v = x.View({3, -1});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->shape(), (Shape{3, 4}));
  EXPECT_TRUE(v->SharesStorageWith(x));
  EXPECT_EQ(Values(*v), Values(x));
  // A contiguous slice can be viewed too.
  absl::StatusOr<Tensor> row = x.Slice(0, 1, 2);
  ASSERT_TRUE(row.ok());
  absl::StatusOr<Tensor> row_view = row->View({6});
  ASSERT_TRUE(row_view.ok());
  EXPECT_EQ(Values(*row_view), (std::vector<double>{6, 7, 8, 9, 10, 11}));

  EXPECT_EQ(x.View({5, 2}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(x.View({-1, -1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(x.View({5, -1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(x.View({-2, 6}).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Tensor> t = x.Transpose(0, 1);
  ASSERT_TRUE(t.ok());
  absl::Status not_contig = t->View({12}).status();
  EXPECT_EQ(not_contig.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(not_contig.message().find("Contiguous()"), absl::string_view::npos);
}

TEST(TensorTest, ContiguousAndCloneCopy) {
  Tensor x = Iota({3, 4});
  absl::StatusOr<Tensor> same = x.Contiguous();
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->SharesStorageWith(x));  // already contiguous: no copy

  absl::StatusOr<Tensor> t = x.Transpose(0, 1);
  ASSERT_TRUE(t.ok());
  absl::StatusOr<Tensor> c = t->Contiguous();
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->SharesStorageWith(x));
  EXPECT_TRUE(c->is_contiguous());
  EXPECT_EQ(Values(*c), Values(*t));

  absl::StatusOr<Tensor> clone = x.Clone();
  ASSERT_TRUE(clone.ok());
  EXPECT_FALSE(clone->SharesStorageWith(x));
  EXPECT_TRUE(BitwiseEqual(*clone, x));
  clone->data<float>()[0] = 100;
  EXPECT_EQ(x.data<float>()[0], 0.0f);
}

TEST(TensorTest, CopyFromStrided) {
  Tensor src = Iota({4, 3});
  absl::StatusOr<Tensor> src_t = src.Transpose(0, 1);  // [3, 4] strided
  ASSERT_TRUE(src_t.ok());
  absl::StatusOr<Tensor> big = Tensor::Zeros({3, 8}, DType::kF32);
  ASSERT_TRUE(big.ok());
  absl::StatusOr<Tensor> dst = big->Slice(1, 2, 6);  // [3, 4] strided destination
  ASSERT_TRUE(dst.ok());
  ASSERT_TRUE(dst->CopyFrom(*src_t).ok());
  EXPECT_EQ(Values(*dst), Values(*src_t));
  // Outside the destination window nothing changed.
  std::vector<double> all = Values(*big);
  for (int r = 0; r < 3; ++r) {
    for (int c : {0, 1, 6, 7}) EXPECT_EQ(all[static_cast<size_t>(r * 8 + c)], 0.0);
  }
  // Mismatches are refused.
  absl::StatusOr<Tensor> wrong_shape = Tensor::Zeros({4, 3}, DType::kF32);
  absl::StatusOr<Tensor> wrong_dtype = Tensor::Zeros({3, 4}, DType::kF16);
  ASSERT_TRUE(wrong_shape.ok() && wrong_dtype.ok());
  EXPECT_EQ(dst->CopyFrom(*wrong_shape).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dst->CopyFrom(*wrong_dtype).code(), absl::StatusCode::kInvalidArgument);
  Tensor undefined;
  EXPECT_EQ(dst->CopyFrom(undefined).code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorTest, FillEveryDType) {
  for (DType dtype : kAllDTypes) {
    absl::StatusOr<Tensor> t = Tensor::Full({3, 5}, dtype, 3.0);
    ASSERT_TRUE(t.ok()) << ToString(dtype);
    EXPECT_EQ(t->dtype(), dtype);
    EXPECT_EQ(t->element_size(), SizeOf(dtype));
    EXPECT_EQ(Values(*t), std::vector<double>(15, 3.0)) << ToString(dtype);
    // A strided fill touches only the view.
    absl::StatusOr<Tensor> col = t->Slice(1, 1, 2);
    ASSERT_TRUE(col.ok());
    ASSERT_TRUE(col->Fill(1.0).ok());
    std::vector<double> v = Values(*t);
    for (int i = 0; i < 15; ++i) {
      EXPECT_EQ(v[static_cast<size_t>(i)], i % 5 == 1 ? 1.0 : 3.0) << ToString(dtype) << " " << i;
    }
  }
  // Values are converted to the dtype: 0.1 in f16 is the nearest half.
  absl::StatusOr<Tensor> h = Tensor::Full({1}, DType::kF16, 0.1);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->data<Half>()[0].bits, Half::FromFloat(0.1f));
  absl::StatusOr<Tensor> b = Tensor::Full({1}, DType::kBF16, 0.1);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->data<BFloat16>()[0].bits, BFloat16::FromFloat(0.1f));
  absl::StatusOr<Tensor> i = Tensor::Full({1}, DType::kI32, -2.0);
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->data<int32_t>()[0], -2);
}

TEST(TensorTest, FromVectorAndBlob) {
  absl::StatusOr<Tensor> t = Tensor::FromVector<int64_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->dtype(), DType::kI64);
  EXPECT_EQ(t->data<int64_t>()[4], 5);
  EXPECT_EQ(Tensor::FromVector<float>({1, 2, 3}, {2, 2}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Tensor> u8 = Tensor::FromVector<uint8_t>({255, 0}, {2});
  ASSERT_TRUE(u8.ok());
  EXPECT_EQ(Values(*u8), (std::vector<double>{255, 0}));

  float buffer[6] = {1, 2, 3, 4, 5, 6};
  absl::StatusOr<Tensor> blob = Tensor::FromBlob(buffer, {3, 2}, DType::kF32);
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(blob->data<float>(), buffer);  // no copy
  ASSERT_TRUE(blob->Fill(9).ok());
  EXPECT_EQ(buffer[5], 9.0f);
  EXPECT_EQ(Tensor::FromBlob(nullptr, {2}, DType::kF32).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_NE(t->DebugString().find("i64, [2, 3], cpu"), std::string::npos) << t->DebugString();
}

TEST(TensorTest, BitwiseEqualAndAllClose) {
  Tensor a = Iota({2, 3});
  absl::StatusOr<Tensor> b = a.Clone();
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(BitwiseEqual(a, *b));
  EXPECT_TRUE(AllClose(a, *b));
  b->data<float>()[5] += 1e-6f;
  EXPECT_FALSE(BitwiseEqual(a, *b));
  EXPECT_TRUE(AllClose(a, *b, 1e-5, 1e-8));
  b->data<float>()[5] += 1.0f;
  EXPECT_FALSE(AllClose(a, *b));
  EXPECT_TRUE(AllClose(a, *b, 0.0, 1.5));

  // Shape and dtype must match for BitwiseEqual; a view compares by value.
  absl::StatusOr<Tensor> v = a.View({3, 2});
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(BitwiseEqual(a, *v));
  EXPECT_FALSE(AllClose(a, *v));
  absl::StatusOr<Tensor> t = a.Transpose(0, 1);
  absl::StatusOr<Tensor> tc = t->Contiguous();
  ASSERT_TRUE(t.ok() && tc.ok());
  EXPECT_TRUE(BitwiseEqual(*t, *tc));
  absl::StatusOr<Tensor> ai = Tensor::Zeros({2, 3}, DType::kI32);
  ASSERT_TRUE(ai.ok());
  EXPECT_FALSE(BitwiseEqual(a, *ai));

  // NaN is never close; equal infinities are.
  absl::StatusOr<Tensor> n = Tensor::FromVector<float>({std::nanf("")}, {1});
  absl::StatusOr<Tensor> inf = Tensor::FromVector<float>({INFINITY}, {1});
  absl::StatusOr<Tensor> ninf = Tensor::FromVector<float>({-INFINITY}, {1});
  ASSERT_TRUE(n.ok() && inf.ok() && ninf.ok());
  EXPECT_FALSE(AllClose(*n, *n));
  EXPECT_TRUE(BitwiseEqual(*n, *n));
  EXPECT_TRUE(AllClose(*inf, *inf));
  EXPECT_FALSE(AllClose(*inf, *ninf));
}

TEST(TensorTest, HalfTensorsRoundTripThroughDouble) {
  absl::StatusOr<Tensor> h = Tensor::FromVector<Half>(
      {Half(1.0f), Half(-2.5f), Half(65504.0f), Half::FromBits(0x0001)}, {4});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->dtype(), DType::kF16);
  EXPECT_EQ(Values(*h), (std::vector<double>{1.0, -2.5, 65504.0, std::ldexp(1.0, -24)}));
  absl::StatusOr<Tensor> b = Tensor::FromVector<BFloat16>({BFloat16(1.0f), BFloat16(3.0f)}, {2});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->dtype(), DType::kBF16);
  EXPECT_EQ(Values(*b), (std::vector<double>{1.0, 3.0}));
}

TEST(TensorTest, CudaTensorWithoutGpuIsACleanError) {
  if (cuda::Available()) return;  // runtime_tensor_cuda_test covers the GPU
  absl::StatusOr<Tensor> t = Tensor::Zeros({4}, DType::kF32, Device::Cuda(0));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition) << t.status();
}

}  // namespace
}  // namespace braid::runtime
