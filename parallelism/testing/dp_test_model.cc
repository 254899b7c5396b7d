#include "parallelism/testing/dp_test_model.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/status_macros.h"

namespace braid::parallelism::testing {
namespace {

using runtime::DType;
using runtime::Tensor;

// splitmix64: a well-mixed pure function of its input.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A float in [lo, hi) from (a, b, i) with a full 24-bit mantissa.
float Uniform(uint64_t a, uint64_t b, uint64_t i, float lo, float hi) {
  const uint64_t h = Mix(a ^ Mix(b ^ Mix(i)));
  const float u = static_cast<float>(h >> 40) / static_cast<float>(1ull << 24);
  return lo + (hi - lo) * u;
}

Tensor Random(uint64_t a, uint64_t b, int64_t rows, int64_t features) {
  Tensor t = *Tensor::Empty({rows, features}, DType::kF32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < rows * features; ++i) p[i] = Uniform(a, b, i, -1.0f, 1.0f);
  return t;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AffineLayer>> AffineLayer::Create(int64_t features) {
  std::unique_ptr<AffineLayer> layer(new AffineLayer());
  BRAID_ASSIGN_OR_RETURN(layer->w_, nn::MakeParameter({features}, runtime::Device::Cpu()));
  BRAID_ASSIGN_OR_RETURN(layer->b_, nn::MakeParameter({features}, runtime::Device::Cpu(),
                                                      /*weight_decay=*/false));
  layer->RegisterParameter("weight", &layer->w_);
  layer->RegisterParameter("bias", &layer->b_);
  return layer;
}

absl::Status AffineLayer::InitializeParameter(absl::string_view name, nn::Parameter& p,
                                              uint64_t seed, uint64_t stream) {
  const bool weight = name == "weight";
  float* v = p.value.data<float>();
  for (int64_t i = 0; i < p.value.numel(); ++i) {
    v[i] = weight ? Uniform(seed, stream, i, 0.5f, 1.5f) : Uniform(seed, stream, i, -0.1f, 0.1f);
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> AffineLayer::Forward(nn::Context& ctx, const Tensor& x) {
  const int64_t f = w_.value.numel();
  if (x.ndim() != 2 || x.dim(1) != f) {
    return absl::InvalidArgumentError(absl::StrCat("Affine: input ", runtime::ShapeToString(x.shape())));
  }
  BRAID_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(x.shape(), DType::kF32));
  const float* w = w_.value.data<float>();
  const float* b = b_.value.data<float>();
  for (int64_t r = 0; r < x.dim(0); ++r) {
    for (int64_t j = 0; j < f; ++j) {
      y.data<float>()[r * f + j] = x.data<float>()[r * f + j] * w[j] + b[j];
    }
  }
  if (ctx.training()) ctx.Save(this, {x});
  return y;
}

absl::StatusOr<Tensor> AffineLayer::BackwardInput(nn::Context& ctx, const Tensor& dy) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "Affine::BackwardInput"));
  const Tensor x = saved[0];
  const int64_t f = w_.value.numel();
  BRAID_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty(dy.shape(), DType::kF32));
  const float* w = w_.value.data<float>();
  for (int64_t i = 0; i < dy.numel(); ++i) dx.data<float>()[i] = dy.data<float>()[i] * w[i % f];
  ctx.Save(this, {x, dy});
  return dx;
}

