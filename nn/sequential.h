// Sequential: a chain of layers, each one's output the next one's input.
//
//   nn::Sequential model;
//   BRAID_RETURN_IF_ERROR(model.Append("ln", std::move(ln)));
//   BRAID_RETURN_IF_ERROR(model.Append("mlp", std::move(mlp)));
//   BRAID_RETURN_IF_ERROR(model.Initialize(seed));
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor y, model.Forward(ctx, x));
//   BRAID_ASSIGN_OR_RETURN(runtime::Tensor dx, model.BackwardInput(ctx, dy));
//   BRAID_RETURN_IF_ERROR(model.BackwardWeight(ctx));
//
// Forward runs the children in order. BackwardInput runs every child's
// BackwardInput in reverse order; BackwardWeight runs every child's
// BackwardWeight in reverse order, so a zero-bubble schedule can defer the
// whole weight pass of a stage; Backward interleaves them child by child so
// gradients become ready early (data-parallel overlap). A child whose BackwardInput returns an
// undefined tensor (an Embedding) must be first. Parameters are named
// "<child name>.<parameter>", in Append order. An empty Sequential is the
// identity.
//
// Errors: those of the children (which name themselves), prefixed with the
// child's name; kInvalidArgument for a null child or a duplicate name.
// Thread-safety: one thread at a time.
#ifndef BRAID_NN_SEQUENTIAL_H_
#define BRAID_NN_SEQUENTIAL_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nn/context.h"
#include "nn/layer.h"
#include "runtime/tensor.h"

namespace braid::nn {

class Sequential : public Layer {
 public:
  Sequential() = default;
  // For symmetry with the other layers; cannot fail.
  static absl::StatusOr<std::unique_ptr<Sequential>> Create() {
    return std::make_unique<Sequential>();
  }

  // Adds `layer` at the end under `name` (a path component: non-empty, no
  // '.'). kInvalidArgument for a null layer or a bad or duplicate name.
  absl::Status Append(std::string name, std::unique_ptr<Layer> layer);

  absl::StatusOr<runtime::Tensor> Forward(Context& ctx, const runtime::Tensor& x) override;
  absl::StatusOr<runtime::Tensor> BackwardInput(Context& ctx, const runtime::Tensor& dy) override;
  absl::Status BackwardWeight(Context& ctx) override;
  // Child by child: each child's Backward in reverse order.
  absl::StatusOr<runtime::Tensor> Backward(Context& ctx, const runtime::Tensor& dy) override;
  absl::string_view kind() const override { return "Sequential"; }

  size_t size() const { return layers_.size(); }
  // REQUIRES: i < size().
  Layer& layer(size_t i) { return *layers_[i]; }
  const std::string& name(size_t i) const { return names_[i]; }

 private:
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<Layer>> layers_;
};

}  // namespace braid::nn

#endif  // BRAID_NN_SEQUENTIAL_H_
