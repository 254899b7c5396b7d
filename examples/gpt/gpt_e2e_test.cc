// End-to-end tests of braid_gpt under the real braidrun (embedded store, tcp
// backend): the loss falls, and data parallelism over 4 ranks equals
// gradient accumulation over 4 microbatches on 1 rank -- within float
// tolerance normally, bit for bit with --deterministic. Checkpoints: a run
// stopped and resumed, a run whose worker is killed and restarted by
// braidrun --max-restarts, and a resume past a corrupted newest checkpoint
// all end bit-identical to an uninterrupted run.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "examples/gpt/gpt_checkpoint.h"
#include "examples/gpt/weights_file.h"
#include "gtest/gtest.h"
#include "launcher/launcher_test_util.h"

namespace braid::examples {
namespace {

using launcher::testing::BraidrunProcess;

// A small model that learns something visible within seconds on 2 cores.
std::vector<std::string> GptArgs(int steps, const std::string& loss_log) {
  return {BRAID_GPT_PATH, "--steps", absl::StrCat(steps), "--context", "32", "--dim", "32",
          "--layers", "2", "--heads", "2", "--batch", "4", "--lr", "1e-2", "--warmup", "5",
          "--log-every", "10", "--eval-batches", "4", "--loss-log", loss_log, "--timeout", "60"};
}

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/braid_gpt_e2e_", getpid(), "_", name);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The losses of a "step,loss" log, in step order.
std::vector<double> Losses(const std::string& log) {
  std::vector<double> out;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    EXPECT_EQ(f.size(), 2u) << line;
    if (f.size() != 2) continue;
    EXPECT_EQ(std::stoi(f[0]), static_cast<int>(out.size())) << log;
    out.push_back(std::stod(f[1]));
  }
  return out;
}

// Runs braidrun with `nproc` workers running braid_gpt `args` and checks it
// succeeded within `timeout`; returns the output.
std::string RunBraidrun(int nproc, std::vector<std::string> args, absl::Duration timeout) {
  std::vector<std::string> full = {"--standalone", "--nproc-per-node", absl::StrCat(nproc)};
  full.insert(full.end(), args.begin(), args.end());
  std::unique_ptr<BraidrunProcess> p = BraidrunProcess::Start(full);
  std::optional<launcher::ExitInfo> exit = p->Wait(timeout);
  EXPECT_TRUE(exit.has_value()) << "braidrun did not finish in " << timeout << "\n"
                                << p->Output();
  if (exit.has_value()) {
    EXPECT_TRUE(exit->exited && exit->exit_code == 0) << p->Output();
  }
  return p->Output();
}

TEST(GptE2eTest, LossFallsUnderBraidrunWithFourRanks) {
  const std::string log = TempPath("loss.csv");
  const std::string weights = TempPath("weights.bin");
  std::vector<std::string> args = GptArgs(60, log);
  args.insert(args.end(), {"--save", weights, "--sample-tokens", "40"});
  const std::string output = RunBraidrun(4, args, absl::Seconds(120));
  EXPECT_NE(output.find("validation loss"), std::string::npos) << output;
  EXPECT_NE(output.find("sample (temperature"), std::string::npos) << output;

  const std::vector<double> losses = Losses(ReadAll(log));
  ASSERT_EQ(losses.size(), 60u) << output;
  double last = 0;
  for (size_t i = losses.size() - 5; i < losses.size(); ++i) last += losses[i] / 5;
  // Byte-level: starts near ln(256) = 5.55; the byte unigram alone is ~3.2.
  EXPECT_GT(losses[0], 5.0);
  EXPECT_LT(last, 0.6 * losses[0]) << "first " << losses[0] << ", mean of last 5 " << last;

  absl::StatusOr<std::vector<nn::NamedTensor>> saved = LoadWeights(weights);
  ASSERT_TRUE(saved.ok()) << saved.status();
  ASSERT_FALSE(saved->empty());
  EXPECT_EQ(saved->front().name, "wte.weight");
  EXPECT_EQ(saved->back().name, "lm_head.weight");
  std::remove(log.c_str());
  std::remove(weights.c_str());
}

// Runs a short training (`steps`) with `nproc` ranks and extra flags; returns
// the loss log's text.
std::string ShortRun(int nproc, const std::vector<std::string>& extra, int steps = 8) {
  static int runs = 0;
  const std::string log = TempPath(absl::StrCat("run", runs++, ".csv"));
  std::vector<std::string> args = GptArgs(steps, log);
  args.insert(args.end(), {"--sample-tokens", "0"});
  args.insert(args.end(), extra.begin(), extra.end());
  RunBraidrun(nproc, args, absl::Seconds(90));
  std::string text = ReadAll(log);
  std::remove(log.c_str());
  return text;
}

void ExpectNear(const std::string& got_log, const std::string& want_log, double rel,
                const std::string& what) {
  const std::vector<double> got = Losses(got_log);
  const std::vector<double> want = Losses(want_log);
  ASSERT_EQ(got.size(), want.size()) << what;
  ASSERT_FALSE(want.empty()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], rel * std::abs(want[i])) << what << ", step " << i;
  }
  // Training happened: the curve is not flat.
  EXPECT_LT(got.back(), got.front() - 0.5) << what;
}

