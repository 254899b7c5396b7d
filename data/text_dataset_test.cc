#include "data/text_dataset.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/env.h"
#include "runtime/tensor.h"

namespace braid::data {
namespace {

using runtime::DType;
using runtime::Tensor;

// Writes `contents` to a fresh file under the test temp dir; returns its path.
std::string WriteTemp(const std::string& name, const std::string& contents) {
  const std::string path = ::testing::TempDir() + "/data_text_dataset_test_" + name;
  EXPECT_TRUE(runtime::Env::Default()->WriteFileAtomically(path, contents).ok());
  return path;
}

// 100 bytes: "ABCD...", distinct enough to check windows by value.
std::string Alphabet(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(' ' + i % 90));
  return s;
}

TEST(TextDatasetTest, WindowsAndSplits) {
  const std::string text = Alphabet(100);
  const std::string path = WriteTemp("windows.txt", text);
  absl::StatusOr<TextDataset> ds =
      TextDataset::Open({.path = path, .context_length = 8, .validation_fraction = 0.2});
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(ds->num_tokens(), 100);
  EXPECT_EQ(ds->num_validation_tokens(), 20);
  EXPECT_EQ(ds->num_train_tokens(), 80);
  EXPECT_EQ(ds->num_train_samples(), (80 - 1) / 8);       // 9
  EXPECT_EQ(ds->num_validation_samples(), (20 - 1) / 8);  // 2
  EXPECT_EQ(ds->context_length(), 8);

  std::vector<int32_t> window(9);
  for (int64_t i = 0; i < ds->num_train_samples(); ++i) {
    ASSERT_TRUE(ds->TrainSample(i, window.data()).ok());
    for (int t = 0; t < 9; ++t) {
      EXPECT_EQ(window[t], static_cast<uint8_t>(text[i * 8 + t])) << "sample " << i << " t " << t;
    }
  }
  // The last train window ends inside the train split.
  EXPECT_LE((ds->num_train_samples() - 1) * 8 + 9, ds->num_train_tokens());
  for (int64_t i = 0; i < ds->num_validation_samples(); ++i) {
    ASSERT_TRUE(ds->ValidationSample(i, window.data()).ok());
    for (int t = 0; t < 9; ++t) {
      EXPECT_EQ(window[t], static_cast<uint8_t>(text[80 + i * 8 + t]));
    }
  }
  absl::StatusOr<absl::Span<const int32_t>> view = ds->SampleView(Split::kValidation, 1);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ((*view)[0], static_cast<uint8_t>(text[88]));
  EXPECT_EQ(view->size(), 9u);
}

TEST(TextDatasetTest, SampleIndexOutOfRange) {
  const std::string path = WriteTemp("range.txt", Alphabet(50));
  absl::StatusOr<TextDataset> ds =
      TextDataset::Open({.path = path, .context_length = 4, .validation_fraction = 0.0});
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(ds->num_validation_samples(), 0);
  EXPECT_EQ(ds->num_train_samples(), 12);
  std::vector<int32_t> window(5);
  EXPECT_EQ(ds->TrainSample(12, window.data()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ds->TrainSample(-1, window.data()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ds->ValidationSample(0, window.data()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ds->TrainSample(0, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ds->TrainSample(11, window.data()).ok());
}

TEST(TextDatasetTest, ExactFitGivesOneSample) {
  // T + 1 tokens in the train split is exactly one sample.
  const std::string path = WriteTemp("exact.txt", Alphabet(9));
  absl::StatusOr<TextDataset> ds =
      TextDataset::Open({.path = path, .context_length = 8, .validation_fraction = 0.0});
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(ds->num_train_samples(), 1);
}

TEST(TextDatasetTest, OpenErrorsSayWhatToDo) {
  absl::StatusOr<TextDataset> missing =
      TextDataset::Open({.path = ::testing::TempDir() + "/no_such_file.txt", .context_length = 8});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("no_such_file.txt"), absl::string_view::npos)
      << missing.status();

  absl::StatusOr<TextDataset> empty =
      TextDataset::Open({.path = WriteTemp("empty.txt", ""), .context_length = 8});
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("empty"), absl::string_view::npos) << empty.status();

  const std::string short_path = WriteTemp("short.txt", Alphabet(8));
  absl::StatusOr<TextDataset> too_short =
      TextDataset::Open({.path = short_path, .context_length = 8, .validation_fraction = 0.0});
  EXPECT_EQ(too_short.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_short.status().message().find("smaller context_length"), absl::string_view::npos)
      << too_short.status();

  // Train split fits, validation split (5 tokens) does not.
  const std::string mid_path = WriteTemp("mid.txt", Alphabet(100));
  absl::StatusOr<TextDataset> no_validation =
      TextDataset::Open({.path = mid_path, .context_length = 8, .validation_fraction = 0.05});
  EXPECT_EQ(no_validation.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_validation.status().message().find("validation"), absl::string_view::npos)
      << no_validation.status();

  EXPECT_EQ(TextDataset::Open({.path = mid_path, .context_length = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TextDataset::Open({.path = mid_path, .context_length = 4, .validation_fraction = 1.0})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TextDataset::Open({.path = mid_path, .context_length = 4, .validation_fraction = -0.1})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TextDatasetTest, FromTokensKeepsIds) {
  std::vector<int32_t> tokens(41);
  for (int i = 0; i < 41; ++i) tokens[i] = 1000 + i;
  absl::StatusOr<TextDataset> ds = TextDataset::FromTokens(
      tokens, {.path = "<tokens>", .context_length = 10, .validation_fraction = 0.0});
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(ds->num_train_samples(), 4);
  std::vector<int32_t> window(11);
  ASSERT_TRUE(ds->TrainSample(3, window.data()).ok());
  EXPECT_EQ(window.front(), 1030);
  EXPECT_EQ(window.back(), 1040);
  EXPECT_EQ(TextDataset::FromTokens({}, {.path = "<none>", .context_length = 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TextDatasetTest, CopiesShareTokens) {
  const std::string path = WriteTemp("copy.txt", Alphabet(64));
  absl::StatusOr<TextDataset> ds =
      TextDataset::Open({.path = path, .context_length = 8, .validation_fraction = 0.0});
  ASSERT_TRUE(ds.ok());
  const TextDataset copy = *ds;
  absl::StatusOr<absl::Span<const int32_t>> a = ds->SampleView(Split::kTrain, 2);
  absl::StatusOr<absl::Span<const int32_t>> b = copy.SampleView(Split::kTrain, 2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->data(), b->data());
}

TEST(FillBatchTest, RowsAreInputsAndShiftedTargets) {
  const std::string text = Alphabet(100);
  const std::string path = WriteTemp("batch.txt", text);
  absl::StatusOr<TextDataset> ds =
      TextDataset::Open({.path = path, .context_length = 6, .validation_fraction = 0.2});
  ASSERT_TRUE(ds.ok());
  const std::vector<int64_t> indices = {5, 0, 12};
  absl::StatusOr<Tensor> inputs = Tensor::Zeros({3, 6}, DType::kI32);
  absl::StatusOr<Tensor> targets = Tensor::Zeros({3, 6}, DType::kI32);
  ASSERT_TRUE(inputs.ok() && targets.ok());
  ASSERT_TRUE(FillBatch(*ds, indices, *inputs, *targets).ok());
  for (int b = 0; b < 3; ++b) {
    for (int t = 0; t < 6; ++t) {
      const int64_t at = indices[b] * 6 + t;
      EXPECT_EQ(inputs->data<int32_t>()[b * 6 + t], static_cast<uint8_t>(text[at]));
      EXPECT_EQ(targets->data<int32_t>()[b * 6 + t], static_cast<uint8_t>(text[at + 1]));
    }
  }
  // Validation rows come from the end of the file.
  absl::StatusOr<Batch> val = MakeBatch(*ds, std::vector<int64_t>{1}, Split::kValidation);
  ASSERT_TRUE(val.ok()) << val.status();
  EXPECT_EQ(val->inputs.shape(), (runtime::Shape{1, 6}));
  EXPECT_EQ(val->inputs.data<int32_t>()[0], static_cast<uint8_t>(text[80 + 6]));
  EXPECT_EQ(val->targets.data<int32_t>()[5], static_cast<uint8_t>(text[80 + 12]));
}

TEST(FillBatchTest, StridedTensorsAreFilledRowByRow) {
  const std::string text = Alphabet(100);
  absl::StatusOr<TextDataset> ds = TextDataset::Open(
      {.path = WriteTemp("strided.txt", text), .context_length = 4, .validation_fraction = 0.0});
  ASSERT_TRUE(ds.ok());
  // [2, 4] views that are transposes of [4, 2] tensors: not contiguous.
  absl::StatusOr<Tensor> in_base = Tensor::Zeros({4, 2}, DType::kI32);
  absl::StatusOr<Tensor> tg_base = Tensor::Zeros({4, 2}, DType::kI32);
  ASSERT_TRUE(in_base.ok() && tg_base.ok());
  absl::StatusOr<Tensor> inputs = in_base->Transpose(0, 1);
  absl::StatusOr<Tensor> targets = tg_base->Transpose(0, 1);
  ASSERT_TRUE(inputs.ok() && targets.ok());
  ASSERT_FALSE(inputs->is_contiguous());
  ASSERT_TRUE(FillBatch(*ds, std::vector<int64_t>{3, 7}, *inputs, *targets).ok());
  // Element [b, t] of the view is element [t, b] of the base.
  EXPECT_EQ(in_base->data<int32_t>()[2 * 2 + 1], static_cast<uint8_t>(text[7 * 4 + 2]));
  EXPECT_EQ(tg_base->data<int32_t>()[3 * 2 + 0], static_cast<uint8_t>(text[3 * 4 + 3 + 1]));
}

TEST(FillBatchTest, WrongTensorsAndIndicesAreInvalidArgument) {
  absl::StatusOr<TextDataset> ds = TextDataset::Open({.path = WriteTemp("wrong.txt", Alphabet(100)),
                                                      .context_length = 4,
                                                      .validation_fraction = 0.0});
  ASSERT_TRUE(ds.ok());
  const std::vector<int64_t> indices = {0, 1};
  Tensor undefined;
  absl::StatusOr<Tensor> good = Tensor::Zeros({2, 4}, DType::kI32);
  absl::StatusOr<Tensor> good2 = Tensor::Zeros({2, 4}, DType::kI32);
  absl::StatusOr<Tensor> f32 = Tensor::Zeros({2, 4}, DType::kF32);
  absl::StatusOr<Tensor> wrong_shape = Tensor::Zeros({2, 5}, DType::kI32);
  ASSERT_TRUE(good.ok() && good2.ok() && f32.ok() && wrong_shape.ok());
  EXPECT_EQ(FillBatch(*ds, indices, undefined, *good).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FillBatch(*ds, indices, *good, *f32).code(), absl::StatusCode::kInvalidArgument);
  absl::Status status = FillBatch(*ds, indices, *wrong_shape, *good);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("[2, 4]"), absl::string_view::npos) << status;
  EXPECT_EQ(FillBatch(*ds, std::vector<int64_t>{0, 24}, *good, *good2).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FillBatch(*ds, indices, *good, *good2, Split::kValidation).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TextDatasetTest, ShippedCorpusOpens) {
  absl::StatusOr<TextDataset> ds =
      TextDataset::Open({.path = BRAID_CORPUS_KJV, .context_length = 128});
  ASSERT_TRUE(ds.ok()) << ds.status();
  // The corpus is 4,298,239 bytes (data/corpus/README.md).
  EXPECT_EQ(ds->num_tokens(), 4298239);
  EXPECT_GT(ds->num_train_samples(), 30000);
  EXPECT_GT(ds->num_validation_samples(), 1500);
  absl::StatusOr<Batch> batch = MakeBatch(*ds, std::vector<int64_t>{0});
  ASSERT_TRUE(batch.ok()) << batch.status();
  std::string first;
  for (int t = 0; t < 17; ++t) first.push_back(static_cast<char>(batch->inputs.data<int32_t>()[t]));
  EXPECT_EQ(first, "\nGenesis 1\n\n  1 I");
}

}  // namespace
}  // namespace braid::data
