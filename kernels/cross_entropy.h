// Softmax cross-entropy over the last dimension of logits, forward and
// backward, with an optional ignore index.
//
//   lse[n]    = log(sum_v exp(logits[n, v]))
//   losses[n] = lse[n] - logits[n, targets[n]]      (0 for an ignored row)
//   mean      = sum(losses) / normalizer
//   dlogits[n, v] = dmean * (softmax(logits[n])[v] - (v == targets[n])) / normalizer
//                   (0 for an ignored row)
//
// normalizer is CrossEntropyOptions::normalizer when set, else the number of
// rows that are not ignored (the mean of PyTorch's reduction="mean"). When
// every row is ignored and no normalizer is set, mean is 0 and dlogits is 0.
//
// Shapes: logits and dlogits [N, V]; targets [N] (i32 or i64); losses and lse
// [N] f32; mean a one-element f32 tensor (shape [] or [1]). Dtypes: logits and
// dlogits f32, f16 or bf16 (computed in f32). All operands are contiguous and
// on one device (CPU or CUDA). Streams follow kernels/stream.h.
//
// A target outside [0, V) that is not the ignore index: on the CPU the call
// returns kInvalidArgument before writing anything; on CUDA (where targets are
// not read back to the host) that row's loss and gradient are NaN, which the
// trainer's NaN check catches. Other errors: kInvalidArgument for mismatched
// or non-contiguous operands or a negative normalizer; kFailedPrecondition for
// CUDA tensors in a build without CUDA; kInternal for a failed CUDA call.
#ifndef BRAID_KERNELS_CROSS_ENTROPY_H_
#define BRAID_KERNELS_CROSS_ENTROPY_H_

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/stream.h"
#include "runtime/tensor.h"

namespace braid::kernels {

struct CrossEntropyOptions {
  // Rows whose target equals this id are ignored (loss 0, gradient 0, not
  // counted). The default matches PyTorch; set it to any value no real target
  // takes when nothing should be ignored.
  int64_t ignore_index = -100;
  // Divides the summed loss and the gradient. 0 (default): the number of rows
  // not ignored in this call. Data parallel training sets it to the global
  // count of tokens so that every rank's gradients sum to the global mean.
  int64_t normalizer = 0;
};

// Writes losses, lse (saved for the backward) and mean.
// REQUIRES: shapes and dtypes as in the file comment.
absl::Status CrossEntropyForward(const runtime::Tensor& logits, const runtime::Tensor& targets,
                                 const CrossEntropyOptions& options, const runtime::Tensor& losses,
                                 const runtime::Tensor& lse, const runtime::Tensor& mean,
                                 Stream stream = {});

// Writes dlogits (overwrites) for an upstream gradient `dmean` of the mean loss
// (1 when the mean is the loss being minimised).
// REQUIRES: lse from CrossEntropyForward on these logits, same options;
// dlogits may be logits.
absl::Status CrossEntropyBackward(const runtime::Tensor& logits, const runtime::Tensor& targets,
                                  const runtime::Tensor& lse, const CrossEntropyOptions& options,
                                  float dmean, const runtime::Tensor& dlogits, Stream stream = {});

}  // namespace braid::kernels

#endif  // BRAID_KERNELS_CROSS_ENTROPY_H_