// DP=4 with one microbatch each vs one rank with 4 microbatches: the same
// global batch of the same samples, so the same loss curve.
TEST(GptE2eTest, DataParallelEqualsAccumulation) {
  const std::string dp = ShortRun(4, {"--microbatches", "1"});
  const std::string acc = ShortRun(1, {"--microbatches", "4"});
  ExpectNear(dp, acc, 1e-4, "dp=4 vs 1 rank x 4 microbatches");
}

// With --deterministic the gradient sum follows one binary tree over the
// global microbatches, so DP=4x1, DP=2x2 and DP=1x4 print the same bits.
TEST(GptE2eTest, DeterministicDataParallelIsBitIdenticalToAccumulation) {
  const std::string dp4 = ShortRun(4, {"--microbatches", "1", "--deterministic"});
  const std::string dp2 = ShortRun(2, {"--microbatches", "2", "--deterministic"});
  const std::string acc = ShortRun(1, {"--microbatches", "4", "--deterministic"});
  const std::vector<double> losses = Losses(acc);
  ASSERT_EQ(losses.size(), 8u) << acc;
  EXPECT_LT(losses.back(), losses.front() - 0.5) << acc;
  EXPECT_EQ(dp4, acc);
  EXPECT_EQ(dp2, acc);
}

// ZeRO-1/2 shard the optimizer (and gradients) but compute the same update;
// bf16 compute and compressed gradients stay close to f32 over a few steps.
TEST(GptE2eTest, ZeroAndBf16MatchPlainDataParallel) {
  const std::string plain = ShortRun(4, {});
  ExpectNear(ShortRun(4, {"--zero", "1"}), plain, 1e-5, "zero 1");
  ExpectNear(ShortRun(4, {"--zero", "2", "--microbatches", "2"}),
             ShortRun(4, {"--microbatches", "2"}), 1e-5, "zero 2 with 2 microbatches");
  ExpectNear(ShortRun(4, {"--bf16"}), plain, 1e-2, "bf16");
  // Gradients sent as bf16 / f16 (DDP comm hooks): the loss curve stays close.
  ExpectNear(ShortRun(4, {"--compression", "bf16"}), plain, 1e-2, "bf16 gradient compression");
  ExpectNear(ShortRun(4, {"--compression", "fp16"}), plain, 1e-2, "fp16 gradient compression");
}

// ---- Checkpoints -------------------------------------------------------------

constexpr int kCkptSteps = 12;
constexpr int kCkptRanks = 2;

