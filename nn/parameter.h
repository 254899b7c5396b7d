// Parameter: a trainable tensor, its gradient, and (under mixed precision) its
// low-precision compute copy.
//
//   for (const nn::NamedParameter& p : model.NamedParameters()) {
//     LOG(INFO) << p.name << " " << runtime::ShapeToString(p.parameter->value.shape());
//   }
//
// Dtypes: `value` (the master copy the optimizer updates and checkpoints
// store) and `grad` are f32. `compute` is what layers read in Forward and
// Backward: the same tensor as `value` by default, or a bf16/f16 copy made by
// nn::EnableMixedPrecision (nn/mixed_precision.h) and refreshed from `value`
// after every optimizer step.
//
// Re-homing: the owner of a model may replace these tensors by views of other
// storage with the same shape and contents (parallelism::DataParallel puts
// them into flat gradient buckets). So layers read p.value / p.compute /
// p.grad from the Parameter on every call and never cache the tensors.
//
// Thread-safety: none; a Parameter belongs to one model on one thread at a time.
#ifndef BRAID_NN_PARAMETER_H_
#define BRAID_NN_PARAMETER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/tensor.h"

namespace braid::nn {

struct Parameter {
  runtime::Tensor value;    // f32 master values
  runtime::Tensor grad;     // f32, same shape; accumulated by BackwardWeight
  runtime::Tensor compute;  // what layers compute with: `value`, or a bf16/f16 copy
  // False for biases and norm gains: AdamW applies no weight decay to them.
  bool weight_decay = true;
};

// A parameter with its dotted path in the model ("blocks.3.attn.qkv.weight").
// Names are unique within a model and the same on every rank; checkpoints,
// optimizer state and sharding are keyed by them.
struct NamedParameter {
  std::string name;
  Parameter* parameter = nullptr;
};

// Allocates value (initialised to zero), grad (zero) and compute (= value) of
// `shape` on `device`.
absl::StatusOr<Parameter> MakeParameter(runtime::Shape shape, runtime::Device device,
                                        bool weight_decay = true);

// Sets every grad to zero.
absl::Status ZeroGradients(const std::vector<NamedParameter>& parameters);

}  // namespace braid::nn

#endif  // BRAID_NN_PARAMETER_H_
