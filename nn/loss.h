// CrossEntropyLoss: softmax cross-entropy of logits against integer targets,
// the mean over the targets that are not ignored.
//
//   nn::CrossEntropyLoss loss_fn;
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor logits, model.Forward(ctx, ids));  // [B, T, V]
//   BRAID_ASSIGN_OR_RETURN(float loss, loss_fn.Forward(ctx, logits, targets));   // [B, T] i32
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor dlogits,
//                          loss_fn.Backward(ctx, 1.0f / num_microbatches));
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor dx, model.BackwardInput(ctx, dlogits));
//
// Not a Layer: it ends the forward with a number and starts the backward.
// Like a layer it keeps what the backward needs (logits, targets, the row
// log-sum-exp) in the microbatch's Context, so several microbatches may be in
// flight; Backward frees it.
//
// Shapes: logits [N, V] or [B, T, V] (f32, bf16 or f16: the compute dtype);
// targets i32 (or i64) [N] or [B, T], the logits' shape without V, on the
// logits' device. A target equal to options.ignore_index contributes neither
// loss nor gradient and is not counted. When every target is ignored the loss
// and the gradient are 0.
//
// Forward returns the mean loss as a float, read back to the host (on a GPU
// this waits for ctx.stream()). Backward(ctx, scale) returns dlogits, of the
// logits' shape and dtype, for the loss `scale * mean` (scale = 1 /
// microbatches averages over microbatches). The math is kernels/cross_entropy.h.
//
// Errors: kInvalidArgument (naming "CrossEntropyLoss") for wrong shapes,
// dtypes or devices, and (on the CPU) a target outside [0, V) that is not
// ignored; kFailedPrecondition for Backward without Forward (or with
// ctx.training() false, where Forward saves nothing) or twice.
// Thread-safety: one thread at a time.
#ifndef BRAID_NN_LOSS_H_
#define BRAID_NN_LOSS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "nn/context.h"
#include "runtime/tensor.h"

namespace braid::nn {

struct CrossEntropyLossOptions {
  // Targets equal to this are ignored (default -100, PyTorch's).
  int32_t ignore_index = -100;
  // Divisor of the summed loss; 0 (default) means the number of targets not
  // ignored in this call (the mean). Data parallel training with uneven
  // padding may set the global token count instead.
  int64_t normalizer = 0;
};

class CrossEntropyLoss {
 public:
  explicit CrossEntropyLoss(const CrossEntropyLossOptions& options = {}) : options_(options) {}
  CrossEntropyLoss(const CrossEntropyLoss&) = delete;
  CrossEntropyLoss& operator=(const CrossEntropyLoss&) = delete;

  // The mean loss over the targets that are not ignored. Saves for Backward
  // when ctx.training().
  absl::StatusOr<float> Forward(Context& ctx, const runtime::Tensor& logits,
                                const runtime::Tensor& targets);

  // dlogits of scale * (the mean loss of this microbatch's Forward); frees
  // what Forward saved.
  absl::StatusOr<runtime::Tensor> Backward(Context& ctx, float scale = 1.0f);

  const CrossEntropyLossOptions& options() const { return options_; }

 private:
  CrossEntropyLossOptions options_;
};

}  // namespace braid::nn

#endif  // BRAID_NN_LOSS_H_