// The same deterministic 2-rank training everywhere below; `extra` adds
// checkpoint flags. Returns braidrun's output (or "" with a test failure).
struct CkptRun {
  std::string output;
  std::string loss_log;
  std::string weights;  // the --save file's bytes
  bool ok = false;
};

CkptRun RunCkpt(const std::string& tag, std::vector<std::string> braidrun_flags,
                const std::vector<std::string>& extra, bool expect_success = true) {
  const std::string log = TempPath(absl::StrCat(tag, "_loss.csv"));
  const std::string weights = TempPath(absl::StrCat(tag, "_weights.bin"));
  std::remove(log.c_str());
  std::remove(weights.c_str());
  std::vector<std::string> args = {"--standalone", "--nproc-per-node", absl::StrCat(kCkptRanks)};
  args.insert(args.end(), braidrun_flags.begin(), braidrun_flags.end());
  std::vector<std::string> gpt = GptArgs(kCkptSteps, log);
  gpt.insert(gpt.end(), {"--sample-tokens", "0", "--deterministic", "--save", weights});
  // `extra` adds flags or replaces the value of one already there.
  for (size_t i = 0; i < extra.size(); ++i) {
    const bool has_value = i + 1 < extra.size() && extra[i + 1].rfind("--", 0) != 0;
    auto it = std::find(gpt.begin() + 1, gpt.end(), extra[i]);
    if (it != gpt.end() && has_value && it + 1 != gpt.end()) {
      *(it + 1) = extra[++i];
      continue;
    }
    gpt.push_back(extra[i]);
    if (has_value) gpt.push_back(extra[++i]);
  }
  args.insert(args.end(), gpt.begin(), gpt.end());
  std::unique_ptr<BraidrunProcess> p = BraidrunProcess::Start(args);
  std::optional<launcher::ExitInfo> exit = p->Wait(launcher::testing::Scaled(absl::Seconds(120)));
  CkptRun run;
  run.output = p->Output();
  EXPECT_TRUE(exit.has_value()) << "braidrun did not finish\n" << run.output;
  run.ok = exit.has_value() && exit->exited && exit->exit_code == 0;
  if (expect_success) {
    EXPECT_TRUE(run.ok) << run.output;
  }
  run.loss_log = ReadAll(log);
  run.weights = ReadAll(weights);
  std::remove(log.c_str());
  std::remove(weights.c_str());
  return run;
}

// "validation loss X" of an output, or "".
std::string ValidationLine(const std::string& output) {
  const size_t at = output.find("validation loss");
  if (at == std::string::npos) return "";
  return output.substr(at, output.find('\n', at) - at);
}

