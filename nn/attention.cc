#include "nn/attention.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/attention.h"
#include "kernels/index.h"
#include "runtime/status_macros.h"

namespace braid::nn {

using runtime::DType;
using runtime::Shape;
using runtime::Tensor;

namespace {

// The gather indices of PermuteRows: index[r] = the input row that output row
// r comes from, as an i64 tensor on `device`.
absl::StatusOr<Tensor> RowPermutationIndices(absl::Span<const int64_t> dims,
                                             absl::Span<const int> perm, runtime::Device device) {
  const int n = static_cast<int>(dims.size());
  if (static_cast<int>(perm.size()) != n || n == 0) {
    return absl::InvalidArgumentError(absl::StrCat("PermuteRows: dims (", dims.size(),
                                                   ") and perm (", perm.size(),
                                                   ") must have the same non-zero length"));
  }
  std::vector<bool> seen(n, false);
  for (int p : perm) {
    if (p < 0 || p >= n || seen[p]) {
      return absl::InvalidArgumentError("PermuteRows: perm is not a permutation of the dims");
    }
    seen[p] = true;
  }
  // Input row strides; output dimension i walks input dimension perm[i].
  std::vector<int64_t> in_stride(n, 1);
  for (int d = n - 2; d >= 0; --d) in_stride[d] = in_stride[d + 1] * dims[d + 1];
  std::vector<int64_t> out_dims(n);
  for (int i = 0; i < n; ++i) out_dims[i] = dims[perm[i]];
  const int64_t rows = runtime::NumElements(dims);
  std::vector<int64_t> index(static_cast<size_t>(rows));
  std::vector<int64_t> pos(n, 0);  // output multi-index, row-major
  for (int64_t r = 0; r < rows; ++r) {
    int64_t src = 0;
    for (int i = 0; i < n; ++i) src += pos[i] * in_stride[perm[i]];
    index[static_cast<size_t>(r)] = src;
    for (int i = n - 1; i >= 0; --i) {
      if (++pos[i] < out_dims[i]) break;
      pos[i] = 0;
    }
  }
  BRAID_ASSIGN_OR_RETURN(Tensor indices, Tensor::FromVector(index, {rows}));
  if (!device.is_cpu()) return indices.To(device);
  return indices;
}

// out[r, :] = in[indices[r], :] over rows of `row` elements, into a new
// tensor of shape `out_shape`.
absl::StatusOr<Tensor> GatherInto(const Tensor& in, const Tensor& indices, Shape out_shape,
                                  int64_t row, const kernels::Stream& stream) {
  const int64_t rows = indices.numel();
  if (row <= 0 || rows * row != in.numel() || !in.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat("PermuteRows: input ", in.DebugString(),
                                                   " is not a contiguous grid of ", rows,
                                                   " rows of ", row, " elements"));
  }
  BRAID_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(std::move(out_shape), in.dtype(), in.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor in_rows, in.View({rows, row}));
  BRAID_ASSIGN_OR_RETURN(Tensor out_rows, out.View({rows, row}));
  BRAID_RETURN_IF_ERROR(kernels::GatherRows(in_rows, indices, out_rows, stream));
  return out;
}

// Head split and merge of the attention layer (see Forward):
//   split:   qkv [B, T, 3, H] rows  -> [3, B, H, T]
//   merge:   o   [B, H, T] rows     -> [B, T, H]
//   unmerge: do  [B, T, H] rows     -> [B, H, T]
//   unsplit: dqkv [3, B, H, T] rows -> [B, T, 3, H]
constexpr int kSplit[] = {2, 0, 3, 1};
constexpr int kMerge[] = {0, 2, 1};
constexpr int kUnsplit[] = {1, 3, 0, 2};

}  // namespace

absl::StatusOr<Tensor> PermuteRows(const Tensor& in, absl::Span<const int64_t> dims,
                                   absl::Span<const int> perm, int64_t row,
                                   const kernels::Stream& stream) {
  BRAID_ASSIGN_OR_RETURN(Tensor indices, RowPermutationIndices(dims, perm, in.device()));
  Shape out_shape;
  for (int p : perm) out_shape.push_back(dims[p]);
  out_shape.push_back(row);
  return GatherInto(in, indices, std::move(out_shape), row, stream);
}

