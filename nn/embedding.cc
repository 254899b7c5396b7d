#include "nn/embedding.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "kernels/cast.h"
#include "kernels/embedding.h"
#include "nn/init.h"
#include "nn/internal/layer_util.h"
#include "runtime/status_macros.h"

namespace braid::nn {

using runtime::DType;
using runtime::Tensor;

absl::StatusOr<std::unique_ptr<Embedding>> Embedding::Create(const EmbeddingOptions& options) {
  if (options.num_embeddings < 1 || options.dim < 1 || !(options.init_std >= 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Embedding::Create: num_embeddings ", options.num_embeddings, ", dim ", options.dim,
        ", init_std ", options.init_std, "; want sizes >= 1 and init_std >= 0"));
  }
  std::unique_ptr<Embedding> layer(new Embedding(options));
  BRAID_ASSIGN_OR_RETURN(layer->weight_,
                         MakeParameter({options.num_embeddings, options.dim}, options.device));
  layer->RegisterParameter("weight", &layer->weight_);
  return layer;
}

absl::Status Embedding::InitializeParameter(absl::string_view /*name*/, Parameter& parameter,
                                            uint64_t seed, uint64_t stream) {
  return InitNormal(parameter.value, options_.init_std, seed, stream);
}

absl::StatusOr<Tensor> Embedding::Forward(Context& ctx, const Tensor& ids) {
  const Tensor& w = weight_.compute;
  if (!ids.defined() || (ids.dtype() != DType::kI32 && ids.dtype() != DType::kI64) ||
      !(ids.device() == w.device())) {
    return absl::InvalidArgumentError(
        absl::StrCat("Embedding::Forward: ids are ", layer_util::Describe(ids),
                     ", want i32 (or i64) on ", runtime::ToString(w.device())));
  }
  BRAID_ASSIGN_OR_RETURN(Tensor ids_c, ids.Contiguous());
  runtime::Shape out_shape = ids.shape();
  out_shape.push_back(options_.dim);
  BRAID_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(out_shape, w.dtype(), w.device()));
  BRAID_RETURN_IF_ERROR(kernels::EmbeddingForward(w, ids_c, y, ctx.stream()));
  if (ctx.training()) ctx.Save(this, {ids_c});
  return y;
}

absl::StatusOr<Tensor> Embedding::BackwardInput(Context& ctx, const Tensor& dy) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "Embedding::BackwardInput"));
  if (saved.size() != 1) {
    return absl::FailedPreconditionError(
        "Embedding::BackwardInput: already ran for this microbatch; run BackwardWeight next");
  }
  const Tensor ids = saved[0];
  runtime::Shape out_shape = ids.shape();
  out_shape.push_back(options_.dim);
  const Tensor& w = weight_.compute;
  BRAID_RETURN_IF_ERROR(
      layer_util::CheckGradient("Embedding::BackwardInput", dy, out_shape, w.dtype(), w.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor dy_c, dy.Contiguous());
  ctx.Save(this, {ids, dy_c});
  return absl::StatusOr<Tensor>(absl::in_place);  // undefined: ids have no gradient
}

absl::Status Embedding::BackwardWeight(Context& ctx) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "Embedding::BackwardWeight"));
  if (saved.size() != 2) {
    return absl::FailedPreconditionError(
        "Embedding::BackwardWeight: BackwardInput has not run for this microbatch");
  }
  const Tensor ids = saved[0];
  Tensor dy = saved[1];
  if (dy.dtype() != DType::kF32) {
    // Scatter-add in f32: each row sum is rounded once, into the f32 grad.
    BRAID_ASSIGN_OR_RETURN(Tensor dy32, Tensor::Empty(dy.shape(), DType::kF32, dy.device()));
    BRAID_RETURN_IF_ERROR(kernels::Cast(dy, dy32, ctx.stream()));
    dy = dy32;
  }
  BRAID_RETURN_IF_ERROR(kernels::EmbeddingBackward(ids, dy, weight_.grad, ctx.stream()));
  ctx.GradientReady(weight_);
  ctx.Release(this);
  return absl::OkStatus();
}

}  // namespace braid::nn
