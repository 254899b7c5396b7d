// Linear: y = x W^T + b over the last dimension, with a split backward.
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::Linear> fc,
//                          nn::Linear::Create({.in_features = 512, .out_features = 1024}));
//   BRAID_RETURN_IF_ERROR(fc->Initialize(seed));      // weight ~ N(0, init_std), bias 0
//   nn::Context ctx;
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor y, fc->Forward(ctx, x));    // x [..., 512]
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor dx, fc->BackwardInput(ctx, dy));
//   BRAID_RETURN_IF_ERROR(fc->BackwardWeight(ctx));   // weight.grad += dy^T x, ...
//
// Parameters: "weight" [out_features, in_features] (weight decay) and, when
// options.bias, "bias" [out_features] (no weight decay, initialised to 0).
// Created as zeros; Layer::Initialize fills them.
//
// Shapes: x is [..., in_features] (all leading dimensions are rows, zero rows
// allowed); y and dy are [..., out_features]; dx has x's shape.
// DTypes: x and dy have the dtype of weight().compute (f32, or bf16/f16 under
// mixed precision), and so do y and dx. Weight gradients are computed in that
// dtype and added into the f32 grads (kernels::AccumulateInto); in f32 the
// GEMM accumulates into the grad directly (beta = 1).
// Devices: the parameters' device; x and dy must be there too. Kernels run on
// ctx.stream() with ctx.gemm_context().
//
// Saved per microbatch (in the Context): x after Forward; x and dy after
// BackwardInput; nothing after BackwardWeight. Saved tensors are references,
// not copies: the caller must not write into x (or dy) in place until
// BackwardWeight has run (a residual add must make a new tensor).
//
// Errors: kInvalidArgument (naming "Linear" and the shapes) for a wrong
// shape, dtype or device; kFailedPrecondition for a backward without its
// forward, BackwardInput twice, or BackwardWeight before BackwardInput.
//
// Thread-safety: one thread at a time (nn/layer.h).
#ifndef BRAID_NN_LINEAR_H_
#define BRAID_NN_LINEAR_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nn/context.h"
#include "nn/layer.h"
#include "nn/parameter.h"
#include "runtime/device.h"
#include "runtime/tensor.h"

namespace braid::nn {

struct LinearOptions {
  // Input and output features; both >= 1.
  int64_t in_features = 0;
  int64_t out_features = 0;
  // Whether y gets a bias "b" (default true).
  bool bias = true;
  // Standard deviation of the normal weight initialisation (default 0.02, GPT-2).
  float init_std = 0.02f;
  // Where the parameters live (default CPU).
  runtime::Device device = runtime::Device::Cpu();
};

class Linear : public Layer {
 public:
  // kInvalidArgument for features < 1 or init_std < 0; kResourceExhausted
  // when the parameters cannot be allocated.
  static absl::StatusOr<std::unique_ptr<Linear>> Create(const LinearOptions& options);

  absl::StatusOr<runtime::Tensor> Forward(Context& ctx, const runtime::Tensor& x) override;
  absl::StatusOr<runtime::Tensor> BackwardInput(Context& ctx, const runtime::Tensor& dy) override;
  absl::Status BackwardWeight(Context& ctx) override;
  absl::string_view kind() const override { return "Linear"; }

  const LinearOptions& options() const { return options_; }
  Parameter& weight() { return weight_; }
  // With options.bias false: a Parameter of undefined tensors, not registered.
  Parameter& bias() { return bias_; }

 protected:
  absl::Status InitializeParameter(absl::string_view name, Parameter& parameter, uint64_t seed,
                                   uint64_t stream) override;

 private:
  explicit Linear(const LinearOptions& options) : options_(options) {}

  LinearOptions options_;
  Parameter weight_;
  Parameter bias_;
};

}  // namespace braid::nn

#endif  // BRAID_NN_LINEAR_H_
