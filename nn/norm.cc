#include "nn/norm.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "kernels/layernorm.h"
#include "kernels/rmsnorm.h"
#include "nn/init.h"
#include "nn/internal/layer_util.h"
#include "runtime/status_macros.h"

namespace braid::nn {

using runtime::DType;
using runtime::Tensor;

namespace {

absl::Status CheckNormOptions(absl::string_view what, int64_t dim, float eps) {
  if (dim < 1 || !(eps >= 0.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, "::Create: dim ", dim, ", eps ", eps, "; want dim >= 1 and eps >= 0"));
  }
  return absl::OkStatus();
}

// The leading shape of x (one statistic per row).
runtime::Shape RowShape(const Tensor& x) {
  runtime::Shape s = x.shape();
  s.pop_back();
  return s;
}

}  // namespace

// ---- LayerNorm ---------------------------------------------------------------

absl::StatusOr<std::unique_ptr<LayerNorm>> LayerNorm::Create(const LayerNormOptions& options) {
  BRAID_RETURN_IF_ERROR(CheckNormOptions("LayerNorm", options.dim, options.eps));
  std::unique_ptr<LayerNorm> layer(new LayerNorm(options));
  BRAID_ASSIGN_OR_RETURN(layer->weight_, MakeParameter({options.dim}, options.device, false));
  BRAID_ASSIGN_OR_RETURN(layer->bias_, MakeParameter({options.dim}, options.device, false));
  BRAID_RETURN_IF_ERROR(InitConstant(layer->weight_.value, 1.0));
  layer->RegisterParameter("weight", &layer->weight_);
  layer->RegisterParameter("bias", &layer->bias_);
  return layer;
}

absl::Status LayerNorm::InitializeParameter(absl::string_view name, Parameter& parameter,
                                            uint64_t /*seed*/, uint64_t /*stream*/) {
  return InitConstant(parameter.value, name == "weight" ? 1.0 : 0.0);
}

absl::StatusOr<Tensor> LayerNorm::Forward(Context& ctx, const Tensor& x) {
  const Tensor& gamma = weight_.compute;
  BRAID_RETURN_IF_ERROR(layer_util::CheckActivation("LayerNorm::Forward input", x, gamma.dtype(),
                                                    gamma.device(), options_.dim));
  BRAID_ASSIGN_OR_RETURN(Tensor xc, x.Contiguous());
  BRAID_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(x.shape(), x.dtype(), x.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor mean, Tensor::Empty(RowShape(x), DType::kF32, x.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor rstd, Tensor::Empty(RowShape(x), DType::kF32, x.device()));
  BRAID_RETURN_IF_ERROR(kernels::LayerNormForward(xc, gamma, bias_.compute, options_.eps, y, mean,
                                                  rstd, ctx.stream()));
  if (ctx.training()) ctx.Save(this, {xc, mean, rstd});
  return y;
}

absl::StatusOr<Tensor> LayerNorm::BackwardInput(Context& ctx, const Tensor& dy) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "LayerNorm::BackwardInput"));
  if (saved.size() != 3) {
    return absl::FailedPreconditionError(
        "LayerNorm::BackwardInput: already ran for this microbatch; run BackwardWeight next");
  }
  const Tensor x = saved[0], mean = saved[1], rstd = saved[2];
  BRAID_RETURN_IF_ERROR(
      layer_util::CheckGradient("LayerNorm::BackwardInput", dy, x.shape(), x.dtype(), x.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor dyc, dy.Contiguous());
  BRAID_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty(x.shape(), x.dtype(), x.device()));
  BRAID_RETURN_IF_ERROR(
      kernels::LayerNormBackwardInput(x, weight_.compute, mean, rstd, dyc, dx, ctx.stream()));
  ctx.Save(this, {x, mean, rstd, dyc});
  return dx;
}

