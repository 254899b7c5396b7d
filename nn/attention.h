// CausalSelfAttention: multi-head causal self-attention, GPT-2 style.
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::CausalSelfAttention> attn,
//                          nn::CausalSelfAttention::Create({.dim = 768, .num_heads = 12}));
//   BRAID_RETURN_IF_ERROR(attn->Initialize(seed));
//   nn::Context ctx;
//   BRAID_ASSIGN_OR_RETURN(Tensor y, attn->Forward(ctx, x));          // x, y: [B, T, D]
//   BRAID_ASSIGN_OR_RETURN(Tensor dx, attn->BackwardInput(ctx, dy));  // B
//   BRAID_RETURN_IF_ERROR(attn->BackwardWeight(ctx));                 // W
//
// Computation (H heads of size Dh = D / H):
//   qkv = x Wqkv^T + bqkv                         child "qkv"  (Linear D -> 3D)
//   q, k, v = split(qkv) into [B, H, T, Dh] each  (qkv's last dim is [3, H, Dh])
//   o = softmax(q k^T / sqrt(Dh) + causal mask) v (kernels/attention.h)
//   y = Dropout(merge_heads(o) Wproj^T + bproj)   child "proj" (Linear D -> D)
// The attention kernel is the blockwise (flash) one: the T x T score matrix
// is never stored; the forward saves q, k, v, o and the per-row log-sum-exp,
// and the backward recomputes the probabilities from them. Head split and
// merge are row permutations done with kernels::GatherRows, so they run on
// the tensors' device (CPU or CUDA) with no host round trip.
//
// Dropout: `dropout` is applied to the layer's output (nanoGPT's
// resid_dropout), with the Context's Philox stream. There is no dropout on
// the attention probabilities: the fused kernel has none. A TransformerBlock
// applies its own dropout and builds this layer with dropout = 0.
//
// Split backward: BackwardInput runs proj's BackwardInput, the attention
// backward and qkv's BackwardInput and frees this layer's saved q, k, v, o
// and lse (the Linear children keep what their BackwardWeight needs);
// BackwardWeight runs the children's BackwardWeight (proj first, then qkv).
// Saved per microbatch (in the Context): q, k, v (one [3, B, H, T, Dh]
// tensor), o and the f32 lse after Forward, plus what the children save
// (qkv: x; proj: the merged heads); an empty marker after BackwardInput;
// nothing after BackwardWeight. Inference (ctx.training() false) saves
// nothing.
//
// Mixed precision: activations follow the children's compute dtype (f32, or
// bf16/f16 with nn::EnableMixedPrecision); the attention kernel computes in
// f32 internally and keeps lse in f32.
//
// Thread-safety: as every Layer, one thread at a time. Errors: kInvalidArgument
// for an input that is not [B, T, dim] (naming the layer and the shape);
// kFailedPrecondition for a backward without its forward (or run twice).
#ifndef BRAID_NN_ATTENTION_H_
#define BRAID_NN_ATTENTION_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nn/context.h"
#include "nn/dropout.h"
#include "nn/layer.h"
#include "nn/linear.h"
#include "runtime/device.h"
#include "runtime/tensor.h"

namespace braid::nn {

struct CausalSelfAttentionOptions {
  // Model width D. Must be > 0 and divisible by num_heads.
  int64_t dim = 0;
  // Number of heads H (head size D / H). Must be > 0.
  int64_t num_heads = 0;
  // Dropout probability on the output, in [0, 1). Default 0 (none).
  float dropout = 0.0f;
  // Whether qkv and proj have biases. Default true (GPT-2).
  bool bias = true;
  // Standard deviation of the qkv weight init. Default 0.02 (GPT-2).
  float init_std = 0.02f;
  // Standard deviation of the proj weight init; GPT-2 uses
  // 0.02 / sqrt(2 * num_layers) (TransformerBlock sets it). Default 0.02.
  float output_init_std = 0.02f;
  // Where the parameters live.
  runtime::Device device = runtime::Device::Cpu();
};

class CausalSelfAttention : public Layer {
 public:
  // Creates the layer with zero parameters (call Initialize or load them).
  // kInvalidArgument for a bad dim/num_heads/dropout; allocation errors pass
  // through.
  static absl::StatusOr<std::unique_ptr<CausalSelfAttention>> Create(
      const CausalSelfAttentionOptions& options);

  // x: [B, T, dim] of the compute dtype, on the parameters' device, B, T >= 1.
  // Returns y: [B, T, dim].
  absl::StatusOr<runtime::Tensor> Forward(Context& ctx, const runtime::Tensor& x) override;
  // dy: [B, T, dim] -> dx: [B, T, dim].
  absl::StatusOr<runtime::Tensor> BackwardInput(Context& ctx, const runtime::Tensor& dy) override;
  absl::Status BackwardWeight(Context& ctx) override;

  absl::string_view kind() const override { return "CausalSelfAttention"; }

  const CausalSelfAttentionOptions& options() const { return options_; }
  Linear& qkv() { return *qkv_; }
  Linear& proj() { return *proj_; }

 private:
  // Gather indices of the head split/merge permutations for one (B, T), on
  // the parameters' device; rebuilt when the shape changes, so a steady
  // stream of same-shaped microbatches makes no host-to-device copies.
  struct HeadIndex {
    int64_t batch = -1;
    int64_t seq = -1;
    runtime::Tensor split, merge, unmerge, unsplit;
  };

  explicit CausalSelfAttention(const CausalSelfAttentionOptions& options) : options_(options) {}
  absl::Status PrepareHeadIndex(int64_t batch, int64_t seq);

  CausalSelfAttentionOptions options_;
  std::unique_ptr<Linear> qkv_;
  std::unique_ptr<Linear> proj_;
  std::unique_ptr<Dropout> dropout_;  // null when options_.dropout == 0
  HeadIndex head_index_;
};

// Reorders the rows of `in` (a contiguous tensor viewed as the row grid
// `dims` times rows of `row` elements) so that output dimension i is input
// dimension perm[i]: out[idx[perm[0]], ..., idx[perm[n-1]]] = in[idx]. The
// result is a new contiguous tensor of shape [dims[perm[0]], ...,
// dims[perm[n-1]], row] on in's device, computed with kernels::GatherRows.
// Used for splitting and merging attention heads; exposed for the sequence
// parallel layers that need the same reshuffles.
// REQUIRES: product(dims) * row == in.numel(); perm a permutation of
// [0, dims.size()).
absl::StatusOr<runtime::Tensor> PermuteRows(const runtime::Tensor& in,
                                            absl::Span<const int64_t> dims,
                                            absl::Span<const int> perm, int64_t row,
                                            const kernels::Stream& stream = {});

}  // namespace braid::nn

#endif  // BRAID_NN_ATTENTION_H_
