#include "nn/gpt.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/elementwise.h"
#include "runtime/philox.h"
#include "runtime/status_macros.h"

namespace braid::nn {

using runtime::DType;
using runtime::Tensor;

absl::StatusOr<std::unique_ptr<Gpt>> Gpt::Create(const GptOptions& options) {
  if (options.vocab_size <= 0 || options.context_length <= 0 || options.num_layers < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Gpt: vocab_size (", options.vocab_size, ") and context_length (", options.context_length,
        ") must be > 0 and num_layers (", options.num_layers, ") >= 1"));
  }
  if (!(options.dropout >= 0.0f && options.dropout < 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Gpt: dropout must be in [0, 1), got ", options.dropout));
  }
  std::unique_ptr<Gpt> gpt(new Gpt(options));
  BRAID_ASSIGN_OR_RETURN(gpt->wte_, Embedding::Create({.num_embeddings = options.vocab_size,
                                                       .dim = options.dim,
                                                       .init_std = options.init_std,
                                                       .device = options.device}));
  BRAID_ASSIGN_OR_RETURN(gpt->wpe_, Embedding::Create({.num_embeddings = options.context_length,
                                                       .dim = options.dim,
                                                       .init_std = options.init_std,
                                                       .device = options.device}));
  gpt->RegisterChild("wte", gpt->wte_.get());
  gpt->RegisterChild("wpe", gpt->wpe_.get());
  if (options.dropout > 0.0f) {
    BRAID_ASSIGN_OR_RETURN(gpt->drop_, Dropout::Create({.p = options.dropout}));
  }
  for (int i = 0; i < options.num_layers; ++i) {
    BRAID_ASSIGN_OR_RETURN(std::unique_ptr<TransformerBlock> block,
                           TransformerBlock::Create({.dim = options.dim,
                                                     .num_heads = options.num_heads,
                                                     .mlp_hidden = options.mlp_hidden,
                                                     .activation = options.activation,
                                                     .norm = options.norm,
                                                     .dropout = options.dropout,
                                                     .init_std = options.init_std,
                                                     .num_layers = options.num_layers,
                                                     .device = options.device}));
    gpt->RegisterChild(absl::StrCat("blocks.", i), block.get());
    gpt->blocks_.push_back(std::move(block));
  }
  BRAID_ASSIGN_OR_RETURN(gpt->norm_f_, MakeNorm(options.norm, options.dim, options.device));
  BRAID_ASSIGN_OR_RETURN(gpt->lm_head_, Linear::Create({.in_features = options.dim,
                                                        .out_features = options.vocab_size,
                                                        .bias = false,
                                                        .init_std = options.init_std,
                                                        .device = options.device}));
  gpt->RegisterChild("norm_f", gpt->norm_f_.get());
  gpt->RegisterChild("lm_head", gpt->lm_head_.get());
  return gpt;
}

absl::StatusOr<Tensor> Gpt::Forward(Context& ctx, const Tensor& tokens) {
  if (!tokens.defined() || tokens.dtype() != DType::kI32 || tokens.ndim() != 2 ||
      tokens.dim(0) < 1 || tokens.dim(1) < 1 || tokens.dim(1) > options_.context_length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Gpt::Forward: tokens must be i32 [B, T] with B >= 1 and 1 <= T <= context_length (",
        options_.context_length, "), got ",
        tokens.defined() ? tokens.DebugString() : "an undefined tensor"));
  }
  const int64_t batch = tokens.dim(0), seq = tokens.dim(1);
  if (!positions_.defined() || positions_.dim(0) != batch || positions_.dim(1) != seq) {
    std::vector<int32_t> positions(static_cast<size_t>(batch * seq));
    for (int64_t i = 0; i < batch * seq; ++i) positions[i] = static_cast<int32_t>(i % seq);
    BRAID_ASSIGN_OR_RETURN(Tensor pos, Tensor::FromVector(positions, {batch, seq}));
    if (!options_.device.is_cpu()) {
      BRAID_ASSIGN_OR_RETURN(pos, pos.To(options_.device));
    }
    positions_ = std::move(pos);
  }
  BRAID_ASSIGN_OR_RETURN(Tensor h, wte_->Forward(ctx, tokens));
  BRAID_ASSIGN_OR_RETURN(Tensor p, wpe_->Forward(ctx, positions_));
  // h is a fresh output of the embedding, which saves only the ids.
  BRAID_RETURN_IF_ERROR(kernels::Add(h, p, h, ctx.stream()));
  if (drop_ != nullptr) {
    BRAID_ASSIGN_OR_RETURN(h, drop_->Forward(ctx, h));
  }
  for (std::unique_ptr<TransformerBlock>& block : blocks_) {
    BRAID_ASSIGN_OR_RETURN(h, block->Forward(ctx, h));
  }
  BRAID_ASSIGN_OR_RETURN(h, norm_f_->Forward(ctx, h));
  return lm_head_->Forward(ctx, h);
}