absl::Status LayerNorm::BackwardWeight(Context& ctx) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "LayerNorm::BackwardWeight"));
  if (saved.size() != 4) {
    return absl::FailedPreconditionError(
        "LayerNorm::BackwardWeight: BackwardInput has not run for this microbatch");
  }
  const Tensor x = saved[0], mean = saved[1], rstd = saved[2], dy = saved[3];
  if (x.dtype() == DType::kF32) {
    BRAID_RETURN_IF_ERROR(kernels::LayerNormBackwardWeight(x, mean, rstd, dy, weight_.grad,
                                                           bias_.grad, ctx.stream()));
  } else {
    BRAID_ASSIGN_OR_RETURN(Tensor dgamma, Tensor::Zeros({options_.dim}, x.dtype(), x.device()));
    BRAID_ASSIGN_OR_RETURN(Tensor dbeta, Tensor::Zeros({options_.dim}, x.dtype(), x.device()));
    BRAID_RETURN_IF_ERROR(
        kernels::LayerNormBackwardWeight(x, mean, rstd, dy, dgamma, dbeta, ctx.stream()));
    BRAID_RETURN_IF_ERROR(kernels::AccumulateInto(dgamma, weight_.grad, ctx.stream()));
    BRAID_RETURN_IF_ERROR(kernels::AccumulateInto(dbeta, bias_.grad, ctx.stream()));
  }
  ctx.GradientReady(weight_);
  ctx.GradientReady(bias_);
  ctx.Release(this);
  return absl::OkStatus();
}

// ---- RMSNorm -----------------------------------------------------------------

absl::StatusOr<std::unique_ptr<RMSNorm>> RMSNorm::Create(const RMSNormOptions& options) {
  BRAID_RETURN_IF_ERROR(CheckNormOptions("RMSNorm", options.dim, options.eps));
  std::unique_ptr<RMSNorm> layer(new RMSNorm(options));
  BRAID_ASSIGN_OR_RETURN(layer->weight_, MakeParameter({options.dim}, options.device, false));
  BRAID_RETURN_IF_ERROR(InitConstant(layer->weight_.value, 1.0));
  layer->RegisterParameter("weight", &layer->weight_);
  return layer;
}

absl::Status RMSNorm::InitializeParameter(absl::string_view /*name*/, Parameter& parameter,
                                          uint64_t /*seed*/, uint64_t /*stream*/) {
  return InitConstant(parameter.value, 1.0);
}

absl::StatusOr<Tensor> RMSNorm::Forward(Context& ctx, const Tensor& x) {
  const Tensor& gamma = weight_.compute;
  BRAID_RETURN_IF_ERROR(layer_util::CheckActivation("RMSNorm::Forward input", x, gamma.dtype(),
                                                    gamma.device(), options_.dim));
  BRAID_ASSIGN_OR_RETURN(Tensor xc, x.Contiguous());
  BRAID_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(x.shape(), x.dtype(), x.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor rstd, Tensor::Empty(RowShape(x), DType::kF32, x.device()));
  BRAID_RETURN_IF_ERROR(kernels::RmsNormForward(xc, gamma, options_.eps, y, rstd, ctx.stream()));
  if (ctx.training()) ctx.Save(this, {xc, rstd});
  return y;
}

absl::StatusOr<Tensor> RMSNorm::BackwardInput(Context& ctx, const Tensor& dy) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "RMSNorm::BackwardInput"));
  if (saved.size() != 2) {
    return absl::FailedPreconditionError(
        "RMSNorm::BackwardInput: already ran for this microbatch; run BackwardWeight next");
  }
  const Tensor x = saved[0], rstd = saved[1];
  BRAID_RETURN_IF_ERROR(
      layer_util::CheckGradient("RMSNorm::BackwardInput", dy, x.shape(), x.dtype(), x.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor dyc, dy.Contiguous());
  BRAID_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty(x.shape(), x.dtype(), x.device()));
  BRAID_RETURN_IF_ERROR(
      kernels::RmsNormBackwardInput(x, weight_.compute, rstd, dyc, dx, ctx.stream()));
  ctx.Save(this, {x, rstd, dyc});
  return dx;
}

absl::Status RMSNorm::BackwardWeight(Context& ctx) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "RMSNorm::BackwardWeight"));
  if (saved.size() != 3) {
    return absl::FailedPreconditionError(
        "RMSNorm::BackwardWeight: BackwardInput has not run for this microbatch");
  }
  const Tensor x = saved[0], rstd = saved[1], dy = saved[2];
  if (x.dtype() == DType::kF32) {
    BRAID_RETURN_IF_ERROR(kernels::RmsNormBackwardWeight(x, rstd, dy, weight_.grad, ctx.stream()));
  } else {
    BRAID_ASSIGN_OR_RETURN(Tensor dgamma, Tensor::Zeros({options_.dim}, x.dtype(), x.device()));
    BRAID_RETURN_IF_ERROR(kernels::RmsNormBackwardWeight(x, rstd, dy, dgamma, ctx.stream()));
    BRAID_RETURN_IF_ERROR(kernels::AccumulateInto(dgamma, weight_.grad, ctx.stream()));
  }
  ctx.GradientReady(weight_);
  ctx.Release(this);
  return absl::OkStatus();
}

}  // namespace braid::nn
