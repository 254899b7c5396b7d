#include "nn/sequential.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/status_macros.h"

namespace braid::nn {

using runtime::Tensor;

namespace {

// Prefixes a child's error with its position in the chain, keeping the code.
absl::Status InChild(const absl::Status& status, absl::string_view method,
                     const std::string& name) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("Sequential::", method, " in child '", name,
                                                  "': ", status.message()));
}

}  // namespace

absl::Status Sequential::Append(std::string name, std::unique_ptr<Layer> layer) {
  if (layer == nullptr || name.empty() || name.find('.') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("Sequential::Append: child '", name, "' ",
                                                   layer == nullptr ? "is null" : "",
                                                   "; names are non-empty and contain no '.'"));
  }
  for (const std::string& n : names_) {
    if (n == name) {
      return absl::InvalidArgumentError(
          absl::StrCat("Sequential::Append: a child is already named '", name, "'"));
    }
  }
  RegisterChild(name, layer.get());
  names_.push_back(std::move(name));
  layers_.push_back(std::move(layer));
  return absl::OkStatus();
}

absl::StatusOr<Tensor> Sequential::Forward(Context& ctx, const Tensor& x) {
  Tensor h = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    absl::StatusOr<Tensor> out = layers_[i]->Forward(ctx, h);
    if (!out.ok()) return InChild(out.status(), "Forward", names_[i]);
    h = *std::move(out);
  }
  return h;
}

absl::StatusOr<Tensor> Sequential::BackwardInput(Context& ctx, const Tensor& dy) {
  Tensor g = dy;
  for (size_t i = layers_.size(); i-- > 0;) {
    if (!g.defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Sequential::BackwardInput: child '", names_[i + 1],
                       "' returned no input gradient but is not the first child"));
    }
    absl::StatusOr<Tensor> out = layers_[i]->BackwardInput(ctx, g);
    if (!out.ok()) return InChild(out.status(), "BackwardInput", names_[i]);
    g = *std::move(out);
  }
  return g;
}

absl::Status Sequential::BackwardWeight(Context& ctx) {
  for (size_t i = layers_.size(); i-- > 0;) {
    BRAID_RETURN_IF_ERROR(InChild(layers_[i]->BackwardWeight(ctx), "BackwardWeight", names_[i]));
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> Sequential::Backward(Context& ctx, const Tensor& dy) {
  Tensor g = dy;
  for (size_t i = layers_.size(); i-- > 0;) {
    if (!g.defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Sequential::Backward: child '", names_[i + 1],
                       "' returned no input gradient but is not the first child"));
    }
    absl::StatusOr<Tensor> out = layers_[i]->Backward(ctx, g);
    if (!out.ok()) return InChild(out.status(), "Backward", names_[i]);
    g = *std::move(out);
  }
  return g;
}

}  // namespace braid::nn
