// Test helpers for nn/ layers (header-only, GoogleTest): finite-difference
// gradient checks of a whole layer and the properties every layer shares --
// the split backward equals Backward, gradients accumulate over microbatches,
// microbatches may be in flight in several Contexts, a backward without its
// forward fails, and the backward frees what the forward saved.
//
// The loss is L = sum(w * y) for a fixed random w, in double, from the
// layer's own f32 forward (kernels/testing/gradcheck.h explains the step and
// tolerances). Parameters are perturbed through Parameter::value, which is
// the compute tensor in f32. Not thread-safe.
#ifndef BRAID_NN_TESTING_LAYER_TESTING_H_
#define BRAID_NN_TESTING_LAYER_TESTING_H_

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/testing/gradcheck.h"
#include "nn/context.h"
#include "nn/layer.h"
#include "runtime/tensor.h"

namespace braid::nn::testing {

using kernels::testing::GradientsClose;
using kernels::testing::NumericalGradient;
using kernels::testing::RandomTensor;
using kernels::testing::RandomWeights;
using kernels::testing::Values;
using kernels::testing::WeightedSum;

// w as an f32 tensor of `shape`.
inline runtime::Tensor WeightTensor(const std::vector<double>& w, runtime::Shape shape,
                                    runtime::DType dtype = runtime::DType::kF32) {
  return kernels::testing::TensorOf(std::vector<float>(w.begin(), w.end()), std::move(shape),
                                    dtype);
}

// sum(w * layer(x)) with a fresh Context (nothing saved is kept).
inline double LayerLoss(Layer& layer, const runtime::Tensor& x, const std::vector<double>& w) {
  Context ctx({.training = false});
  absl::StatusOr<runtime::Tensor> y = layer.Forward(ctx, x);
  EXPECT_TRUE(y.ok()) << y.status();
  return y.ok() ? WeightedSum(*y, w) : 0.0;
}

struct LayerGrads {
  std::vector<double> dx;                   // empty when the input has no gradient
  std::vector<std::vector<double>> params;  // in NamedParameters order
};

// Zeroes the grads, runs Forward then (split or whole) backward with dy = w,
// and returns dx and the parameter gradients. Checks nothing stays saved.
inline LayerGrads AnalyticGrads(Layer& layer, const runtime::Tensor& x,
                                const std::vector<double>& w, bool split, uint64_t rng_stream = 0) {
  LayerGrads out;
  EXPECT_TRUE(ZeroGradients(layer.NamedParameters()).ok());
  Context ctx({.rng_seed = 7, .rng_stream = rng_stream});
  absl::StatusOr<runtime::Tensor> y = layer.Forward(ctx, x);
  EXPECT_TRUE(y.ok()) << y.status();
  if (!y.ok()) return out;
  runtime::Tensor dy = WeightTensor(w, y->shape(), y->dtype());
  absl::StatusOr<runtime::Tensor> dx;
  if (split) {
    dx = layer.BackwardInput(ctx, dy);
    EXPECT_TRUE(dx.ok()) << dx.status();
    absl::Status s = layer.BackwardWeight(ctx);
    EXPECT_TRUE(s.ok()) << s;
  } else {
    dx = layer.Backward(ctx, dy);
    EXPECT_TRUE(dx.ok()) << dx.status();
  }
  EXPECT_EQ(ctx.num_saved(), 0u) << "the backward left saved tensors in the Context";
  if (dx.ok() && dx->defined()) out.dx = Values(*dx);
  for (const NamedParameter& p : layer.NamedParameters())
    out.params.push_back(Values(p.parameter->grad));
  return out;
}

// Checks dx (when x is floating point) and every parameter gradient against
// central differences.
inline void ExpectFiniteDifferences(Layer& layer, const runtime::Tensor& x, uint32_t seed,
                                    double atol = 2e-3, double rtol = 1e-2, double h = 5e-3) {
  Context probe({.training = false});
  absl::StatusOr<runtime::Tensor> y = layer.Forward(probe, x);
  ASSERT_TRUE(y.ok()) << y.status();
  const std::vector<double> w = RandomWeights(y->numel(), seed);
  const LayerGrads g = AnalyticGrads(layer, x, w, /*split=*/true);
  auto loss = [&] { return LayerLoss(layer, x, w); };
  if (runtime::IsFloatingPoint(x.dtype())) {
    EXPECT_TRUE(GradientsClose(g.dx, NumericalGradient(x, loss, h), atol, rtol)) << "input";
  } else {
    EXPECT_TRUE(g.dx.empty());
  }
  const std::vector<NamedParameter> params = layer.NamedParameters();
  ASSERT_EQ(params.size(), g.params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(GradientsClose(g.params[i], NumericalGradient(params[i].parameter->value, loss, h),
                               atol, rtol))
        << params[i].name;
  }
}

// BackwardInput + BackwardWeight give exactly what Backward gives.
inline void ExpectSplitEqualsWhole(Layer& layer, const runtime::Tensor& x, uint32_t seed) {
  Context probe({.training = false});
  absl::StatusOr<runtime::Tensor> y = layer.Forward(probe, x);
  ASSERT_TRUE(y.ok()) << y.status();
  const std::vector<double> w = RandomWeights(y->numel(), seed);
  const LayerGrads split = AnalyticGrads(layer, x, w, true);
  const LayerGrads whole = AnalyticGrads(layer, x, w, false);
  EXPECT_EQ(split.dx, whole.dx);
  EXPECT_EQ(split.params, whole.params);
}

// Two microbatches: run one after the other (F1 B1 F2 B2) and interleaved in
// two Contexts (F1 F2 B2 B1, the weight passes deferred as a zero-bubble
// schedule would); both give grad(x1) + grad(x2), and each dx equals the
// single-microbatch dx.
inline void ExpectMicrobatchesAccumulate(Layer& layer, const runtime::Tensor& x1,
                                         const runtime::Tensor& x2, uint32_t seed) {
  Context probe({.training = false});
  absl::StatusOr<runtime::Tensor> y = layer.Forward(probe, x1);
  ASSERT_TRUE(y.ok()) << y.status();
  const std::vector<double> w1 = RandomWeights(y->numel(), seed);
  const std::vector<double> w2 = RandomWeights(y->numel(), seed + 1);
  const LayerGrads g1 = AnalyticGrads(layer, x1, w1, true, 1);
  const LayerGrads g2 = AnalyticGrads(layer, x2, w2, true, 2);

  ASSERT_TRUE(ZeroGradients(layer.NamedParameters()).ok());
  Context c1({.microbatch = 0, .rng_seed = 7, .rng_stream = 1});
  Context c2({.microbatch = 1, .rng_seed = 7, .rng_stream = 2});
  absl::StatusOr<runtime::Tensor> y1 = layer.Forward(c1, x1);
  absl::StatusOr<runtime::Tensor> y2 = layer.Forward(c2, x2);
  ASSERT_TRUE(y1.ok() && y2.ok());
  absl::StatusOr<runtime::Tensor> dx2 =
      layer.BackwardInput(c2, WeightTensor(w2, y2->shape(), y2->dtype()));
  absl::StatusOr<runtime::Tensor> dx1 =
      layer.BackwardInput(c1, WeightTensor(w1, y1->shape(), y1->dtype()));
  ASSERT_TRUE(dx1.ok()) << dx1.status();
  ASSERT_TRUE(dx2.ok()) << dx2.status();
  ASSERT_TRUE(layer.BackwardWeight(c2).ok());
  ASSERT_TRUE(layer.BackwardWeight(c1).ok());
  EXPECT_EQ(c1.num_saved(), 0u);
  EXPECT_EQ(c2.num_saved(), 0u);
  if (dx1->defined()) {
    EXPECT_EQ(Values(*dx1), g1.dx);
    EXPECT_EQ(Values(*dx2), g2.dx);
  }
  const std::vector<NamedParameter> params = layer.NamedParameters();
  for (size_t i = 0; i < params.size(); ++i) {
    std::vector<double> sum(g1.params[i].size());
    for (size_t j = 0; j < sum.size(); ++j) sum[j] = g1.params[i][j] + g2.params[i][j];
    EXPECT_TRUE(kernels::testing::ValuesClose(Values(params[i].parameter->grad), sum, 1e-5, 1e-5))
        << params[i].name;
  }
}

// A backward without its forward, BackwardInput twice and BackwardWeight
// before BackwardInput are kFailedPrecondition.
inline void ExpectBackwardOrderChecked(Layer& layer, const runtime::Tensor& x) {
  Context probe({.training = false});
  absl::StatusOr<runtime::Tensor> y = layer.Forward(probe, x);
  ASSERT_TRUE(y.ok()) << y.status();
  runtime::Tensor dy = kernels::testing::RandomTensor(y->shape(), 3, y->dtype());
  {
    Context ctx;
    EXPECT_EQ(layer.BackwardInput(ctx, dy).status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(layer.BackwardWeight(ctx).code(), absl::StatusCode::kFailedPrecondition);
  }
  {
    Context ctx;
    ASSERT_TRUE(layer.Forward(ctx, x).ok());
    EXPECT_EQ(layer.BackwardWeight(ctx).code(), absl::StatusCode::kFailedPrecondition);
    ASSERT_TRUE(layer.BackwardInput(ctx, dy).ok());
    EXPECT_EQ(layer.BackwardInput(ctx, dy).status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(layer.BackwardWeight(ctx).ok());
    EXPECT_EQ(ctx.num_saved(), 0u);
    EXPECT_EQ(layer.BackwardWeight(ctx).code(), absl::StatusCode::kFailedPrecondition);
  }
  {
    Context ctx({.training = false});
    ASSERT_TRUE(layer.Forward(ctx, x).ok());
    EXPECT_EQ(ctx.num_saved(), 0u) << "inference must not keep activations";
    EXPECT_EQ(layer.BackwardInput(ctx, dy).status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

// Records the parameters GradientReady was called for.
class RecordingHook : public GradientHook {
 public:
  void OnGradientReady(Parameter& parameter) override { ready.push_back(&parameter); }
  std::vector<Parameter*> ready;
};

// Every parameter is reported ready exactly once per BackwardWeight.
inline void ExpectEveryGradientReported(Layer& layer, const runtime::Tensor& x) {
  RecordingHook hook;
  Context ctx({.gradient_hook = &hook});
  absl::StatusOr<runtime::Tensor> y = layer.Forward(ctx, x);
  ASSERT_TRUE(y.ok()) << y.status();
  runtime::Tensor dy = kernels::testing::RandomTensor(y->shape(), 3, y->dtype());
  ASSERT_TRUE(layer.Backward(ctx, dy).ok());
  const std::vector<NamedParameter> params = layer.NamedParameters();
  EXPECT_EQ(hook.ready.size(), params.size());
  for (const NamedParameter& p : params) {
    EXPECT_EQ(std::count(hook.ready.begin(), hook.ready.end(), p.parameter), 1) << p.name;
  }
}

}  // namespace braid::nn::testing

#endif  // BRAID_NN_TESTING_LAYER_TESTING_H_
