#include "nn/transformer.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/elementwise.h"
#include "nn/norm.h"
#include "runtime/status_macros.h"

namespace braid::nn {

using runtime::Tensor;

absl::string_view ToString(NormKind kind) {
  switch (kind) {
    case NormKind::kLayerNorm:
      return "layernorm";
    case NormKind::kRMSNorm:
      return "rmsnorm";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<Layer>> MakeNorm(NormKind kind, int64_t dim,
                                                runtime::Device device) {
  switch (kind) {
    case NormKind::kLayerNorm: {
      BRAID_ASSIGN_OR_RETURN(std::unique_ptr<LayerNorm> norm,
                             LayerNorm::Create({.dim = dim, .device = device}));
      return std::unique_ptr<Layer>(std::move(norm));
    }
    case NormKind::kRMSNorm: {
      BRAID_ASSIGN_OR_RETURN(std::unique_ptr<RMSNorm> norm,
                             RMSNorm::Create({.dim = dim, .device = device}));
      return std::unique_ptr<Layer>(std::move(norm));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("MakeNorm: unknown NormKind ", static_cast<int>(kind)));
}

namespace {

// out = a + b in a new tensor (the residual connection).
absl::StatusOr<Tensor> AddNew(const Tensor& a, const Tensor& b, const kernels::Stream& stream) {
  BRAID_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(a.shape(), a.dtype(), a.device()));
  BRAID_RETURN_IF_ERROR(kernels::Add(a, b, out, stream));
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TransformerBlock>> TransformerBlock::Create(
    const TransformerBlockOptions& options) {
  if (options.num_layers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("TransformerBlock: num_layers must be >= 1 (for the scaled init), got ",
                     options.num_layers));
  }
  if (options.mlp_hidden < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TransformerBlock: mlp_hidden must be >= 0 (0 = 4 * dim), got ", options.mlp_hidden));
  }
  if (!(options.dropout >= 0.0f && options.dropout < 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("TransformerBlock: dropout must be in [0, 1), got ", options.dropout));
  }
  const float output_std =
      options.init_std / std::sqrt(2.0f * static_cast<float>(options.num_layers));
  std::unique_ptr<TransformerBlock> block(new TransformerBlock(options));
  BRAID_ASSIGN_OR_RETURN(block->norm1_, MakeNorm(options.norm, options.dim, options.device));
  BRAID_ASSIGN_OR_RETURN(block->attn_, CausalSelfAttention::Create({.dim = options.dim,
                                                                    .num_heads = options.num_heads,
                                                                    .dropout = 0.0f,
                                                                    .bias = true,
                                                                    .init_std = options.init_std,
                                                                    .output_init_std = output_std,
                                                                    .device = options.device}));
  BRAID_ASSIGN_OR_RETURN(block->norm2_, MakeNorm(options.norm, options.dim, options.device));
  BRAID_ASSIGN_OR_RETURN(
      block->mlp_,
      Mlp::Create({.dim = options.dim,
                   .hidden = options.mlp_hidden > 0 ? options.mlp_hidden : 4 * options.dim,
                   .activation = options.activation,
                   .bias = true,
                   .init_std = options.init_std,
                   .output_init_std = output_std,
                   .device = options.device}));
  block->RegisterChild("norm1", block->norm1_.get());
  block->RegisterChild("attn", block->attn_.get());
  block->RegisterChild("norm2", block->norm2_.get());
  block->RegisterChild("mlp", block->mlp_.get());
  if (options.dropout > 0.0f) {
    BRAID_ASSIGN_OR_RETURN(block->drop_attn_, Dropout::Create({.p = options.dropout}));
    BRAID_ASSIGN_OR_RETURN(block->drop_mlp_, Dropout::Create({.p = options.dropout}));
  }
  return block;
}

absl::StatusOr<Tensor> TransformerBlock::Forward(Context& ctx, const Tensor& x) {
  if (!x.defined() || x.ndim() != 3 || x.dim(2) != options_.dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("TransformerBlock::Forward: input must be [B, T, ", options_.dim, "], got ",
                     x.defined() ? x.DebugString() : "an undefined tensor"));
  }
  BRAID_ASSIGN_OR_RETURN(Tensor a, norm1_->Forward(ctx, x));
  BRAID_ASSIGN_OR_RETURN(a, attn_->Forward(ctx, a));
  if (drop_attn_ != nullptr) {
    BRAID_ASSIGN_OR_RETURN(a, drop_attn_->Forward(ctx, a));
  }
  BRAID_ASSIGN_OR_RETURN(Tensor h, AddNew(x, a, ctx.stream()));
  BRAID_ASSIGN_OR_RETURN(Tensor m, norm2_->Forward(ctx, h));
  BRAID_ASSIGN_OR_RETURN(m, mlp_->Forward(ctx, m));
  if (drop_mlp_ != nullptr) {
    BRAID_ASSIGN_OR_RETURN(m, drop_mlp_->Forward(ctx, m));
  }
  // Not in place: norm2 may have saved h for its backward.
  return AddNew(h, m, ctx.stream());
}

absl::StatusOr<Tensor> TransformerBlock::BackwardInput(Context& ctx, const Tensor& dy) {
  // y = h + mlp-branch(h): dh = dy + d(mlp-branch)/dh.
  Tensor g = dy;
  if (drop_mlp_ != nullptr) {
    BRAID_ASSIGN_OR_RETURN(g, drop_mlp_->BackwardInput(ctx, g));
  }
  BRAID_ASSIGN_OR_RETURN(g, mlp_->BackwardInput(ctx, g));
  BRAID_ASSIGN_OR_RETURN(g, norm2_->BackwardInput(ctx, g));
  BRAID_ASSIGN_OR_RETURN(Tensor dh, AddNew(dy, g, ctx.stream()));
  // h = x + attn-branch(x): dx = dh + d(attn-branch)/dx.
  g = dh;
  if (drop_attn_ != nullptr) {
    BRAID_ASSIGN_OR_RETURN(g, drop_attn_->BackwardInput(ctx, g));
  }
  BRAID_ASSIGN_OR_RETURN(g, attn_->BackwardInput(ctx, g));
  BRAID_ASSIGN_OR_RETURN(g, norm1_->BackwardInput(ctx, g));
  // Not in place: the attention's proj keeps dh for its BackwardWeight.
  return AddNew(dh, g, ctx.stream());
}

absl::Status TransformerBlock::BackwardWeight(Context& ctx) {
  if (drop_mlp_ != nullptr) BRAID_RETURN_IF_ERROR(drop_mlp_->BackwardWeight(ctx));
  BRAID_RETURN_IF_ERROR(mlp_->BackwardWeight(ctx));
  BRAID_RETURN_IF_ERROR(norm2_->BackwardWeight(ctx));
  if (drop_attn_ != nullptr) BRAID_RETURN_IF_ERROR(drop_attn_->BackwardWeight(ctx));
  BRAID_RETURN_IF_ERROR(attn_->BackwardWeight(ctx));
  BRAID_RETURN_IF_ERROR(norm1_->BackwardWeight(ctx));
  return absl::OkStatus();
}

}  // namespace braid::nn
