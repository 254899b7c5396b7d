#include "data/text_dataset.h"

#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "data/tokenizer.h"
#include "runtime/env.h"
#include "runtime/status_macros.h"

namespace braid::data {
namespace {

// Samples of T + 1 tokens starting every T tokens in a split of m tokens.
int64_t SamplesIn(int64_t m, int64_t t) { return m >= t + 1 ? (m - 1) / t : 0; }

absl::Status CheckBatchTensor(const runtime::Tensor& tensor, absl::string_view name, int64_t batch,
                              int64_t context_length) {
  const runtime::Shape expected = {batch, context_length};
  if (!tensor.defined() || tensor.dtype() != runtime::DType::kI32 || tensor.shape() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FillBatch: ", name, " is ", tensor.defined() ? tensor.DebugString() : "undefined",
        "; expected an int32 tensor of shape ", runtime::ShapeToString(expected),
        " (batch = number of indices, context_length of the dataset)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view ToString(Split split) {
  switch (split) {
    case Split::kTrain:
      return "train";
    case Split::kValidation:
      return "validation";
  }
  return "unknown";
}

absl::StatusOr<TextDataset> TextDataset::Open(const TextDatasetOptions& options) {
  runtime::Env* env = options.env != nullptr ? options.env : runtime::Env::Default();
  absl::StatusOr<std::string> contents = env->ReadFile(options.path);
  if (!contents.ok()) {
    return absl::Status(
        contents.status().code(),
        absl::StrCat("TextDataset: cannot read the text file: ", contents.status().message(),
                     "; pass the path of a text file (the shipped corpus is "
                     "data/corpus/kjv.txt)"));
  }
  if (contents->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("TextDataset: '", options.path, "' is empty; pass a text file with content"));
  }
  std::vector<int32_t> tokens = ByteTokenizer().Encode(*contents);
  contents->clear();
  contents->shrink_to_fit();
  return FromTokens(std::move(tokens), options);
}

absl::StatusOr<TextDataset> TextDataset::FromTokens(std::vector<int32_t> tokens,
                                                    const TextDatasetOptions& options) {
  const int64_t t = options.context_length;
  const double f = options.validation_fraction;
  if (t < 1) {
    return absl::InvalidArgumentError(absl::StrCat("TextDataset: context_length is ", t, " for '",
                                                   options.path, "'; it must be >= 1"));
  }
  if (!(f >= 0.0 && f < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("TextDataset: validation_fraction is ", f,
                                                   " for '", options.path,
                                                   "'; it must be in [0, 1)"));
  }
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("TextDataset: '", options.path, "' has no tokens; pass a non-empty text"));
  }
  const int64_t validation_tokens = static_cast<int64_t>(std::floor(static_cast<double>(n) * f));
  const int64_t train_tokens = n - validation_tokens;
  if (SamplesIn(train_tokens, t) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TextDataset: '", options.path, "' has ", n, " tokens, of which the train split gets ",
        train_tokens, "; one sample needs context_length + 1 = ", t + 1,
        " tokens; use a longer text or a smaller context_length"));
  }
  if (f > 0.0 && SamplesIn(validation_tokens, t) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TextDataset: '", options.path, "' has ", n,
        " tokens, of which the validation split (validation_fraction ", f, ") gets ",
        validation_tokens, "; one sample needs context_length + 1 = ", t + 1,
        " tokens; use a longer text, a larger validation_fraction, a smaller context_length, "
        "or validation_fraction = 0 for no validation"));
  }
  TextDataset dataset;
  dataset.path_ = options.path;
  dataset.context_length_ = t;
  dataset.train_tokens_ = train_tokens;
  dataset.num_train_samples_ = SamplesIn(train_tokens, t);
  dataset.num_validation_samples_ = SamplesIn(validation_tokens, t);
  dataset.tokens_ = std::make_shared<const std::vector<int32_t>>(std::move(tokens));
  return dataset;
}

