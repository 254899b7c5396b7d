// Mlp: the feed-forward block of a transformer, Linear -> activation -> Linear.
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::Mlp> mlp,
//                          nn::Mlp::Create({.dim = 768, .hidden = 3072}));
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor y, mlp->Forward(ctx, x));   // x, y [..., 768]
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor dx, mlp->BackwardInput(ctx, dy));
//   BRAID_RETURN_IF_ERROR(mlp->BackwardWeight(ctx));
//
// kGelu:   y = fc2(gelu(fc1(x)))                 fc1: dim -> hidden
// kSwiGLU: [g, u] = fc1(x); y = fc2(silu(g) * u)  fc1: dim -> 2 * hidden (fused)
//
// Children: "fc1" and "fc2", both nn::Linear ("fc1.weight", "fc1.bias",
// "fc2.weight", ...). In the fused SwiGLU projection the output features
// [0, hidden) are the gate g and [hidden, 2 * hidden) the up projection u
// (rows of fc1.weight in that order). fc2's weight is initialised with
// output_init_std (GPT-2 scales it by 1/sqrt(2 * layers) for the residual).
//
// BackwardInput runs fc2's and fc1's BackwardInput and frees the block's own
// activations; BackwardWeight runs fc2's then fc1's BackwardWeight (so a
// zero-bubble schedule can defer both). Saved per microbatch: the fc1 output
// (GELU) or the gate and up halves (SwiGLU) until BackwardInput, and what the
// two Linears save.
//
// DTypes and devices: those of the Linears' compute parameters (mixed
// precision works through them). Errors: as nn::Linear, naming "Mlp" for its
// own checks; kFailedPrecondition for a backward out of order.
// Thread-safety: one thread at a time.
#ifndef BRAID_NN_MLP_H_
#define BRAID_NN_MLP_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nn/context.h"
#include "nn/layer.h"
#include "nn/linear.h"
#include "runtime/device.h"
#include "runtime/tensor.h"

namespace braid::nn {

enum class MlpActivation { kGelu, kSwiGLU };

// "gelu", "swiglu".
absl::string_view ToString(MlpActivation activation);

struct MlpOptions {
  // Model width (input and output features); >= 1.
  int64_t dim = 0;
  // Hidden width (4 * dim for GPT-2; about 8/3 * dim for SwiGLU); >= 1.
  int64_t hidden = 0;
  // The activation (default GELU, tanh approximation).
  MlpActivation activation = MlpActivation::kGelu;
  // Whether fc1 and fc2 have biases (default true).
  bool bias = true;
  // Init std of fc1's weight (default 0.02).
  float init_std = 0.02f;
  // Init std of fc2's weight, the projection back into the residual stream
  // (default 0.02).
  float output_init_std = 0.02f;
  // Where the parameters live (default CPU).
  runtime::Device device = runtime::Device::Cpu();
};

class Mlp : public Layer {
 public:
  // kInvalidArgument for dim or hidden < 1 or a negative init std.
  static absl::StatusOr<std::unique_ptr<Mlp>> Create(const MlpOptions& options);

  absl::StatusOr<runtime::Tensor> Forward(Context& ctx, const runtime::Tensor& x) override;
  absl::StatusOr<runtime::Tensor> BackwardInput(Context& ctx, const runtime::Tensor& dy) override;
  absl::Status BackwardWeight(Context& ctx) override;
  absl::string_view kind() const override { return "Mlp"; }

  const MlpOptions& options() const { return options_; }
  Linear& fc1() { return *fc1_; }
  Linear& fc2() { return *fc2_; }

 private:
  explicit Mlp(const MlpOptions& options) : options_(options) {}

  MlpOptions options_;
  std::unique_ptr<Linear> fc1_;
  std::unique_ptr<Linear> fc2_;
};

}  // namespace braid::nn

#endif  // BRAID_NN_MLP_H_
