// Dropout: zeroes each element with probability p and scales the rest by
// 1 / (1 - p), in training; the identity otherwise.
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::Dropout> drop, nn::Dropout::Create({.p = 0.1f}));
//   nn::Context ctx({.rng_seed = seed, .rng_stream = global_microbatch});
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor y, drop->Forward(ctx, x));
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor dx, drop->BackwardInput(ctx, dy));  // dy * mask
//   BRAID_RETURN_IF_ERROR(drop->BackwardWeight(ctx));                          // frees the mask
//
// The mask is a pure function of (ctx.options().rng_seed, rng_stream, the
// offset ctx.NextRandomOffset hands this call): element i (row-major) is kept
// when Philox uniform (seed, stream, offset)[i] >= p. So the same
// (seed, stream) and the same sequence of random layers give the same masks
// on any rank and any data-parallel size, and another stream gives other
// masks. Each Forward in training with p > 0 reserves
// runtime::PhiloxCounters(x.numel()) counters.
//
// Identity (y is x itself, no randomness consumed) when !ctx.training() or
// p == 0. In training the backward is still required (it frees the saved
// state) and returns dy for p == 0.
//
// Numerics: y = (x * m) * (1 / (1 - p)) with m in {0, 1}: the product with m
// is exact, so each element is rounded once (also in bf16/f16).
// Devices: the mask is drawn on the host and copied to x's device; the
// multiply runs on x's device (ctx.stream()).
//
// Saved per microbatch: the {0, 1} mask (x's dtype and shape) until
// BackwardInput. Errors: kInvalidArgument for p outside [0, 1) or an
// undefined / non-float input, naming "Dropout"; kFailedPrecondition for a
// backward out of order. Thread-safety: one thread at a time.
#ifndef BRAID_NN_DROPOUT_H_
#define BRAID_NN_DROPOUT_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nn/context.h"
#include "nn/layer.h"
#include "runtime/tensor.h"

namespace braid::nn {

struct DropoutOptions {
  // Probability of zeroing an element, in [0, 1) (default 0.1).
  float p = 0.1f;
};

class Dropout : public Layer {
 public:
  // kInvalidArgument for p outside [0, 1).
  static absl::StatusOr<std::unique_ptr<Dropout>> Create(const DropoutOptions& options);

  absl::StatusOr<runtime::Tensor> Forward(Context& ctx, const runtime::Tensor& x) override;
  absl::StatusOr<runtime::Tensor> BackwardInput(Context& ctx, const runtime::Tensor& dy) override;
  absl::Status BackwardWeight(Context& ctx) override;
  absl::string_view kind() const override { return "Dropout"; }

  const DropoutOptions& options() const { return options_; }

 private:
  explicit Dropout(const DropoutOptions& options) : options_(options) {}

  DropoutOptions options_;
};

}  // namespace braid::nn

#endif  // BRAID_NN_DROPOUT_H_
