// TransformerBlock: one pre-norm transformer layer (GPT-2 / LLaMA shape).
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::TransformerBlock> block,
//                          nn::TransformerBlock::Create({.dim = 768, .num_heads = 12,
//                                                        .num_layers = 12}));
//   BRAID_ASSIGN_OR_RETURN(Tensor y, block->Forward(ctx, x));   // [B, T, D] -> [B, T, D]
//
// Computation:
//   h = x + Dropout(Attn(Norm1(x)))       children "norm1", "attn"
//   y = h + Dropout(Mlp(Norm2(h)))        children "norm2", "mlp"
// Norm is LayerNorm (GPT-2) or RMSNorm (LLaMA); Mlp is GELU (fc1 D -> hidden,
// fc2 hidden -> D) or SwiGLU. Parameter names, in order: norm1.*,
// attn.qkv.*, attn.proj.*, norm2.*, mlp.fc1.*, mlp.fc2.*.
//
// Init (GPT-2): every Linear weight N(0, init_std); the two projections that
// write into the residual stream (attn.proj and mlp.fc2) use
// init_std / sqrt(2 * num_layers), so the residual's variance does not grow
// with depth. Biases 0, norm gains 1.
//
// Dropout uses the Context's Philox stream (two draws per block per
// microbatch, after the attention and after the MLP), so a microbatch gets
// the same masks whatever else is in flight.
//
// Split backward: BackwardInput runs every child's BackwardInput in reverse
// (the residual gradients are added here); BackwardWeight runs every child's
// BackwardWeight in reverse (mlp, norm2, attn, norm1), each calling
// ctx.GradientReady for its parameters. The block saves nothing itself.
//
// Thread-safety: as every Layer, one thread at a time. Errors: kInvalidArgument
// for bad options or an input that is not [B, T, dim]; kFailedPrecondition
// for a backward without its forward (reported by the child that finds
// nothing saved).
#ifndef BRAID_NN_TRANSFORMER_H_
#define BRAID_NN_TRANSFORMER_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nn/attention.h"
#include "nn/context.h"
#include "nn/dropout.h"
#include "nn/layer.h"
#include "nn/mlp.h"
#include "runtime/device.h"
#include "runtime/tensor.h"

namespace braid::nn {

enum class NormKind { kLayerNorm, kRMSNorm };

// "layernorm" or "rmsnorm".
absl::string_view ToString(NormKind kind);

struct TransformerBlockOptions {
  // Model width D; must be divisible by num_heads.
  int64_t dim = 0;
  // Attention heads.
  int64_t num_heads = 0;
  // MLP hidden width; 0 (default) means 4 * dim.
  int64_t mlp_hidden = 0;
  // MLP activation. Default GELU (GPT-2).
  MlpActivation activation = MlpActivation::kGelu;
  // Normalisation. Default LayerNorm (GPT-2).
  NormKind norm = NormKind::kLayerNorm;
  // Dropout after the attention and after the MLP, in [0, 1). Default 0.
  float dropout = 0.0f;
  // Standard deviation of the Linear weights' init. Default 0.02.
  float init_std = 0.02f;
  // Layers in the model, for GPT-2's scaled init of the output projections:
  // std = init_std / sqrt(2 * num_layers). Default 1.
  int num_layers = 1;
  // Where the parameters live.
  runtime::Device device = runtime::Device::Cpu();
};

class TransformerBlock : public Layer {
 public:
  // Creates the block with zero parameters (call Initialize or load them).
  // kInvalidArgument for bad options; allocation errors pass through.
  static absl::StatusOr<std::unique_ptr<TransformerBlock>> Create(
      const TransformerBlockOptions& options);

  // x: [B, T, dim] of the compute dtype -> [B, T, dim].
  absl::StatusOr<runtime::Tensor> Forward(Context& ctx, const runtime::Tensor& x) override;
  absl::StatusOr<runtime::Tensor> BackwardInput(Context& ctx, const runtime::Tensor& dy) override;
  absl::Status BackwardWeight(Context& ctx) override;

  absl::string_view kind() const override { return "TransformerBlock"; }

  const TransformerBlockOptions& options() const { return options_; }
  Layer& norm1() { return *norm1_; }
  CausalSelfAttention& attn() { return *attn_; }
  Layer& norm2() { return *norm2_; }
  Mlp& mlp() { return *mlp_; }

 private:
  explicit TransformerBlock(const TransformerBlockOptions& options) : options_(options) {}

  TransformerBlockOptions options_;
  std::unique_ptr<Layer> norm1_;
  std::unique_ptr<CausalSelfAttention> attn_;
  std::unique_ptr<Layer> norm2_;
  std::unique_ptr<Mlp> mlp_;
  std::unique_ptr<Dropout> drop_attn_;  // null when options_.dropout == 0
  std::unique_ptr<Dropout> drop_mlp_;   // null when options_.dropout == 0
};

// A LayerNorm or RMSNorm of width `dim` on `device` (the block's and the
// GPT's final norm).
absl::StatusOr<std::unique_ptr<Layer>> MakeNorm(NormKind kind, int64_t dim, runtime::Device device);

}  // namespace braid::nn

#endif  // BRAID_NN_TRANSFORMER_H_
