#include "nn/linear.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/gemm.h"
#include "nn/init.h"
#include "nn/internal/layer_util.h"
#include "runtime/status_macros.h"

namespace braid::nn {

using runtime::Tensor;

absl::StatusOr<std::unique_ptr<Linear>> Linear::Create(const LinearOptions& options) {
  if (options.in_features < 1 || options.out_features < 1 || !(options.init_std >= 0.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Linear::Create: in_features ", options.in_features, ", out_features ",
                     options.out_features, ", init_std ", options.init_std,
                     "; want features >= 1 and init_std >= 0"));
  }
  std::unique_ptr<Linear> layer(new Linear(options));
  BRAID_ASSIGN_OR_RETURN(
      layer->weight_, MakeParameter({options.out_features, options.in_features}, options.device));
  layer->RegisterParameter("weight", &layer->weight_);
  if (options.bias) {
    BRAID_ASSIGN_OR_RETURN(layer->bias_, MakeParameter({options.out_features}, options.device,
                                                       /*weight_decay=*/false));
    layer->RegisterParameter("bias", &layer->bias_);
  }
  return layer;
}

absl::Status Linear::InitializeParameter(absl::string_view name, Parameter& parameter,
                                         uint64_t seed, uint64_t stream) {
  if (name == "weight") return InitNormal(parameter.value, options_.init_std, seed, stream);
  return InitConstant(parameter.value, 0.0);
}

absl::StatusOr<Tensor> Linear::Forward(Context& ctx, const Tensor& x) {
  const Tensor& w = weight_.compute;
  BRAID_RETURN_IF_ERROR(layer_util::CheckActivation("Linear::Forward input", x, w.dtype(),
                                                    w.device(), options_.in_features));
  BRAID_ASSIGN_OR_RETURN(Tensor xc, x.Contiguous());
  BRAID_ASSIGN_OR_RETURN(Tensor x2, layer_util::Rows(xc));
  const int64_t rows = x2.dim(0);
  BRAID_ASSIGN_OR_RETURN(
      Tensor y, Tensor::Empty(layer_util::WithLastDim(x.shape(), options_.out_features), w.dtype(),
                              w.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor y2, y.View({rows, options_.out_features}));
  kernels::GemmOptions gemm{.transpose_b = true};
  if (options_.bias) {
    // y = ones[rows, 1] * b[1, out], then y += x W^T: one rounding of x W^T + b.
    BRAID_ASSIGN_OR_RETURN(Tensor ones, Tensor::Full({rows, 1}, w.dtype(), 1.0, w.device()));
    BRAID_ASSIGN_OR_RETURN(Tensor b, bias_.compute.View({1, options_.out_features}));
    BRAID_RETURN_IF_ERROR(kernels::Gemm(ones, b, y2, {}, ctx.stream(), ctx.gemm_context()));
    gemm.beta = 1.0f;
  }
  BRAID_RETURN_IF_ERROR(kernels::Gemm(x2, w, y2, gemm, ctx.stream(), ctx.gemm_context()));
  if (ctx.training()) ctx.Save(this, {xc});
  return y;
}

absl::StatusOr<Tensor> Linear::BackwardInput(Context& ctx, const Tensor& dy) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "Linear::BackwardInput"));
  if (saved.size() != 1) {
    return absl::FailedPreconditionError(
        "Linear::BackwardInput: already ran for this microbatch; run BackwardWeight next");
  }
  const Tensor x = saved[0];
  const Tensor& w = weight_.compute;
  BRAID_RETURN_IF_ERROR(layer_util::CheckGradient(
      "Linear::BackwardInput", dy, layer_util::WithLastDim(x.shape(), options_.out_features),
      w.dtype(), w.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor dy2, layer_util::Rows(dy));
  const int64_t rows = dy2.dim(0);
  BRAID_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty(x.shape(), w.dtype(), w.device()));
  BRAID_ASSIGN_OR_RETURN(Tensor dx2, dx.View({rows, options_.in_features}));
  BRAID_RETURN_IF_ERROR(kernels::Gemm(dy2, w, dx2, {}, ctx.stream(), ctx.gemm_context()));
  ctx.Save(this, {x, dy2});
  return dx;
}

absl::Status Linear::BackwardWeight(Context& ctx) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "Linear::BackwardWeight"));
  if (saved.size() != 2) {
    return absl::FailedPreconditionError(
        "Linear::BackwardWeight: BackwardInput has not run for this microbatch");
  }
  BRAID_ASSIGN_OR_RETURN(const Tensor x2, layer_util::Rows(saved[0]));
  const Tensor dy2 = saved[1];
  const runtime::DType dtype = dy2.dtype();
  const int64_t rows = x2.dim(0);

  // dW = dy^T x  ([out, rows] x [rows, in]).
  {
    BRAID_ASSIGN_OR_RETURN(Tensor grad,
                           weight_.grad.View({options_.out_features, options_.in_features}));
    auto gemm_into = [&](const Tensor& dst, float beta) {
      return kernels::Gemm(dy2, x2, dst, {.transpose_a = true, .beta = beta}, ctx.stream(),
                           ctx.gemm_context());
    };
    BRAID_RETURN_IF_ERROR(layer_util::AddToGradient(
        grad, dtype, ctx.stream(), [&](const Tensor& tmp) { return gemm_into(tmp, 0.0f); },
        [&](const Tensor& g) { return gemm_into(g, 1.0f); }));
    ctx.GradientReady(weight_);
  }
  // db = ones[1, rows] dy  (the column sums of dy).
  if (options_.bias) {
    BRAID_ASSIGN_OR_RETURN(Tensor grad, bias_.grad.View({1, options_.out_features}));
    BRAID_ASSIGN_OR_RETURN(Tensor ones, Tensor::Full({1, rows}, dtype, 1.0, dy2.device()));
    auto gemm_into = [&](const Tensor& dst, float beta) {
      return kernels::Gemm(ones, dy2, dst, {.beta = beta}, ctx.stream(), ctx.gemm_context());
    };
    BRAID_RETURN_IF_ERROR(layer_util::AddToGradient(
        grad, dtype, ctx.stream(), [&](const Tensor& tmp) { return gemm_into(tmp, 0.0f); },
        [&](const Tensor& g) { return gemm_into(g, 1.0f); }));
    ctx.GradientReady(bias_);
  }
  ctx.Release(this);
  return absl::OkStatus();
}

}  // namespace braid::nn