absl::StatusOr<absl::Span<const int32_t>> TextDataset::SampleView(Split split, int64_t i) const {
  const int64_t count = num_samples(split);
  if (i < 0 || i >= count) {
    return absl::InvalidArgumentError(absl::StrCat("TextDataset: ", ToString(split), " sample ", i,
                                                   " of '", path_, "' is outside [0, ", count,
                                                   ")"));
  }
  const int64_t base = split == Split::kTrain ? 0 : train_tokens_;
  return absl::Span<const int32_t>(tokens_->data() + base + i * context_length_,
                                   static_cast<size_t>(context_length_ + 1));
}

absl::Status TextDataset::Sample(Split split, int64_t i, int32_t* tokens) const {
  if (tokens == nullptr) {
    return absl::InvalidArgumentError("TextDataset: the output pointer is null");
  }
  BRAID_ASSIGN_OR_RETURN(absl::Span<const int32_t> window, SampleView(split, i));
  std::memcpy(tokens, window.data(), window.size() * sizeof(int32_t));
  return absl::OkStatus();
}

absl::Status TextDataset::TrainSample(int64_t i, int32_t* tokens) const {
  return Sample(Split::kTrain, i, tokens);
}

absl::Status TextDataset::ValidationSample(int64_t i, int32_t* tokens) const {
  return Sample(Split::kValidation, i, tokens);
}

absl::Status FillBatch(const TextDataset& dataset, absl::Span<const int64_t> indices,
                       runtime::Tensor& inputs, runtime::Tensor& targets, Split split) {
  const int64_t batch = static_cast<int64_t>(indices.size());
  const int64_t t = dataset.context_length();
  BRAID_RETURN_IF_ERROR(CheckBatchTensor(inputs, "inputs", batch, t));
  BRAID_RETURN_IF_ERROR(CheckBatchTensor(targets, "targets", batch, t));
  const bool direct = inputs.device().is_cpu() && inputs.is_contiguous() &&
                      targets.device().is_cpu() && targets.is_contiguous();
  runtime::Tensor host_inputs = inputs;
  runtime::Tensor host_targets = targets;
  if (!direct) {
    BRAID_ASSIGN_OR_RETURN(host_inputs, runtime::Tensor::Empty({batch, t}, runtime::DType::kI32));
    BRAID_ASSIGN_OR_RETURN(host_targets, runtime::Tensor::Empty({batch, t}, runtime::DType::kI32));
  }
  int32_t* in = host_inputs.data<int32_t>();
  int32_t* out = host_targets.data<int32_t>();
  for (int64_t b = 0; b < batch; ++b) {
    BRAID_ASSIGN_OR_RETURN(absl::Span<const int32_t> window, dataset.SampleView(split, indices[b]));
    std::memcpy(in + b * t, window.data(), t * sizeof(int32_t));
    std::memcpy(out + b * t, window.data() + 1, t * sizeof(int32_t));
  }
  if (!direct) {
    BRAID_RETURN_IF_ERROR(inputs.CopyFrom(host_inputs));
    BRAID_RETURN_IF_ERROR(targets.CopyFrom(host_targets));
  }
  return absl::OkStatus();
}

absl::StatusOr<Batch> MakeBatch(const TextDataset& dataset, absl::Span<const int64_t> indices,
                                Split split) {
  const int64_t batch = static_cast<int64_t>(indices.size());
  const int64_t t = dataset.context_length();
  Batch result;
  BRAID_ASSIGN_OR_RETURN(result.inputs, runtime::Tensor::Empty({batch, t}, runtime::DType::kI32));
  BRAID_ASSIGN_OR_RETURN(result.targets, runtime::Tensor::Empty({batch, t}, runtime::DType::kI32));
  BRAID_RETURN_IF_ERROR(FillBatch(dataset, indices, result.inputs, result.targets, split));
  return result;
}

}  // namespace braid::data
