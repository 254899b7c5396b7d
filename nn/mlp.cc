#include "nn/mlp.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/gelu.h"
#include "kernels/index.h"
#include "kernels/swiglu.h"
#include "nn/internal/layer_util.h"
#include "runtime/status_macros.h"

namespace braid::nn {

using runtime::DType;
using runtime::Tensor;

namespace {

// Row permutations between the fused fc1 output h [rows, 2 * hidden], seen as
// [2 * rows, hidden] (row 2r is token r's gate, 2r + 1 its up half), and a
// split layout [2 * rows, hidden] whose first `rows` rows are the gates and
// the rest the ups, so both halves are contiguous for the SwiGLU kernels.
// split[i] = h[ToSplit[i]]; h[j] = split[FromSplit[j]].
absl::StatusOr<Tensor> Permutation(int64_t rows, bool to_split, runtime::Device device) {
  std::vector<int32_t> index(static_cast<size_t>(2 * rows));
  for (int64_t r = 0; r < rows; ++r) {
    if (to_split) {
      index[r] = static_cast<int32_t>(2 * r);
      index[rows + r] = static_cast<int32_t>(2 * r + 1);
    } else {
      index[2 * r] = static_cast<int32_t>(r);
      index[2 * r + 1] = static_cast<int32_t>(rows + r);
    }
  }
  BRAID_ASSIGN_OR_RETURN(Tensor host, Tensor::FromVector(index, {2 * rows}));
  if (device.is_cpu()) return host;
  return host.To(device);
}

}  // namespace

absl::string_view ToString(MlpActivation activation) {
  switch (activation) {
    case MlpActivation::kGelu:
      return "gelu";
    case MlpActivation::kSwiGLU:
      return "swiglu";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<Mlp>> Mlp::Create(const MlpOptions& options) {
  if (options.dim < 1 || options.hidden < 1 || options.hidden > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(absl::StrCat("Mlp::Create: dim ", options.dim, ", hidden ",
                                                   options.hidden, "; want both >= 1"));
  }
  std::unique_ptr<Mlp> mlp(new Mlp(options));
  const int64_t fc1_out =
      options.activation == MlpActivation::kSwiGLU ? 2 * options.hidden : options.hidden;
  BRAID_ASSIGN_OR_RETURN(mlp->fc1_, Linear::Create({.in_features = options.dim,
                                                    .out_features = fc1_out,
                                                    .bias = options.bias,
                                                    .init_std = options.init_std,
                                                    .device = options.device}));
  BRAID_ASSIGN_OR_RETURN(mlp->fc2_, Linear::Create({.in_features = options.hidden,
                                                    .out_features = options.dim,
                                                    .bias = options.bias,
                                                    .init_std = options.output_init_std,
                                                    .device = options.device}));
  mlp->RegisterChild("fc1", mlp->fc1_.get());
  mlp->RegisterChild("fc2", mlp->fc2_.get());
  return mlp;
}

absl::StatusOr<Tensor> Mlp::Forward(Context& ctx, const Tensor& x) {
  const Tensor& w = fc1_->weight().compute;
  BRAID_RETURN_IF_ERROR(
      layer_util::CheckActivation("Mlp::Forward input", x, w.dtype(), w.device(), options_.dim));
  BRAID_ASSIGN_OR_RETURN(Tensor h, fc1_->Forward(ctx, x));
  const runtime::Shape act_shape = layer_util::WithLastDim(x.shape(), options_.hidden);
  BRAID_ASSIGN_OR_RETURN(Tensor act, Tensor::Empty(act_shape, h.dtype(), h.device()));
  switch (options_.activation) {
    case MlpActivation::kGelu:
      BRAID_RETURN_IF_ERROR(kernels::GeluForward(h, act, ctx.stream()));
      if (ctx.training()) ctx.Save(this, {h});
      break;
    case MlpActivation::kSwiGLU: {
      const int64_t rows = h.numel() / (2 * options_.hidden);
      BRAID_ASSIGN_OR_RETURN(Tensor h2, h.View({2 * rows, options_.hidden}));
      BRAID_ASSIGN_OR_RETURN(Tensor to_split, Permutation(rows, true, h.device()));
      BRAID_ASSIGN_OR_RETURN(Tensor split,
                             Tensor::Empty({2 * rows, options_.hidden}, h.dtype(), h.device()));
      BRAID_RETURN_IF_ERROR(kernels::GatherRows(h2, to_split, split, ctx.stream()));
      BRAID_ASSIGN_OR_RETURN(Tensor gate, split.Slice(0, 0, rows));
      BRAID_ASSIGN_OR_RETURN(Tensor up, split.Slice(0, rows, 2 * rows));
      BRAID_ASSIGN_OR_RETURN(Tensor act2, act.View({rows, options_.hidden}));
      BRAID_RETURN_IF_ERROR(kernels::SwiGluForward(gate, up, act2, ctx.stream()));
      if (ctx.training()) ctx.Save(this, {split});
      break;
    }
  }
  BRAID_ASSIGN_OR_RETURN(Tensor y, fc2_->Forward(ctx, act));
  return y;
}

absl::StatusOr<Tensor> Mlp::BackwardInput(Context& ctx, const Tensor& dy) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "Mlp::BackwardInput"));
  if (saved.size() != 1) {
    return absl::FailedPreconditionError(
        "Mlp::BackwardInput: already ran for this microbatch; run BackwardWeight next");
  }
  const Tensor activation_input = saved[0];
  BRAID_RETURN_IF_ERROR(layer_util::CheckActivation("Mlp::BackwardInput output gradient", dy,
                                                    activation_input.dtype(),
                                                    activation_input.device(), options_.dim));
  BRAID_ASSIGN_OR_RETURN(Tensor dact, fc2_->BackwardInput(ctx, dy));
  Tensor dh;
  switch (options_.activation) {
    case MlpActivation::kGelu: {
      const Tensor& h = activation_input;
      BRAID_ASSIGN_OR_RETURN(dh, Tensor::Empty(h.shape(), h.dtype(), h.device()));
      BRAID_RETURN_IF_ERROR(kernels::GeluBackward(h, dact, dh, ctx.stream()));
      break;
    }
    case MlpActivation::kSwiGLU: {
      const Tensor& split = activation_input;
      const int64_t rows = split.dim(0) / 2;
      BRAID_ASSIGN_OR_RETURN(Tensor gate, split.Slice(0, 0, rows));
      BRAID_ASSIGN_OR_RETURN(Tensor up, split.Slice(0, rows, 2 * rows));
      BRAID_ASSIGN_OR_RETURN(Tensor dact2, dact.View({rows, options_.hidden}));
      BRAID_ASSIGN_OR_RETURN(Tensor dsplit,
                             Tensor::Empty(split.shape(), split.dtype(), split.device()));
      BRAID_ASSIGN_OR_RETURN(Tensor dgate, dsplit.Slice(0, 0, rows));
      BRAID_ASSIGN_OR_RETURN(Tensor dup, dsplit.Slice(0, rows, 2 * rows));
      BRAID_RETURN_IF_ERROR(kernels::SwiGluBackward(gate, up, dact2, dgate, dup, ctx.stream()));
      BRAID_ASSIGN_OR_RETURN(Tensor from_split, Permutation(rows, false, split.device()));
      BRAID_ASSIGN_OR_RETURN(
          dh, Tensor::Empty(layer_util::WithLastDim(dact.shape(), 2 * options_.hidden),
                            split.dtype(), split.device()));
      BRAID_ASSIGN_OR_RETURN(Tensor dh2, dh.View({2 * rows, options_.hidden}));
      BRAID_RETURN_IF_ERROR(kernels::GatherRows(dsplit, from_split, dh2, ctx.stream()));
      break;
    }
  }
  BRAID_ASSIGN_OR_RETURN(Tensor dx, fc1_->BackwardInput(ctx, dh));
  // The activations are no longer needed; an empty entry marks that
  // BackwardInput ran, for BackwardWeight's order check.
  ctx.Save(this, {});
  return dx;
}

absl::Status Mlp::BackwardWeight(Context& ctx) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "Mlp::BackwardWeight"));
  if (!saved.empty()) {
    return absl::FailedPreconditionError(
        "Mlp::BackwardWeight: BackwardInput has not run for this microbatch");
  }
  BRAID_RETURN_IF_ERROR(fc2_->BackwardWeight(ctx));
  BRAID_RETURN_IF_ERROR(fc1_->BackwardWeight(ctx));
  ctx.Release(this);
  return absl::OkStatus();
}

}  // namespace braid::nn
