// Embedding: token ids -> rows of a learned table.
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::Embedding> wte,
//                          nn::Embedding::Create({.num_embeddings = 50304, .dim = 768}));
//   BRAID_RETURN_IF_ERROR(wte->Initialize(seed));          // weight ~ N(0, init_std)
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor h, wte->Forward(ctx, ids));   // ids [B, T] i32
//   ...
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor none, wte->BackwardInput(ctx, dh));  // undefined
//   BRAID_RETURN_IF_ERROR(wte->BackwardWeight(ctx));       // weight.grad[ids] += dh
//
// Parameter: "weight" [num_embeddings, dim] (weight decay, as GPT-2 and
// nanoGPT treat the tied token embedding).
//
// Shapes: ids are i32 (or i64) of any shape S; the output and its gradient
// are [S..., dim]. Ids have no gradient: BackwardInput returns an undefined
// Tensor. DTypes: the output has weight().compute's dtype. Under mixed
// precision the output gradient is cast to f32 and scatter-added straight into
// the f32 grad (no [num_embeddings, dim] temporary).
//
// Ids outside [0, num_embeddings): kInvalidArgument on the CPU; on CUDA
// (where ids are not read back) the row is zeros and its gradient is dropped
// (kernels/embedding.h). Determinism: the CPU backward adds rows in id-position
// order; CUDA uses atomics.
//
// Saved per microbatch: the ids after Forward; ids and the output gradient
// after BackwardInput; nothing after BackwardWeight. These are references,
// not copies: do not overwrite them before BackwardWeight.
//
// Errors: kInvalidArgument (naming "Embedding") for wrong dtypes, shapes or
// devices; kFailedPrecondition for a backward out of order (nn/layer.h).
// Thread-safety: one thread at a time.
#ifndef BRAID_NN_EMBEDDING_H_
#define BRAID_NN_EMBEDDING_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nn/context.h"
#include "nn/layer.h"
#include "nn/parameter.h"
#include "runtime/device.h"
#include "runtime/tensor.h"

namespace braid::nn {

struct EmbeddingOptions {
  // Rows of the table (the vocabulary size); >= 1.
  int64_t num_embeddings = 0;
  // Width of a row; >= 1.
  int64_t dim = 0;
  // Standard deviation of the normal initialisation (default 0.02, GPT-2).
  float init_std = 0.02f;
  // Where the table lives (default CPU).
  runtime::Device device = runtime::Device::Cpu();
};

class Embedding : public Layer {
 public:
  // kInvalidArgument for sizes < 1 or init_std < 0.
  static absl::StatusOr<std::unique_ptr<Embedding>> Create(const EmbeddingOptions& options);

  absl::StatusOr<runtime::Tensor> Forward(Context& ctx, const runtime::Tensor& ids) override;
  // Returns an undefined Tensor (ids have no gradient).
  absl::StatusOr<runtime::Tensor> BackwardInput(Context& ctx, const runtime::Tensor& dy) override;
  absl::Status BackwardWeight(Context& ctx) override;
  absl::string_view kind() const override { return "Embedding"; }

  const EmbeddingOptions& options() const { return options_; }
  Parameter& weight() { return weight_; }

 protected:
  absl::Status InitializeParameter(absl::string_view name, Parameter& parameter, uint64_t seed,
                                   uint64_t stream) override;

 private:
  explicit Embedding(const EmbeddingOptions& options) : options_(options) {}

  EmbeddingOptions options_;
  Parameter weight_;
};

}  // namespace braid::nn

#endif  // BRAID_NN_EMBEDDING_H_