absl::StatusOr<Tensor> Gpt::BackwardInput(Context& ctx, const Tensor& dlogits) {
  BRAID_ASSIGN_OR_RETURN(Tensor g, lm_head_->BackwardInput(ctx, dlogits));
  BRAID_ASSIGN_OR_RETURN(g, norm_f_->BackwardInput(ctx, g));
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {
    BRAID_ASSIGN_OR_RETURN(g, (*it)->BackwardInput(ctx, g));
  }
  if (drop_ != nullptr) {
    BRAID_ASSIGN_OR_RETURN(g, drop_->BackwardInput(ctx, g));
  }
  // Both embeddings receive the same gradient (h = wte[tokens] + wpe[pos]).
  BRAID_RETURN_IF_ERROR(wpe_->BackwardInput(ctx, g).status());
  BRAID_RETURN_IF_ERROR(wte_->BackwardInput(ctx, g).status());
  // Built in place: moving an empty Tensor trips gcc 12's -Wmaybe-uninitialized.
  return absl::StatusOr<Tensor>(absl::in_place);
}

absl::Status Gpt::BackwardWeight(Context& ctx) {
  BRAID_RETURN_IF_ERROR(lm_head_->BackwardWeight(ctx));
  BRAID_RETURN_IF_ERROR(norm_f_->BackwardWeight(ctx));
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {
    BRAID_RETURN_IF_ERROR((*it)->BackwardWeight(ctx));
  }
  if (drop_ != nullptr) BRAID_RETURN_IF_ERROR(drop_->BackwardWeight(ctx));
  BRAID_RETURN_IF_ERROR(wpe_->BackwardWeight(ctx));
  BRAID_RETURN_IF_ERROR(wte_->BackwardWeight(ctx));
  return absl::OkStatus();
}

absl::StatusOr<Tensor> Gpt::Backward(Context& ctx, const Tensor& dlogits) {
  BRAID_ASSIGN_OR_RETURN(Tensor g, lm_head_->Backward(ctx, dlogits));
  BRAID_ASSIGN_OR_RETURN(g, norm_f_->Backward(ctx, g));
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {
    BRAID_ASSIGN_OR_RETURN(g, (*it)->Backward(ctx, g));
  }
  if (drop_ != nullptr) {
    BRAID_ASSIGN_OR_RETURN(g, drop_->Backward(ctx, g));
  }
  BRAID_RETURN_IF_ERROR(wpe_->Backward(ctx, g).status());
  BRAID_RETURN_IF_ERROR(wte_->Backward(ctx, g).status());
  return absl::StatusOr<Tensor>(absl::in_place);
}

absl::StatusOr<std::vector<int32_t>> Gpt::Generate(const std::vector<int32_t>& prompt,
                                                   int max_new_tokens, float temperature,
                                                   uint64_t seed) {
  if (prompt.empty() || max_new_tokens < 0 || !(temperature >= 0.0f) ||
      !std::isfinite(temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Gpt::Generate: need a non-empty prompt (got ", prompt.size(),
                     " tokens), max_new_tokens >= 0 (got ", max_new_tokens,
                     ") and a finite temperature >= 0 (got ", temperature, ")"));
  }
  for (int32_t id : prompt) {
    if (id < 0 || id >= options_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("Gpt::Generate: prompt token ", id,
                                                     " is outside [0, ", options_.vocab_size, ")"));
    }
  }
  std::vector<int32_t> text = prompt;
  std::vector<int32_t> generated;
  generated.reserve(static_cast<size_t>(max_new_tokens));
  for (int step = 0; step < max_new_tokens; ++step) {
    const int64_t seq =
        std::min<int64_t>(static_cast<int64_t>(text.size()), options_.context_length);
    std::vector<int32_t> window(text.end() - seq, text.end());
    BRAID_ASSIGN_OR_RETURN(Tensor tokens, Tensor::FromVector(window, {1, seq}));
    if (!options_.device.is_cpu()) {
      BRAID_ASSIGN_OR_RETURN(tokens, tokens.To(options_.device));
    }
    Context ctx({.training = false, .gemm_context = &gemm_context_});
    BRAID_ASSIGN_OR_RETURN(Tensor logits, Forward(ctx, tokens));
    BRAID_ASSIGN_OR_RETURN(Tensor last, logits.Select(0, 0));
    BRAID_ASSIGN_OR_RETURN(last, last.Select(0, seq - 1));
    BRAID_ASSIGN_OR_RETURN(std::vector<double> row, runtime::ToDoubleVector(last));
    int32_t next = 0;
    if (temperature == 0.0f) {
      for (size_t v = 1; v < row.size(); ++v) {
        if (row[v] > row[next]) next = static_cast<int32_t>(v);
      }
    } else {
      const double max = *std::max_element(row.begin(), row.end());
      double total = 0.0;
      for (double& x : row) {
        x = std::exp((x - max) / temperature);
        total += x;
      }
      if (!std::isfinite(total) || total <= 0.0) {
        return absl::InvalidArgumentError(
            absl::StrCat("Gpt::Generate: non-finite logits at step ", step,
                         "; the parameters hold NaN/Inf (check training) "));
      }
      const double u =
          runtime::PhiloxUniformAt(seed, /*stream=*/0, static_cast<uint64_t>(step), 0) * total;
      double cumulative = 0.0;
      next = static_cast<int32_t>(row.size() - 1);
      for (size_t v = 0; v < row.size(); ++v) {
        cumulative += row[v];
        if (u < cumulative) {
          next = static_cast<int32_t>(v);
          break;
        }
      }
    }
    text.push_back(next);
    generated.push_back(next);
  }
  return generated;
}

}  // namespace braid::nn
