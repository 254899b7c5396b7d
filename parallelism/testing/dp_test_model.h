// A small model for data-parallel tests: a chain of elementwise affine layers
// (y = x * w + b over the feature dimension) with a mean-squared-error loss.
// Elementwise math keeps the reference easy to trust, yet gradients are sums
// over rows and microbatches, so summation order shows in the low bits.
//
// Data are pure functions of the global microbatch index, so every
// data-parallel layout trains on the same microbatches.
#ifndef BRAID_PARALLELISM_TESTING_DP_TEST_MODEL_H_
#define BRAID_PARALLELISM_TESTING_DP_TEST_MODEL_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nn/context.h"
#include "nn/layer.h"
#include "nn/optimizer.h"
#include "nn/parameter.h"
#include "runtime/tensor.h"

namespace braid::parallelism::testing {

// y[r, j] = x[r, j] * w[j] + b[j]; x is [rows, features].
class AffineLayer : public nn::Layer {
 public:
  static absl::StatusOr<std::unique_ptr<AffineLayer>> Create(int64_t features);
  absl::StatusOr<runtime::Tensor> Forward(nn::Context& ctx, const runtime::Tensor& x) override;
  absl::StatusOr<runtime::Tensor> BackwardInput(nn::Context& ctx,
                                                const runtime::Tensor& dy) override;
  absl::Status BackwardWeight(nn::Context& ctx) override;
  absl::string_view kind() const override { return "Affine"; }

 protected:
  absl::Status InitializeParameter(absl::string_view name, nn::Parameter& parameter,
                                   uint64_t seed, uint64_t stream) override;

 private:
  AffineLayer() = default;
  nn::Parameter w_;
  nn::Parameter b_;
};

struct TestModelOptions {
  int layers = 3;
  int64_t features = 7;
  // Adds a parameter "unused" [5] that never gets a gradient.
  bool unused_parameter = false;
};

class TestModel : public nn::Layer {
 public:
  static absl::StatusOr<std::unique_ptr<TestModel>> Create(const TestModelOptions& options);
  absl::StatusOr<runtime::Tensor> Forward(nn::Context& ctx, const runtime::Tensor& x) override;
  absl::StatusOr<runtime::Tensor> BackwardInput(nn::Context& ctx,
                                                const runtime::Tensor& dy) override;
  absl::Status BackwardWeight(nn::Context& ctx) override;
  absl::string_view kind() const override { return "TestModel"; }

  // Forward, loss 0.5 * mean over rows of |y - target|^2, then the backward
  // layer by layer (last layer first); `after_layer(i)` runs after layer i's
  // BackwardWeight.
  absl::Status TrainMicrobatch(nn::Context& ctx, const runtime::Tensor& x,
                               const runtime::Tensor& target,
                               const std::function<void(int layer)>& after_layer = nullptr);
  int num_layers() const { return static_cast<int>(layers_.size()); }

 protected:
  absl::Status InitializeParameter(absl::string_view name, nn::Parameter& parameter,
                                   uint64_t seed, uint64_t stream) override;

 private:
  TestModel() = default;
  std::vector<std::unique_ptr<AffineLayer>> layers_;
  nn::Parameter unused_;
};

constexpr int kRows = 4;

// Input / target of global microbatch `g`: [kRows, features] in [-1, 1].
runtime::Tensor MicrobatchInput(int64_t g, int64_t features);
runtime::Tensor MicrobatchTarget(int64_t g, int64_t features);

// Every parameter's gradient (or value) by name, as host floats.
std::map<std::string, std::vector<float>> Grads(const std::vector<nn::NamedParameter>& params);
std::map<std::string, std::vector<float>> Values(const std::vector<nn::NamedParameter>& params);

// Momentum SGD with decoupled weight decay, elementwise, state per slot name:
//   v = momentum * v + g;  value -= lr * (v + weight_decay * value [if slot.weight_decay]).
class TestSgd : public nn::Optimizer {
 public:
  TestSgd(float momentum, float weight_decay) : momentum_(momentum), weight_decay_(weight_decay) {}
  absl::Status Step(absl::Span<const nn::OptimizerSlot> slots, float lr) override;
  std::vector<nn::NamedTensor> State() override;
  absl::Status LoadState(const std::vector<nn::NamedTensor>& state) override;
  int64_t steps() const override { return steps_; }

 private:
  float momentum_;
  float weight_decay_;
  int64_t steps_ = 0;
  std::map<std::string, runtime::Tensor> velocity_;
};

}  // namespace braid::parallelism::testing

#endif  // BRAID_PARALLELISM_TESTING_DP_TEST_MODEL_H_
