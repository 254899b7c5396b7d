#include "nn/layer.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/status_macros.h"

namespace braid::nn {

absl::StatusOr<absl::Span<const runtime::Tensor>> Context::Saved(const void* owner,
                                                                 absl::string_view what) const {
  auto it = saved_.find(owner);
  if (it == saved_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": nothing saved for this microbatch; run Forward (with "
                           "training=true) before the backward, and each backward once"));
  }
  return absl::Span<const runtime::Tensor>(it->second);
}

absl::StatusOr<Parameter> MakeParameter(runtime::Shape shape, runtime::Device device,
                                        bool weight_decay) {
  Parameter p;
  BRAID_ASSIGN_OR_RETURN(p.value, runtime::Tensor::Zeros(shape, runtime::DType::kF32, device));
  BRAID_ASSIGN_OR_RETURN(p.grad, runtime::Tensor::Zeros(shape, runtime::DType::kF32, device));
  p.compute = p.value;
  p.weight_decay = weight_decay;
  return p;
}

absl::Status ZeroGradients(const std::vector<NamedParameter>& parameters) {
  for (const NamedParameter& p : parameters) {
    BRAID_RETURN_IF_ERROR(p.parameter->grad.Fill(0.0));
  }
  return absl::OkStatus();
}

absl::StatusOr<runtime::Tensor> Layer::Backward(Context& ctx, const runtime::Tensor& dy) {
  BRAID_ASSIGN_OR_RETURN(runtime::Tensor dx, BackwardInput(ctx, dy));
  BRAID_RETURN_IF_ERROR(BackwardWeight(ctx));
  return dx;
}

absl::Status Layer::Initialize(uint64_t seed) { return InitializeTree("", seed); }

absl::Status Layer::InitializeTree(const std::string& prefix, uint64_t seed) {
  for (auto& [name, p] : own_parameters_) {
    BRAID_RETURN_IF_ERROR(InitializeParameter(name, *p, seed, StreamOf(absl::StrCat(prefix, name))));
  }
  for (auto& [name, child] : children_) {
    BRAID_RETURN_IF_ERROR(child->InitializeTree(absl::StrCat(prefix, name, "."), seed));
  }
  return absl::OkStatus();
}

uint64_t Layer::StreamOf(absl::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

absl::Status Layer::InitializeParameter(absl::string_view name, Parameter& /*parameter*/,
                                        uint64_t /*seed*/, uint64_t /*stream*/) {
  return absl::InternalError(absl::StrCat(kind(), " registers parameter '", name,
                                          "' but does not override InitializeParameter"));
}

std::vector<NamedParameter> Layer::NamedParameters() {
  std::vector<NamedParameter> out;
  CollectParameters("", out);
  return out;
}

int64_t Layer::NumParameters() {
  int64_t n = 0;
  for (const NamedParameter& p : NamedParameters()) n += p.parameter->value.numel();
  return n;
}

void Layer::RegisterParameter(std::string name, Parameter* parameter) {
  own_parameters_.emplace_back(std::move(name), parameter);
}

void Layer::RegisterChild(std::string name, Layer* child) {
  children_.emplace_back(std::move(name), child);
}

void Layer::CollectParameters(const std::string& prefix, std::vector<NamedParameter>& out) {
  for (auto& [name, p] : own_parameters_) out.push_back({absl::StrCat(prefix, name), p});
  for (auto& [name, child] : children_) child->CollectParameters(absl::StrCat(prefix, name, "."), out);
}

}  // namespace braid::nn