absl::Status CausalSelfAttention::PrepareHeadIndex(int64_t batch, int64_t seq) {
  if (head_index_.batch == batch && head_index_.seq == seq) return absl::OkStatus();
  const int64_t heads = options_.num_heads;
  HeadIndex index;
  BRAID_ASSIGN_OR_RETURN(index.split,
                         RowPermutationIndices({batch, seq, 3, heads}, kSplit, options_.device));
  BRAID_ASSIGN_OR_RETURN(index.merge,
                         RowPermutationIndices({batch, heads, seq}, kMerge, options_.device));
  BRAID_ASSIGN_OR_RETURN(index.unmerge,
                         RowPermutationIndices({batch, seq, heads}, kMerge, options_.device));
  BRAID_ASSIGN_OR_RETURN(index.unsplit,
                         RowPermutationIndices({3, batch, heads, seq}, kUnsplit, options_.device));
  index.batch = batch;
  index.seq = seq;
  head_index_ = std::move(index);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CausalSelfAttention>> CausalSelfAttention::Create(
    const CausalSelfAttentionOptions& options) {
  if (options.dim <= 0 || options.num_heads <= 0 || options.dim % options.num_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("CausalSelfAttention: dim (", options.dim,
                     ") must be positive and divisible by num_heads (", options.num_heads, ")"));
  }
  if (!(options.dropout >= 0.0f && options.dropout < 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("CausalSelfAttention: dropout must be in [0, 1), got ", options.dropout));
  }
  std::unique_ptr<CausalSelfAttention> layer(new CausalSelfAttention(options));
  BRAID_ASSIGN_OR_RETURN(layer->qkv_, Linear::Create({.in_features = options.dim,
                                                      .out_features = 3 * options.dim,
                                                      .bias = options.bias,
                                                      .init_std = options.init_std,
                                                      .device = options.device}));
  BRAID_ASSIGN_OR_RETURN(layer->proj_, Linear::Create({.in_features = options.dim,
                                                       .out_features = options.dim,
                                                       .bias = options.bias,
                                                       .init_std = options.output_init_std,
                                                       .device = options.device}));
  layer->RegisterChild("qkv", layer->qkv_.get());
  layer->RegisterChild("proj", layer->proj_.get());
  if (options.dropout > 0.0f) {
    BRAID_ASSIGN_OR_RETURN(layer->dropout_, Dropout::Create({.p = options.dropout}));
  }
  return layer;
}

absl::StatusOr<Tensor> CausalSelfAttention::Forward(Context& ctx, const Tensor& x) {
  const int64_t dim = options_.dim, heads = options_.num_heads, head_dim = dim / heads;
  if (!x.defined() || x.ndim() != 3 || x.dim(2) != dim || x.dim(0) < 1 || x.dim(1) < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("CausalSelfAttention::Forward: input must be [B, T, ", dim, "], got ",
                     x.defined() ? x.DebugString() : "an undefined tensor"));
  }
  const int64_t batch = x.dim(0), seq = x.dim(1);
  BRAID_RETURN_IF_ERROR(PrepareHeadIndex(batch, seq));
  BRAID_ASSIGN_OR_RETURN(Tensor qkv, qkv_->Forward(ctx, x));  // [B, T, 3, H, Dh]
  BRAID_ASSIGN_OR_RETURN(
      Tensor heads_qkv,
      GatherInto(qkv, head_index_.split, {3, batch, heads, seq, head_dim}, head_dim, ctx.stream()));
  BRAID_ASSIGN_OR_RETURN(Tensor q, heads_qkv.Select(0, 0));  // [B, H, T, Dh]
  BRAID_ASSIGN_OR_RETURN(Tensor k, heads_qkv.Select(0, 1));
  BRAID_ASSIGN_OR_RETURN(Tensor v, heads_qkv.Select(0, 2));
  BRAID_ASSIGN_OR_RETURN(Tensor o, Tensor::Empty(q.shape(), q.dtype(), q.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor lse, Tensor::Empty({batch, heads, seq}, DType::kF32, q.device()));
  BRAID_RETURN_IF_ERROR(kernels::AttentionForward(q, k, v, {.causal = true}, o, lse, ctx.stream()));
  BRAID_ASSIGN_OR_RETURN(
      Tensor merged, GatherInto(o, head_index_.merge, {batch, seq, dim}, head_dim, ctx.stream()));
  BRAID_ASSIGN_OR_RETURN(Tensor y, proj_->Forward(ctx, merged));
  if (dropout_ != nullptr) {
    BRAID_ASSIGN_OR_RETURN(y, dropout_->Forward(ctx, y));
  }
  if (ctx.training()) ctx.Save(this, {std::move(heads_qkv), std::move(o), std::move(lse)});
  return y;
}

