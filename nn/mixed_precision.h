// Mixed precision: layers compute in bf16 (or f16) while the optimizer keeps
// f32 master weights.
//
//   std::vector<nn::NamedParameter> params = model.NamedParameters();
//   BRAID_RETURN_IF_ERROR(nn::EnableMixedPrecision(params, runtime::DType::kBF16));
//   for (each step) {
//     ... forward/backward (layers read p.compute, accumulate into f32 p.grad) ...
//     BRAID_RETURN_IF_ERROR(optimizer->Step(nn::SlotsOf(params), lr));
//     BRAID_RETURN_IF_ERROR(nn::RefreshComputeCopies(params));
//   }
//
// The recipe (as in Megatron-LM and PyTorch AMP with bf16):
// - Master weights (p.value) are f32 and are what the optimizer updates and
//   checkpoints store. p.compute is a bf16 copy of them, rounded to nearest
//   even, refreshed after every optimizer step; layers read only p.compute.
// - Gradients (p.grad) are f32: layers accumulate each microbatch's
//   contribution into them (kernels::AccumulateInto from a bf16 partial, or
//   an f32 GEMM output), and data-parallel reductions run on f32.
// - Optimizer state (momentum, Adam moments) is f32.
// - Activations follow p.compute's dtype.
// - bf16 has f32's exponent range, so gradients neither overflow nor
//   underflow more than in f32: no loss scaling is needed. f16 has a 5-bit
//   exponent (largest 65504, smallest normal 6.1e-5): small gradients flush to
//   zero and large ones overflow, so f16 training needs loss scaling (multiply
//   the loss by S before the backward, divide the f32 gradients by S before
//   clipping, skip the step and lower S when nn::ClipGradNorm reports
//   kDataLoss). braid does not do loss scaling for you; prefer bf16.
//
// Re-homing: when a parameter's value is replaced by a view of other storage
// (data-parallel buckets) after EnableMixedPrecision with kF32, compute still
// refers to the old tensor; call EnableMixedPrecision again after re-homing.
//
// Thread-safety: none (parameters belong to one model on one thread).
// Errors: kInvalidArgument for a non-float dtype or a parameter whose value is
// undefined or not f32/contiguous; allocation failures (kResourceExhausted) and
// device errors from the cast kernel. A failed call leaves every parameter as
// it was.
#ifndef BRAID_NN_MIXED_PRECISION_H_
#define BRAID_NN_MIXED_PRECISION_H_

#include <vector>

#include "absl/status/status.h"
#include "kernels/stream.h"
#include "nn/parameter.h"
#include "runtime/dtype.h"

namespace braid::nn {

// kBF16 / kF16: gives every parameter a compute tensor of that dtype (same
// shape and device as value; reused when it already has that dtype and shape)
// holding value rounded to nearest even. kF32: compute = value (no copy).
// CUDA values are cast on `stream` (enqueued; see kernels/stream.h).
absl::Status EnableMixedPrecision(const std::vector<NamedParameter>& parameters,
                                  runtime::DType compute_dtype, const kernels::Stream& stream = {});

// compute = value rounded to compute's dtype, for every parameter whose
// compute is a separate copy; a no-op for parameters whose compute is value
// itself (same storage, offset and dtype). Call after every optimizer step
// and after loading a checkpoint. kFailedPrecondition for a parameter with an
// undefined compute (call EnableMixedPrecision, or MakeParameter, first).
absl::Status RefreshComputeCopies(const std::vector<NamedParameter>& parameters,
                                  const kernels::Stream& stream = {});

}  // namespace braid::nn

#endif  // BRAID_NN_MIXED_PRECISION_H_
