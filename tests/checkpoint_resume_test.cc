// Exact resume with a real model and optimizer: training 6 steps straight
// and training 3, saving, restoring into a fresh model and optimizer and
// training 3 more give bit-identical parameters and optimizer state. Also the
// pattern examples/gpt wires in (model/ and optim/ prefixes).
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "elastic/checkpoint/checkpointer.h"
#include "elastic/checkpoint/test_dir.h"
#include "gtest/gtest.h"
#include "nn/adamw.h"
#include "nn/linear.h"
#include "nn/parameter.h"

namespace braid::elastic::checkpoint {
namespace {

using runtime::DType;
using runtime::Tensor;

constexpr uint64_t kSeed = 42;

struct Trainer {
  std::unique_ptr<nn::Linear> model;
  std::unique_ptr<nn::AdamW> adamw;
  int64_t step = 0;
};

Trainer MakeTrainer() {
  Trainer t;
  t.model = *nn::Linear::Create({.in_features = 8, .out_features = 4});
  EXPECT_TRUE(t.model->Initialize(kSeed).ok());
  t.adamw = *nn::AdamW::Create({.weight_decay = 0.1f});
  return t;
}

// One step on data that depends only on the step: loss = 0.5 * |y - target|^2.
void TrainStep(Trainer& t) {
  Tensor x = *Tensor::Empty({3, 8}, DType::kF32);
  for (int i = 0; i < 24; ++i)
    x.data<float>()[i] = 0.1f * static_cast<float>((i * 7 + t.step) % 11);
  const std::vector<nn::NamedParameter> params = t.model->NamedParameters();
  ASSERT_TRUE(nn::ZeroGradients(params).ok());
  nn::Context ctx;
  Tensor y = *t.model->Forward(ctx, x);
  Tensor dy = *y.Clone();
  for (int64_t i = 0; i < dy.numel(); ++i) dy.data<float>()[i] -= static_cast<float>(i % 3);
  ASSERT_TRUE(t.model->Backward(ctx, dy).ok());
  ASSERT_TRUE(t.adamw->Step(nn::SlotsOf(params), 0.01f).ok());
  ++t.step;
}

// The save side of the wiring.
Checkpoint Capture(Trainer& t) {
  Checkpoint c;
  c.step = t.step;
  for (const nn::NamedParameter& p : t.model->NamedParameters()) {
    c.tensors.push_back({absl::StrCat("model/", p.name), p.parameter->value});
  }
  for (const nn::NamedTensor& s : t.adamw->State()) {
    c.tensors.push_back({absl::StrCat("optim/", s.name), s.tensor});
  }
  c.values["seed"] = kSeed;
  c.config.emplace("in_features", "8");  // (not operator=: a gcc 12 false -Wrestrict)
  return c;
}

// The load side of the wiring.
absl::Status Restore(const LoadedCheckpoint& loaded, Trainer& t) {
  std::vector<NamedTensor> targets;
  for (const nn::NamedParameter& p : t.model->NamedParameters()) {
    targets.push_back({p.name, p.parameter->value});
  }
  absl::Status s =
      AssignTensors(WithPrefix(loaded.checkpoint.tensors, "model/"), targets, /*exact=*/true);
  if (!s.ok()) return s;
  std::vector<nn::NamedTensor> state;
  for (NamedTensor& nt : WithPrefix(loaded.checkpoint.tensors, "optim/")) {
    state.push_back({nt.name, nt.tensor});
  }
  s = t.adamw->LoadState(state);
  if (!s.ok()) return s;
  t.step = loaded.checkpoint.step;
  return absl::OkStatus();
}

TEST(ResumeTest, ResumedTrainingIsBitIdentical) {
  Trainer straight = MakeTrainer();
  for (int i = 0; i < 6; ++i) TrainStep(straight);

  ScopedTestDir dir;
  auto ckptr = *Checkpointer::Create({.directory = dir.path()});
  {
    Trainer first = MakeTrainer();
    for (int i = 0; i < 3; ++i) TrainStep(first);
    ASSERT_TRUE(ckptr->Save(Capture(first)).ok());
    TrainStep(first);  // progress after the save is lost, as in a crash
  }
  Trainer resumed = MakeTrainer();
  auto loaded = ckptr->LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->checkpoint.values.at("seed"), kSeed);
  ASSERT_TRUE(Restore(*loaded, resumed).ok());
  EXPECT_EQ(resumed.step, 3);
  EXPECT_EQ(resumed.adamw->steps(), 3);
  while (resumed.step < 6) TrainStep(resumed);

  const Checkpoint a = Capture(straight);
  const Checkpoint b = Capture(resumed);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].name, b.tensors[i].name);
    EXPECT_TRUE(runtime::BitwiseEqual(a.tensors[i].tensor, b.tensors[i].tensor))
        << a.tensors[i].name;
  }
}

TEST(ResumeTest, ModelOfAnotherShapeIsRefusedByName) {
  ScopedTestDir dir;
  auto ckptr = *Checkpointer::Create({.directory = dir.path()});
  Trainer t = MakeTrainer();
  TrainStep(t);
  ASSERT_TRUE(ckptr->Save(Capture(t)).ok());
  Trainer other;
  other.model = *nn::Linear::Create({.in_features = 8, .out_features = 5});
  other.adamw = *nn::AdamW::Create({});
  absl::Status s = Restore(*ckptr->LoadLatest(), other);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("[4, 8]"), std::string::npos) << s;
}

}  // namespace
}  // namespace braid::elastic::checkpoint