absl::StatusOr<Tensor> CausalSelfAttention::BackwardInput(Context& ctx, const Tensor& dy) {
  BRAID_ASSIGN_OR_RETURN(absl::Span<const Tensor> saved,
                         ctx.Saved(this, "CausalSelfAttention::BackwardInput"));
  if (saved.size() != 3) {
    return absl::FailedPreconditionError(
        "CausalSelfAttention::BackwardInput: already ran for this microbatch; run Forward "
        "again first");
  }
  const Tensor heads_qkv = saved[0], o = saved[1], lse = saved[2];
  const int64_t head_dim = o.dim(3);
  const int64_t batch = o.dim(0), seq = o.dim(2), dim = options_.dim;
  if (!dy.defined() || dy.ndim() != 3 || dy.dim(0) != batch || dy.dim(1) != seq ||
      dy.dim(2) != dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CausalSelfAttention::BackwardInput: dy must be [", batch, ", ", seq, ", ", dim,
        "] like the forward output, got ", dy.defined() ? dy.DebugString() : "undefined"));
  }
  Tensor grad = dy;
  if (dropout_ != nullptr) {
    BRAID_ASSIGN_OR_RETURN(grad, dropout_->BackwardInput(ctx, grad));
  }
  BRAID_ASSIGN_OR_RETURN(Tensor dmerged, proj_->BackwardInput(ctx, grad));  // [B, T, H*Dh]
  BRAID_RETURN_IF_ERROR(PrepareHeadIndex(batch, seq));
  BRAID_ASSIGN_OR_RETURN(
      Tensor dout, GatherInto(dmerged, head_index_.unmerge, o.shape(), head_dim, ctx.stream()));
  BRAID_ASSIGN_OR_RETURN(Tensor dheads,
                         Tensor::Zeros(heads_qkv.shape(), heads_qkv.dtype(), heads_qkv.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor q, heads_qkv.Select(0, 0));
  BRAID_ASSIGN_OR_RETURN(Tensor k, heads_qkv.Select(0, 1));
  BRAID_ASSIGN_OR_RETURN(Tensor v, heads_qkv.Select(0, 2));
  BRAID_ASSIGN_OR_RETURN(Tensor dq, dheads.Select(0, 0));
  BRAID_ASSIGN_OR_RETURN(Tensor dk, dheads.Select(0, 1));
  BRAID_ASSIGN_OR_RETURN(Tensor dv, dheads.Select(0, 2));
  BRAID_RETURN_IF_ERROR(kernels::AttentionBackward(q, k, v, o, lse, dout, {.causal = true}, dq, dk,
                                                   dv, ctx.stream()));
  BRAID_ASSIGN_OR_RETURN(Tensor dqkv, GatherInto(dheads, head_index_.unsplit, {batch, seq, 3 * dim},
                                                 head_dim, ctx.stream()));
  BRAID_ASSIGN_OR_RETURN(Tensor dx, qkv_->BackwardInput(ctx, dqkv));
  // Only the children's saved tensors are needed from here on; keep an empty
  // entry as the marker that BackwardWeight is due.
  ctx.Save(this, {});
  return dx;
}

absl::Status CausalSelfAttention::BackwardWeight(Context& ctx) {
  BRAID_ASSIGN_OR_RETURN(absl::Span<const Tensor> saved,
                         ctx.Saved(this, "CausalSelfAttention::BackwardWeight"));
  if (!saved.empty()) {
    return absl::FailedPreconditionError(
        "CausalSelfAttention::BackwardWeight: BackwardInput has not run for this microbatch; "
        "run it first");
  }
  if (dropout_ != nullptr) BRAID_RETURN_IF_ERROR(dropout_->BackwardWeight(ctx));
  BRAID_RETURN_IF_ERROR(proj_->BackwardWeight(ctx));
  BRAID_RETURN_IF_ERROR(qkv_->BackwardWeight(ctx));
  ctx.Release(this);
  return absl::OkStatus();
}

}  // namespace braid::nn
