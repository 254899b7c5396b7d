// Layer: the unit of a model, with a forward and a split backward.
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<nn::Linear> fc,
//                          nn::Linear::Create({.in_features = 512, .out_features = 1024}));
//   BRAID_RETURN_IF_ERROR(fc->Initialize(seed));             // or load a checkpoint
//   nn::Context ctx;
//   BRAID_ASSIGN_OR_RETURN(Tensor y, fc->Forward(ctx, x));       // y = x W^T + b
//   BRAID_ASSIGN_OR_RETURN(Tensor dx, fc->BackwardInput(ctx, dy));  // B
//   BRAID_RETURN_IF_ERROR(fc->BackwardWeight(ctx));                // W: grads += ...
//
// The backward is split in two, as zero-bubble pipeline schedules need:
//   BackwardInput(ctx, dy) -> dx   the gradient of the input, on the critical
//                                  path to the previous stage; keeps in ctx
//                                  what BackwardWeight needs.
//   BackwardWeight(ctx)            accumulates (+=) the parameter gradients
//                                  and frees this layer's saved tensors; calls
//                                  ctx.GradientReady(p) for each parameter.
// They run in that order, once each per Forward, for one Context. Backward()
// runs both. A layer without parameters still implements BackwardWeight (it
// frees what it saved). Gradients accumulate across microbatches until
// nn::ZeroGradients.
//
// Aliasing: a layer keeps its input x (and dy, until BackwardWeight) by
// reference in the Context, not as a copy. Do not write into them in place
// before that microbatch's backward has finished.
//
// Parameters: a layer registers its own parameters and child layers under
// short names when it is created; NamedParameters() walks the tree in
// registration order and returns dotted paths ("blocks.0.attn.qkv.weight").
// That order is the same on every rank and is the order parameters are
// created; gradients become ready roughly in reverse of it.
//
// Shapes: activations are [tokens..., features] with the feature dimension
// last; layers treat all leading dimensions as rows unless they say otherwise.
// Dtype: activations follow the parameters' compute dtype (f32, or bf16/f16
// under mixed precision).
//
// Thread-safety: a layer is used by one thread at a time. Errors: kInvalidArgument
// for a wrong shape/dtype (naming the layer and the shapes), kFailedPrecondition
// for a backward without its forward.
#ifndef BRAID_NN_LAYER_H_
#define BRAID_NN_LAYER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nn/context.h"
#include "nn/parameter.h"
#include "runtime/tensor.h"

namespace braid::nn {

class Layer {
 public:
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  // y = f(x). Saves in ctx what the backward needs (when ctx.training()).
  virtual absl::StatusOr<runtime::Tensor> Forward(Context& ctx, const runtime::Tensor& x) = 0;
  // dx from dy (same shape as y). Returns an undefined Tensor when the input
  // has no gradient (token ids).
  virtual absl::StatusOr<runtime::Tensor> BackwardInput(Context& ctx,
                                                        const runtime::Tensor& dy) = 0;
  // Accumulates parameter gradients for this microbatch and frees what the
  // layer saved in ctx.
  virtual absl::Status BackwardWeight(Context& ctx) = 0;

  // The whole backward: BackwardInput then BackwardWeight. Composite layers
  // override it to interleave them child by child (each child's weight
  // gradients right after its input gradient), so gradients become ready
  // during the backward -- what data-parallel overlap needs -- and the
  // result is the same as the split calls.
  virtual absl::StatusOr<runtime::Tensor> Backward(Context& ctx, const runtime::Tensor& dy);

  // Initialises every parameter of the tree: each one by its owning layer's
  // InitializeParameter with the Philox stream StreamOf(full dotted name), so
  // a parameter's initial value depends only on (seed, its name) -- the same
  // on every rank and whatever other layers exist.
  absl::Status Initialize(uint64_t seed);
  // The stable 64-bit hash (FNV-1a) used as a parameter's Philox stream.
  static uint64_t StreamOf(absl::string_view name);

  // Every parameter of this layer and its children, as dotted paths.
  std::vector<NamedParameter> NamedParameters();
  // Total number of parameter elements.
  int64_t NumParameters();

  // The layer's kind for messages ("Linear").
  virtual absl::string_view kind() const = 0;

 protected:
  Layer() = default;
  // Registration, in the constructor. The pointers must outlive this layer
  // (they are members of the derived class).
  void RegisterParameter(std::string name, Parameter* parameter);
  void RegisterChild(std::string name, Layer* child);
  // Fills this layer's own parameter registered as `name` (the short name)
  // from Philox (seed, stream); see nn/init.h for the usual distributions.
  // The default fails with kInternal: a layer that registers parameters
  // overrides it.
  virtual absl::Status InitializeParameter(absl::string_view name, Parameter& parameter,
                                           uint64_t seed, uint64_t stream);
  const std::vector<std::pair<std::string, Parameter*>>& own_parameters() const {
    return own_parameters_;
  }
  const std::vector<std::pair<std::string, Layer*>>& children() const { return children_; }

 private:
  void CollectParameters(const std::string& prefix, std::vector<NamedParameter>& out);
  absl::Status InitializeTree(const std::string& prefix, uint64_t seed);

  std::vector<std::pair<std::string, Parameter*>> own_parameters_;
  std::vector<std::pair<std::string, Layer*>> children_;
};

}  // namespace braid::nn

#endif  // BRAID_NN_LAYER_H_
