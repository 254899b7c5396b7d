// Gpt: a GPT-2 style decoder-only language model built from nn/ layers.
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::Gpt> gpt,
//                          nn::Gpt::Create({.vocab_size = 50304, .context_length = 1024,
//                                           .dim = 768, .num_layers = 12, .num_heads = 12}));
//   BRAID_RETURN_IF_ERROR(gpt->Initialize(seed));
//   nn::Context ctx;
//   BRAID_ASSIGN_OR_RETURN(Tensor logits, gpt->Forward(ctx, tokens));  // i32 [B, T] -> [B, T, V]
//   BRAID_ASSIGN_OR_RETURN(float loss, ce.Forward(ctx, logits, targets));
//   BRAID_ASSIGN_OR_RETURN(Tensor dlogits, ce.Backward(ctx));
//   BRAID_RETURN_IF_ERROR(gpt->Backward(ctx, dlogits).status());
//   BRAID_ASSIGN_OR_RETURN(std::vector<int32_t> text, gpt->Generate(prompt, 50, 0.8f, seed));
//
// Computation:
//   h = Dropout(wte[tokens] + wpe[0..T))         children "wte", "wpe"
//   h = blocks.i(h) for i in [0, num_layers)     children "blocks.<i>" (TransformerBlock)
//   logits = lm_head(norm_f(h))                  children "norm_f", "lm_head" (no bias)
// The LM head is its own [V, D] matrix (no weight tying with wte), so a
// pipeline can place the embedding and the head on different stages.
//
// Parameter names, in registration (= creation) order: wte.weight,
// wpe.weight, blocks.<i>.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1,
// mlp.fc2}.*, norm_f.*, lm_head.weight. Count with GELU and LayerNorm:
//   2 V D + C D + L (12 D^2 + 13 D) + 2 D     (V vocab, C context, L layers).
// Init (GPT-2): embeddings and Linear weights N(0, init_std), the residual
// projections init_std / sqrt(2 L), biases 0, norm gains 1.
//
// Pipeline stages use the pieces: token_embedding(), position_embedding(),
// num_blocks() / block(i), final_norm() and lm_head(); Forward here runs them
// all in order in one Context.
//
// Split backward: BackwardInput goes from dlogits down to the embeddings and
// returns an undefined Tensor (token ids have no gradient); BackwardWeight
// runs every child's BackwardWeight from the head down to the embeddings, so
// gradients become ready roughly in reverse registration order.
//
// Thread-safety: as every Layer, one thread at a time (Generate included).
// Errors: kInvalidArgument for bad options, tokens that are not i32 [B, T]
// with 1 <= T <= context_length, or token ids outside [0, vocab_size)
// (reported by the embedding); kFailedPrecondition for a backward without its
// forward.
#ifndef BRAID_NN_GPT_H_
#define BRAID_NN_GPT_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kernels/gemm.h"
#include "nn/context.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/layer.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/transformer.h"
#include "runtime/device.h"
#include "runtime/tensor.h"

namespace braid::nn {

struct GptOptions {
  // Vocabulary size V (> 0).
  int64_t vocab_size = 0;
  // Longest sequence C the model accepts (rows of wpe, > 0).
  int64_t context_length = 0;
  // Model width D; divisible by num_heads.
  int64_t dim = 0;
  // Transformer blocks L (>= 1).
  int num_layers = 0;
  // Attention heads per block.
  int64_t num_heads = 0;
  // MLP hidden width; 0 (default) means 4 * dim.
  int64_t mlp_hidden = 0;
  // MLP activation. Default GELU (GPT-2).
  MlpActivation activation = MlpActivation::kGelu;
  // Normalisation of the blocks and the final norm. Default LayerNorm.
  NormKind norm = NormKind::kLayerNorm;
  // Dropout on the embeddings and in every block, in [0, 1). Default 0.
  float dropout = 0.0f;
  // Where the parameters live.
  runtime::Device device = runtime::Device::Cpu();
  // Standard deviation of the embedding and Linear weights' init. Default 0.02.
  float init_std = 0.02f;
};

class Gpt : public Layer {
 public:
  // Creates the model with zero parameters (call Initialize or load a
  // checkpoint). kInvalidArgument for bad options; allocation errors pass
  // through.
  static absl::StatusOr<std::unique_ptr<Gpt>> Create(const GptOptions& options);

  // tokens: i32 [B, T] on the parameters' device, 1 <= T <= context_length.
  // Returns logits [B, T, vocab_size] in the compute dtype.
  absl::StatusOr<runtime::Tensor> Forward(Context& ctx, const runtime::Tensor& tokens) override;
  // dlogits [B, T, V] -> an undefined Tensor (tokens have no gradient).
  absl::StatusOr<runtime::Tensor> BackwardInput(Context& ctx,
                                                const runtime::Tensor& dlogits) override;
  absl::Status BackwardWeight(Context& ctx) override;
  // Child by child: each child's Backward in reverse order.
  absl::StatusOr<runtime::Tensor> Backward(Context& ctx, const runtime::Tensor& dy) override;

  // Continues `prompt` by `max_new_tokens` sampled tokens and returns them
  // (the new tokens only). Each step runs Forward in a training=false
  // Context over the last context_length tokens (recomputed every step, no
  // KV cache). temperature == 0: greedy (argmax, lowest id on ties);
  // temperature > 0: sampling from softmax(logits / temperature) with
  // Philox(seed, stream 0, offset = step), so the output is a pure function of
  // (parameters, prompt, temperature, seed).
  // REQUIRES: prompt non-empty with ids in [0, vocab_size); max_new_tokens >= 0;
  // temperature >= 0 (kInvalidArgument otherwise).
  absl::StatusOr<std::vector<int32_t>> Generate(const std::vector<int32_t>& prompt,
                                                int max_new_tokens, float temperature,
                                                uint64_t seed);

  absl::string_view kind() const override { return "Gpt"; }

  const GptOptions& options() const { return options_; }
  Embedding& token_embedding() { return *wte_; }
  Embedding& position_embedding() { return *wpe_; }
  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  // REQUIRES: 0 <= i < num_blocks().
  TransformerBlock& block(int i) { return *blocks_[i]; }
  Layer& final_norm() { return *norm_f_; }
  Linear& lm_head() { return *lm_head_; }

 private:
  explicit Gpt(const GptOptions& options) : options_(options) {}

  GptOptions options_;
  std::unique_ptr<Embedding> wte_;
  std::unique_ptr<Embedding> wpe_;
  std::unique_ptr<Dropout> drop_;  // null when options_.dropout == 0
  std::vector<std::unique_ptr<TransformerBlock>> blocks_;
  std::unique_ptr<Layer> norm_f_;
  std::unique_ptr<Linear> lm_head_;
  // Position ids [B, T] (row b is 0..T-1) on the parameters' device, kept
  // for the last shape so that steady training copies nothing to the device.
  // Never written after creation (the embedding saves it for its backward).
  runtime::Tensor positions_;
  // cuBLAS handles for Generate's contexts (unused on the CPU).
  kernels::GemmContext gemm_context_;
};

}  // namespace braid::nn

#endif  // BRAID_NN_GPT_H_
