// Normalisation layers over the last dimension: LayerNorm and RMSNorm.
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::LayerNorm> ln,
//                          nn::LayerNorm::Create({.dim = 768}));
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor y, ln->Forward(ctx, x));   // x [..., 768]
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor dx, ln->BackwardInput(ctx, dy));
//   BRAID_RETURN_IF_ERROR(ln->BackwardWeight(ctx));
//
//   LayerNorm: y = (x - mean) / sqrt(var + eps) * weight + bias   (biased var)
//   RMSNorm:   y = x / sqrt(mean(x^2) + eps) * weight
//
// Parameters (no weight decay): "weight" [dim] initialised to 1 and, for
// LayerNorm, "bias" [dim] initialised to 0. Create already sets these values,
// and Layer::Initialize sets them again.
//
// The backward uses the kernels' split (kernels/layernorm.h,
// kernels/rmsnorm.h): BackwardInput computes dx from the statistics the
// forward saved; BackwardWeight later reduces dy * xhat over the rows. Under
// mixed precision the parameter gradients are reduced in the compute dtype
// and added into the f32 grads.
//
// Shapes: x, y, dy, dx are [..., dim] with the compute dtype and device of
// the parameters. Saved per microbatch: x and the f32 row statistics after
// Forward, plus dy after BackwardInput; nothing after BackwardWeight. x and dy
// are kept by reference: do not write into them in place before
// BackwardWeight.
//
// Errors: kInvalidArgument (naming the layer and the shapes) for a wrong
// shape, dtype or device; kFailedPrecondition for a backward out of order.
// Thread-safety: one thread at a time.
#ifndef BRAID_NN_NORM_H_
#define BRAID_NN_NORM_H_

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

struct LayerNormOptions {
  // Size of the normalised (last) dimension; >= 1.
  int64_t dim = 0;
  // Added to the variance (default 1e-5, PyTorch's); >= 0.
  float eps = 1e-5f;
  // Where the parameters live (default CPU).
  runtime::Device device = runtime::Device::Cpu();
};

class LayerNorm : public Layer {
 public:
  // kInvalidArgument for dim < 1 or eps < 0.
  static absl::StatusOr<std::unique_ptr<LayerNorm>> Create(const LayerNormOptions& options);

  absl::StatusOr<runtime::Tensor> Forward(Context& ctx, const runtime::Tensor& x) override;
  absl::StatusOr<runtime::Tensor> BackwardInput(Context& ctx, const runtime::Tensor& dy) override;
  absl::Status BackwardWeight(Context& ctx) override;
  absl::string_view kind() const override { return "LayerNorm"; }

  const LayerNormOptions& options() const { return options_; }
  Parameter& weight() { return weight_; }
  Parameter& bias() { return bias_; }

 protected:
  absl::Status InitializeParameter(absl::string_view name, Parameter& parameter, uint64_t seed,
                                   uint64_t stream) override;

 private:
  explicit LayerNorm(const LayerNormOptions& options) : options_(options) {}

  LayerNormOptions options_;
  Parameter weight_;
  Parameter bias_;
};

struct RMSNormOptions {
  // Size of the normalised (last) dimension; >= 1.
  int64_t dim = 0;
  // Added to the mean square (default 1e-6, LLaMA's); >= 0.
  float eps = 1e-6f;
  // Where the parameter lives (default CPU).
  runtime::Device device = runtime::Device::Cpu();
};

class RMSNorm : public Layer {
 public:
  // kInvalidArgument for dim < 1 or eps < 0.
  static absl::StatusOr<std::unique_ptr<RMSNorm>> Create(const RMSNormOptions& options);

  absl::StatusOr<runtime::Tensor> Forward(Context& ctx, const runtime::Tensor& x) override;
  absl::StatusOr<runtime::Tensor> BackwardInput(Context& ctx, const runtime::Tensor& dy) override;
  absl::Status BackwardWeight(Context& ctx) override;
  absl::string_view kind() const override { return "RMSNorm"; }

  const RMSNormOptions& options() const { return options_; }
  Parameter& weight() { return weight_; }

 protected:
  absl::Status InitializeParameter(absl::string_view name, Parameter& parameter, uint64_t seed,
                                   uint64_t stream) override;

 private:
  explicit RMSNorm(const RMSNormOptions& options) : options_(options) {}

  RMSNormOptions options_;
  Parameter weight_;
};

}  // namespace braid::nn

#endif  // BRAID_NN_NORM_H_
