// FillBatch into CUDA tensors; skipped without a GPU.
#include <cstdint>
#include <string>
#include <vector>

#include "data/text_dataset.h"
#include "gtest/gtest.h"
#include "runtime/cuda_memory.h"
#include "runtime/tensor.h"

namespace braid::data {
namespace {

using runtime::Device;
using runtime::DType;
using runtime::Tensor;

TEST(FillBatchCudaTest, GpuTensorsMatchHostBatch) {
  if (!runtime::cuda::Available()) GTEST_SKIP() << "no usable GPU";
  std::vector<int32_t> tokens(1000);
  for (int i = 0; i < 1000; ++i) tokens[i] = (i * 37) % 256;
  absl::StatusOr<TextDataset> ds = TextDataset::FromTokens(
      tokens, {.path = "<tokens>", .context_length = 16, .validation_fraction = 0.1});
  ASSERT_TRUE(ds.ok()) << ds.status();
  const std::vector<int64_t> indices = {3, 0, 41, 7};
  absl::StatusOr<Batch> host = MakeBatch(*ds, indices);
  ASSERT_TRUE(host.ok()) << host.status();

  absl::StatusOr<Tensor> inputs = Tensor::Zeros({4, 16}, DType::kI32, Device::Cuda(0));
  absl::StatusOr<Tensor> targets = Tensor::Zeros({4, 16}, DType::kI32, Device::Cuda(0));
  ASSERT_TRUE(inputs.ok() && targets.ok()) << inputs.status() << targets.status();
  ASSERT_TRUE(FillBatch(*ds, indices, *inputs, *targets).ok());
  EXPECT_TRUE(inputs->device().is_cuda());
  EXPECT_TRUE(runtime::BitwiseEqual(*inputs, host->inputs));
  EXPECT_TRUE(runtime::BitwiseEqual(*targets, host->targets));

  // Validation rows too.
  absl::StatusOr<Batch> host_val = MakeBatch(*ds, std::vector<int64_t>{0, 4}, Split::kValidation);
  ASSERT_TRUE(host_val.ok()) << host_val.status();
  absl::StatusOr<Tensor> vin = Tensor::Zeros({2, 16}, DType::kI32, Device::Cuda(0));
  absl::StatusOr<Tensor> vtg = Tensor::Zeros({2, 16}, DType::kI32, Device::Cuda(0));
  ASSERT_TRUE(vin.ok() && vtg.ok());
  ASSERT_TRUE(FillBatch(*ds, std::vector<int64_t>{0, 4}, *vin, *vtg, Split::kValidation).ok());
  EXPECT_TRUE(runtime::BitwiseEqual(*vin, host_val->inputs));
  EXPECT_TRUE(runtime::BitwiseEqual(*vtg, host_val->targets));
}

}  // namespace
}  // namespace braid::data
