// End-to-end tests of braid_gpt under the real braidrun (embedded store, tcp
// backend): the loss falls, and data parallelism over 4 ranks equals
// gradient accumulation over 4 microbatches on 1 rank -- within float
// tolerance normally, bit for bit with --deterministic.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
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
// bf16 compute stays close to f32 over a few steps.
TEST(GptE2eTest, ZeroAndBf16MatchPlainDataParallel) {
  const std::string plain = ShortRun(4, {});
  ExpectNear(ShortRun(4, {"--zero", "1"}), plain, 1e-5, "zero 1");
  ExpectNear(ShortRun(4, {"--zero", "2", "--microbatches", "2"}),
             ShortRun(4, {"--microbatches", "2"}), 1e-5, "zero 2 with 2 microbatches");
  ExpectNear(ShortRun(4, {"--bf16"}), plain, 1e-2, "bf16");
}

}  // namespace
}  // namespace braid::examples
