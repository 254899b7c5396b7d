// TextDataset: a text file as fixed-length next-token-prediction samples.
//
// The file is read once, whole, and tokenized with ByteTokenizer (token =
// byte, vocabulary 256). The token sequence is split in two contiguous parts:
//
//   tokens:  [0 ........................ train_tokens)[train_tokens ...... n)
//             train split (first 1 - f of the file)    validation split (last f)
//
// where n = file size, f = validation_fraction and the validation split has
// floor(n * f) tokens. Sample i of a split is the window of T + 1 tokens
// (T = context_length) starting at token i * T of that split: the windows do
// not overlap except that each sample's last token is the next one's first.
//   inputs  = window[0, T)       targets = window[1, T + 1)
// so targets[t] is the token that follows inputs[t]. A split of m tokens has
// floor((m - 1) / T) samples; the tail that does not fill a window is unused.
// Windows never cross from the train split into the validation split.
//
//   BRAID_ASSIGN_OR_RETURN(TextDataset ds, TextDataset::Open({.path = "data/corpus/kjv.txt",
//                                                             .context_length = 128}));
//   BRAID_RETURN_IF_ERROR(FillBatch(ds, sampler_indices, inputs, targets));
//
// Datasets built from tokens of another tokenizer (CharTokenizer) come from
// FromTokens; everything else is the same.
//
// Copying a TextDataset is cheap: copies share the (immutable) tokens.
// Thread-safety: immutable after Open/FromTokens; every const method is safe
// from any number of threads.
// Errors: see Open and FromTokens; sample lookups return kInvalidArgument for
// an index outside [0, num_*_samples()).
#ifndef BRAID_DATA_TEXT_DATASET_H_
#define BRAID_DATA_TEXT_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/tensor.h"

namespace braid::runtime {
class Env;
}  // namespace braid::runtime

namespace braid::data {

// Which part of the data a sample comes from.
enum class Split {
  kTrain,
  kValidation,
};

// "train", "validation".
absl::string_view ToString(Split split);

struct TextDatasetOptions {
  // The text file to read (any bytes; UTF-8 text in practice). Required.
  std::string path;
  // T: tokens per sample input (each sample reads T + 1 tokens). Required, >= 1.
  int64_t context_length = 0;
  // Fraction of the file, taken from its end, that forms the validation
  // split; in [0, 1). 0 gives no validation samples.
  double validation_fraction = 0.05;
  // Where the file is read from; nullptr means runtime::Env::Default().
  runtime::Env* env = nullptr;
};

class TextDataset {
 public:
  // Reads and tokenizes options.path.
  // Errors (each message names the file and says what to do):
  //   kNotFound / kPermissionDenied  the file cannot be opened (errno text);
  //   kInvalidArgument               context_length < 1, validation_fraction
  //                                  outside [0, 1), an empty file, or a file
  //                                  too short for one train sample (or, when
  //                                  validation_fraction > 0, one validation
  //                                  sample) of context_length + 1 tokens.
  static absl::StatusOr<TextDataset> Open(const TextDatasetOptions& options);

  // A dataset over `tokens` (already tokenized; any non-negative ids).
  // options.path is only used in messages; options.env is unused. Errors as
  // Open, with "empty" / "too short" counting tokens.
  static absl::StatusOr<TextDataset> FromTokens(std::vector<int32_t> tokens,
                                                const TextDatasetOptions& options);

  int64_t context_length() const { return context_length_; }
  // Tokens in the whole file and in each split.
  int64_t num_tokens() const { return static_cast<int64_t>(tokens_->size()); }
  int64_t num_train_tokens() const { return train_tokens_; }
  int64_t num_validation_tokens() const { return num_tokens() - train_tokens_; }

  int64_t num_train_samples() const { return num_train_samples_; }
  int64_t num_validation_samples() const { return num_validation_samples_; }
  int64_t num_samples(Split split) const {
    return split == Split::kTrain ? num_train_samples_ : num_validation_samples_;
  }

  // Copies the context_length + 1 tokens of train sample `i` into
  // tokens[0, context_length]. REQUIRES: `tokens` holds context_length + 1
  // values. kInvalidArgument for i outside [0, num_train_samples()) or a null
  // pointer.
  absl::Status TrainSample(int64_t i, int32_t* tokens) const;
  // The same for validation sample `i`.
  absl::Status ValidationSample(int64_t i, int32_t* tokens) const;
  // The same for sample `i` of `split`.
  absl::Status Sample(Split split, int64_t i, int32_t* tokens) const;

  // The window of sample `i` of `split` without a copy (valid while any copy
  // of this dataset lives). kInvalidArgument as Sample.
  absl::StatusOr<absl::Span<const int32_t>> SampleView(Split split, int64_t i) const;

  // The name given in the options (for messages).
  const std::string& path() const { return path_; }

 private:
  TextDataset() = default;

  std::string path_;
  std::shared_ptr<const std::vector<int32_t>> tokens_;
  int64_t context_length_ = 0;
  int64_t train_tokens_ = 0;
  int64_t num_train_samples_ = 0;
  int64_t num_validation_samples_ = 0;
};

// Fills a batch: row b of `inputs` / `targets` is the inputs / targets of
// sample indices[b] of `split`.
// REQUIRES: inputs and targets are defined int32 tensors of shape [B, T] with
// B = indices.size() and T = dataset.context_length(), on any device (a GPU
// tensor is filled through a host copy). Rows are written whatever the
// tensors' strides.
// Errors: kInvalidArgument for a wrong dtype/shape (the message gives the
// expected one) or an index outside the split; errors of Tensor::CopyFrom for
// a device copy. On error the tensors' contents are unspecified.
absl::Status FillBatch(const TextDataset& dataset, absl::Span<const int64_t> indices,
                       runtime::Tensor& inputs, runtime::Tensor& targets,
                       Split split = Split::kTrain);

// New CPU int32 tensors [indices.size(), T] filled by FillBatch.
struct Batch {
  runtime::Tensor inputs;
  runtime::Tensor targets;
};
absl::StatusOr<Batch> MakeBatch(const TextDataset& dataset, absl::Span<const int64_t> indices,
                                Split split = Split::kTrain);

}  // namespace braid::data

#endif  // BRAID_DATA_TEXT_DATASET_H_