absl::Status AffineLayer::BackwardWeight(nn::Context& ctx) {
  BRAID_ASSIGN_OR_RETURN(auto saved, ctx.Saved(this, "Affine::BackwardWeight"));
  if (saved.size() != 2) return absl::FailedPreconditionError("Affine: BackwardInput first");
  const Tensor x = saved[0];
  const Tensor dy = saved[1];
  const int64_t f = w_.value.numel();
  float* gw = w_.grad.data<float>();
  float* gb = b_.grad.data<float>();
  for (int64_t r = 0; r < x.dim(0); ++r) {
    for (int64_t j = 0; j < f; ++j) {
      gw[j] += dy.data<float>()[r * f + j] * x.data<float>()[r * f + j];
      gb[j] += dy.data<float>()[r * f + j];
    }
  }
  ctx.Release(this);
  ctx.GradientReady(w_);
  ctx.GradientReady(b_);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TestModel>> TestModel::Create(const TestModelOptions& options) {
  std::unique_ptr<TestModel> model(new TestModel());
  for (int i = 0; i < options.layers; ++i) {
    BRAID_ASSIGN_OR_RETURN(auto layer, AffineLayer::Create(options.features));
    model->layers_.push_back(std::move(layer));
  }
  if (options.unused_parameter) {
    BRAID_ASSIGN_OR_RETURN(model->unused_, nn::MakeParameter({5}, runtime::Device::Cpu()));
    model->RegisterParameter("unused", &model->unused_);
  }
  for (int i = 0; i < options.layers; ++i) {
    model->RegisterChild(absl::StrCat("layers.", i), model->layers_[i].get());
  }
  return model;
}

absl::Status TestModel::InitializeParameter(absl::string_view, nn::Parameter& p, uint64_t,
                                            uint64_t) {
  return p.value.Fill(0.25);
}

absl::StatusOr<Tensor> TestModel::Forward(nn::Context& ctx, const Tensor& x) {
  Tensor h = x;
  for (auto& layer : layers_) {
    BRAID_ASSIGN_OR_RETURN(h, layer->Forward(ctx, h));
  }
  return h;
}

absl::StatusOr<Tensor> TestModel::BackwardInput(nn::Context& ctx, const Tensor& dy) {
  Tensor d = dy;
  for (int i = num_layers() - 1; i >= 0; --i) {
    BRAID_ASSIGN_OR_RETURN(d, layers_[i]->BackwardInput(ctx, d));
  }
  return d;
}

absl::Status TestModel::BackwardWeight(nn::Context& ctx) {
  for (int i = num_layers() - 1; i >= 0; --i) {
    BRAID_RETURN_IF_ERROR(layers_[i]->BackwardWeight(ctx));
  }
  return absl::OkStatus();
}

absl::Status TestModel::TrainMicrobatch(nn::Context& ctx, const Tensor& x, const Tensor& target,
                                        const std::function<void(int)>& after_layer) {
  BRAID_ASSIGN_OR_RETURN(Tensor y, Forward(ctx, x));
  BRAID_ASSIGN_OR_RETURN(Tensor d, Tensor::Empty(y.shape(), DType::kF32));
  const float inv_rows = 1.0f / static_cast<float>(y.dim(0));
  for (int64_t i = 0; i < y.numel(); ++i) {
    d.data<float>()[i] = (y.data<float>()[i] - target.data<float>()[i]) * inv_rows;
  }
  for (int i = num_layers() - 1; i >= 0; --i) {
    BRAID_ASSIGN_OR_RETURN(d, layers_[i]->BackwardInput(ctx, d));
    BRAID_RETURN_IF_ERROR(layers_[i]->BackwardWeight(ctx));
    if (after_layer) after_layer(i);
  }
  return absl::OkStatus();
}

Tensor MicrobatchInput(int64_t g, int64_t features) { return Random(1, g, kRows, features); }
Tensor MicrobatchTarget(int64_t g, int64_t features) { return Random(2, g, kRows, features); }

namespace {
std::map<std::string, std::vector<float>> Collect(const std::vector<nn::NamedParameter>& params,
                                                  bool grads) {
  std::map<std::string, std::vector<float>> out;
  for (const nn::NamedParameter& p : params) {
    const Tensor& t = grads ? p.parameter->grad : p.parameter->value;
    out[p.name].assign(t.data<float>(), t.data<float>() + t.numel());
  }
  return out;
}
}  // namespace

std::map<std::string, std::vector<float>> Grads(const std::vector<nn::NamedParameter>& params) {
  return Collect(params, true);
}
std::map<std::string, std::vector<float>> Values(const std::vector<nn::NamedParameter>& params) {
  return Collect(params, false);
}

absl::Status TestSgd::Step(absl::Span<const nn::OptimizerSlot> slots, float lr) {
  for (const nn::OptimizerSlot& slot : slots) {
    auto it = velocity_.find(slot.name);
    if (it == velocity_.end()) {
      BRAID_ASSIGN_OR_RETURN(Tensor v, Tensor::Zeros(slot.value.shape(), DType::kF32));
      it = velocity_.emplace(slot.name, v).first;
    }
    if (it->second.numel() != slot.value.numel()) {
      return absl::InvalidArgumentError(absl::StrCat("TestSgd: slot ", slot.name, " changed size"));
    }
    float* v = it->second.data<float>();
    float* value = slot.value.data<float>();
    const float* g = slot.grad.data<float>();
    for (int64_t i = 0; i < slot.value.numel(); ++i) {
      v[i] = momentum_ * v[i] + g[i];
      const float decay = slot.weight_decay ? weight_decay_ * value[i] : 0.0f;
      value[i] -= lr * (v[i] + decay);
    }
  }
  ++steps_;
  return absl::OkStatus();
}

std::vector<nn::NamedTensor> TestSgd::State() {
  std::vector<nn::NamedTensor> out;
  for (auto& [name, t] : velocity_) out.push_back({absl::StrCat(name, "/momentum"), t});
  return out;
}

absl::Status TestSgd::LoadState(const std::vector<nn::NamedTensor>& state) {
  std::map<std::string, Tensor> loaded;
  for (const nn::NamedTensor& t : state) {
    const size_t slash = t.name.rfind("/momentum");
    if (slash == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("TestSgd: unknown state ", t.name));
    }
    BRAID_ASSIGN_OR_RETURN(loaded[t.name.substr(0, slash)], t.tensor.Clone());
  }
  velocity_ = std::move(loaded);
  return absl::OkStatus();
}

}  // namespace braid::parallelism::testing