class GptCheckpointE2eTest : public ::testing::Test {
 protected:
  // The uninterrupted reference, run once per process.
  static const CkptRun& Reference() {
    static const CkptRun* reference = new CkptRun(RunCkpt("reference", {}, {}));
    return *reference;
  }
  void SetUp() override {
    dir_ = TempPath(absl::StrCat("ckpt_", ::testing::UnitTest::GetInstance()->current_test_info()
                                              ->name()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Checks a run against the reference: the whole loss log, the final
  // weights and the validation loss are bit-identical.
  void ExpectSameAsReference(const CkptRun& run, const std::string& what) {
    ExpectSame(run, Reference(), what);
  }
  void ExpectSame(const CkptRun& run, const CkptRun& ref, const std::string& what) {
    ASSERT_TRUE(ref.ok);
    ASSERT_EQ(Losses(ref.loss_log).size(), static_cast<size_t>(kCkptSteps)) << ref.output;
    EXPECT_LT(Losses(ref.loss_log).back(), Losses(ref.loss_log).front() - 0.5) << ref.loss_log;
    EXPECT_EQ(run.loss_log, ref.loss_log) << what << "\n" << run.output;
    EXPECT_FALSE(ValidationLine(ref.output).empty()) << ref.output;
    EXPECT_EQ(ValidationLine(run.output), ValidationLine(ref.output)) << what;
    EXPECT_FALSE(ref.weights.empty());
    EXPECT_TRUE(run.weights == ref.weights) << what << ": final weights differ";
  }

  std::string dir_;
};

// Save every 4 steps, stop after 8, resume to 12: the same bits as 12 steps
// in one go.
TEST_F(GptCheckpointE2eTest, StopAndResumeIsBitIdentical) {
  const CkptRun first =
      RunCkpt("first", {}, {"--save-dir", dir_, "--save-every", "4", "--stop-after", "8"});
  EXPECT_NE(first.output.find("stopped after step 8 of 12"), std::string::npos) << first.output;
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/step-8/MANIFEST"));
  EXPECT_EQ(Losses(first.loss_log).size(), 8u);
  const CkptRun second =
      RunCkpt("second", {}, {"--save-dir", dir_, "--save-every", "4", "--resume"});
  EXPECT_NE(second.output.find("resume: from " + dir_ + "/step-8, continuing at step 8"),
            std::string::npos)
      << second.output;
  ExpectSameAsReference(second, "stopped at 8 and resumed");
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/step-12/MANIFEST"));
}

// ZeRO-2 shards the optimizer state per rank and bf16 keeps compute copies:
// each rank saves and reloads its own shard; still the same bits.
TEST_F(GptCheckpointE2eTest, ZeroBf16StopAndResumeIsBitIdentical) {
  const std::vector<std::string> flags = {"--zero", "2", "--bf16", "--microbatches", "2"};
  const CkptRun ref = RunCkpt("zero_reference", {}, flags);
  std::vector<std::string> first_flags = flags;
  first_flags.insert(first_flags.end(),
                     {"--save-dir", dir_, "--save-every", "4", "--stop-after", "6"});
  RunCkpt("zero_first", {}, first_flags);
  std::vector<std::string> second_flags = flags;
  second_flags.insert(second_flags.end(), {"--save-dir", dir_, "--save-every", "4", "--resume"});
  const CkptRun second = RunCkpt("zero_second", {}, second_flags);
  EXPECT_NE(second.output.find("resume: from " + dir_ + "/step-6, continuing at step 6"),
            std::string::npos)
      << second.output;
  ExpectSame(second, ref, "zero 2 + bf16, stopped at 6 and resumed");
  // The optimizer state is sharded: 1 rank cannot take it over.
  std::unique_ptr<BraidrunProcess> one = BraidrunProcess::Start(
      {"--standalone", "--nproc-per-node", "1", BRAID_GPT_PATH, "--context", "32", "--dim", "32",
       "--layers", "2", "--heads", "2", "--zero", "2", "--save-dir", dir_, "--resume"});
  std::optional<launcher::ExitInfo> exit = one->Wait(launcher::testing::Scaled(absl::Seconds(60)));
  ASSERT_TRUE(exit.has_value()) << one->Output();
  EXPECT_FALSE(exit->exited && exit->exit_code == 0) << one->Output();
  EXPECT_NE(one->Output().find("with --zero 2 (optimizer state sharded per rank), this run has 1 "
                               "ranks: resume with 2 ranks"),
            std::string::npos)
      << one->Output();
}

// A worker SIGKILLs itself at step 6; braidrun restarts the group, which
// resumes from step 4 and ends as if nothing had happened.
TEST_F(GptCheckpointE2eTest, KilledWorkerRestartsAndResumesBitIdentical) {
  const CkptRun run = RunCkpt("killed", {"--max-restarts", "1"},
                              {"--save-dir", dir_, "--save-every", "4", "--resume",
                               "--die-at-step", "6", "--die-rank", "1"});
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/died-at-step-6-rank-1")) << run.output;
  EXPECT_NE(run.output.find("resume: no checkpoint"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("resume: from " + dir_ + "/step-4, continuing at step 4"),
            std::string::npos)
      << run.output;
  ExpectSameAsReference(run, "killed at step 6, restarted by braidrun");
}

// The newest checkpoint is damaged (one flipped byte): resume refuses it,
// says so, takes the previous one and still ends identical.
TEST_F(GptCheckpointE2eTest, CorruptNewestCheckpointFallsBackToPrevious) {
  RunCkpt("before", {}, {"--save-dir", dir_, "--save-every", "4", "--stop-after", "8"});
  const std::string shard = dir_ + "/step-8/rank-0.bin";
  std::string bytes = ReadAll(shard);
  ASSERT_GT(bytes.size(), 1000u);
  bytes[bytes.size() / 3] ^= 0x10;
  {
    std::ofstream out(shard, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  const CkptRun resumed =
      RunCkpt("after", {}, {"--save-dir", dir_, "--save-every", "4", "--resume"});
  EXPECT_NE(resumed.output.find("refusing " + dir_ + "/step-8"), std::string::npos)
      << resumed.output;
  EXPECT_NE(resumed.output.find("resume: refused newer checkpoint step-8: "), std::string::npos)
      << resumed.output;
  EXPECT_NE(resumed.output.find("resume: from " + dir_ + "/step-4, continuing at step 4"),
            std::string::npos)
      << resumed.output;
  ExpectSameAsReference(resumed, "resumed past a corrupt step-8");
}

// Another model cannot resume from the checkpoint: a clear error, no training.
TEST_F(GptCheckpointE2eTest, ModelMismatchIsRefused) {
  RunCkpt("small", {}, {"--save-dir", dir_, "--stop-after", "2"});
  const CkptRun other =
      RunCkpt("other", {}, {"--save-dir", dir_, "--resume", "--dim", "16"}, false);
  EXPECT_FALSE(other.ok);
  EXPECT_NE(other.output.find("checkpoint was written for another model (model/dim saved 32, "
                              "now 16"),
            std::string::npos)
      << other.output;
}

TEST(GptCheckpointConfigTest, WhatMustMatchAndWhatOnlyWarns) {
  GptTrainOptions o;
  const auto saved = GptConfig(o, 2);
  std::vector<std::string> warnings;
  EXPECT_TRUE(CheckGptConfig(saved, 2, GptConfig(o, 2), 2, &warnings).ok());
  EXPECT_TRUE(warnings.empty());
  // Without ZeRO another world size resumes, with a warning.
  EXPECT_TRUE(CheckGptConfig(saved, 2, GptConfig(o, 4), 4, &warnings).ok());
  EXPECT_FALSE(warnings.empty());
  GptTrainOptions changed = o;
  changed.lr = 1e-3f;
  changed.seed = 7;
  warnings.clear();
  EXPECT_TRUE(CheckGptConfig(saved, 2, GptConfig(changed, 2), 2, &warnings).ok());
  EXPECT_EQ(warnings.size(), 2u);
  changed = o;
  changed.num_layers = 3;
  EXPECT_EQ(CheckGptConfig(saved, 2, GptConfig(changed, 2), 2, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  // mlp_hidden 0 means 4 x dim: the same model.
  changed = o;
  changed.mlp_hidden = 4 * o.dim;
  EXPECT_TRUE(CheckGptConfig(saved, 2, GptConfig(changed, 2), 2, nullptr).ok());
  // ZeRO: the optimizer state is per rank.
  GptTrainOptions zero = o;
  zero.zero = 1;
  EXPECT_EQ(CheckGptConfig(saved, 2, GptConfig(zero, 2), 2, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status resharded =
      CheckGptConfig(GptConfig(zero, 2), 2, GptConfig(zero, 4), 4, nullptr);
  EXPECT_EQ(resharded.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(resharded.message().find("resume with 2 ranks"), absl::string_view::npos) << resharded;
  EXPECT_TRUE(CheckGptConfig(GptConfig(zero, 2), 2, GptConfig(zero, 2), 2, nullptr).ok());
}

}  // namespace
}  // namespace braid::examples
