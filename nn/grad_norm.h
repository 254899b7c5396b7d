// Gradient norm and clipping over optimizer slots (the gradients of a model,
// or of this rank's shard under ZeRO).
//
//   std::vector<nn::OptimizerSlot> slots = nn::SlotsOf(model.NamedParameters());
//   absl::StatusOr<float> norm = nn::ClipGradNorm(slots, /*max_norm=*/1.0f);
//   if (norm.status().code() == absl::StatusCode::kDataLoss) { /* skip this step */ }
//
// The norm is the L2 norm of all gradient elements of all slots together
// (torch.nn.utils.clip_grad_norm_ with norm_type 2). Squares are summed in
// double, in slot order and then element order with a fixed number of
// partial sums, so the result is deterministic for the same slots (but
// depends, in its last bits, on how elements are cut into slots).
//
// Non-finite gradients: torch returns a NaN/Inf norm and scales the
// gradients by it (poisoning the weights unless the caller checks). braid
// instead returns kDataLoss ("non-finite gradient") from ClipGradNorm and
// leaves the gradients untouched, so the training loop skips the optimizer
// step (the usual answer to a loss spike or an f16 overflow). SquaredNorm
// itself returns the non-finite value: a data-parallel caller sums the
// squared norms of all ranks first and then applies ClipScale.
//
// Gradients are f32 (f16/bf16 are accepted and widened) and contiguous.
// SquaredNorm reads CPU tensors only (a CUDA grad is kFailedPrecondition);
// ScaleGradients runs on either device through kernels::Scale.
//
// Thread-safety: thread-safe as far as the tensors are not written
// concurrently. Errors: kInvalidArgument for an undefined, integer or
// non-contiguous grad or a bad max_norm/factor; kDataLoss as above.
#ifndef BRAID_NN_GRAD_NORM_H_
#define BRAID_NN_GRAD_NORM_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "nn/optimizer.h"

namespace braid::nn {

// Sum over every slot of sum(grad^2), accumulated in double. NaN or +inf when
// a gradient is non-finite (not an error here).
absl::StatusOr<double> SquaredNorm(absl::Span<const OptimizerSlot> slots);

// grad *= factor for every slot. REQUIRES: factor finite.
absl::Status ScaleGradients(absl::Span<const OptimizerSlot> slots, float factor);

// The factor torch's clip_grad_norm_ multiplies the gradients by for a total
// norm `norm`: min(1, max_norm / (norm + 1e-6)). REQUIRES: norm finite >= 0.
float ClipScale(double norm, float max_norm);

// Computes the total norm; when it exceeds max_norm, scales every gradient by
// ClipScale(norm, max_norm). Returns the norm before clipping.
// kDataLoss (nothing scaled) when the norm is NaN or infinite.
// REQUIRES: max_norm finite and > 0.
absl::StatusOr<float> ClipGradNorm(absl::Span<const OptimizerSlot> slots, float max_norm);

}  // namespace braid::nn

#endif  // BRAID_NN_GRAD_NORM_H_
