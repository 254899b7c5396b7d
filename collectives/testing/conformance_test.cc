// Tests of the conformance library itself: its reference values, and that its
// checks pass a correct communicator and catch a wrong one. The communicator
// here is a one-rank loopback (every collective of one rank is a copy), the
// smallest correct implementation; the real backends run the suite in their
// own tests (mpi under mpiexec, tcp under RunRanks, nccl on a GPU).
#include "collectives/testing/conformance.h"

#include <cmath>
#include <memory>

#include "absl/strings/match.h"
#include "collectives/pre_mul_sum.h"
#include "gtest/gtest.h"
#include "runtime/tensor.h"

namespace braid::collectives::testing {
namespace {

using runtime::DType;
using runtime::Tensor;

// A correct Communicator of size 1, with an optional injected bug.
class LoopbackCommunicator final : public Communicator {
 public:
  enum class Bug { kNone, kCorruptAllReduceElement3, kFailAllGather };
  explicit LoopbackCommunicator(Bug bug = Bug::kNone) : bug_(bug) {}

  int rank() const override { return 0; }
  int size() const override { return 1; }
  int64_t epoch() const override { return 0; }
  absl::string_view backend() const override { return "loopback"; }
  Capabilities capabilities() const override { return {.cpu_tensors = true}; }

  std::shared_ptr<Work> AllReduce(const Tensor& in, const Tensor& out, ReduceOp) override {
    if (in.numel() != out.numel() || in.dtype() != out.dtype()) return Invalid();
    absl::Status s = Copy(in, out);
    if (s.ok() && bug_ == Bug::kCorruptAllReduceElement3 && out.numel() > 3) {
      auto slot = out.Slice(0, 3, 4);
      if (slot.ok())
        s = slot->Fill(99);
      else
        s = slot.status();
    }
    return SettableWork::Done(s);
  }
  std::shared_ptr<Work> ReduceScatter(const Tensor& in, const Tensor& out, ReduceOp) override {
    if (in.numel() != out.numel() || in.dtype() != out.dtype()) return Invalid();
    return SettableWork::Done(Copy(in, out));
  }
  std::shared_ptr<Work> AllGather(const Tensor& in, const Tensor& out) override {
    if (bug_ == Bug::kFailAllGather) {
      return SettableWork::Done(absl::AbortedError("injected: peer 7 died"));
    }
    return SettableWork::Done(Copy(in, out));
  }
  std::shared_ptr<Work> Broadcast(const Tensor&, int root) override {
    return root == 0 ? SettableWork::Done(absl::OkStatus()) : Invalid();
  }
  std::shared_ptr<Work> Reduce(const Tensor& in, const Tensor& out, ReduceOp, int root) override {
    if (root != 0) return Invalid();
    return SettableWork::Done(Copy(in, out));
  }
  std::shared_ptr<Work> AllToAll(const Tensor& in, const Tensor& out) override {
    return SettableWork::Done(Copy(in, out));
  }
  std::shared_ptr<Work> AllToAllV(const Tensor& in, absl::Span<const int64_t> send_counts,
                                  const Tensor& out,
                                  absl::Span<const int64_t> recv_counts) override {
    if (send_counts.size() != 1 || send_counts[0] != recv_counts[0] ||
        send_counts[0] > in.numel()) {
      return Invalid();
    }
    auto src = in.Slice(0, 0, send_counts[0]);
    auto dst = out.Slice(0, 0, recv_counts[0]);
    if (!src.ok() || !dst.ok()) return Invalid();
    return SettableWork::Done(dst->CopyFrom(*src));
  }
  std::shared_ptr<Work> AllGatherV(const Tensor& in, const Tensor& out,
                                   absl::Span<const int64_t> counts) override {
    if (counts.size() != 1 || counts[0] != in.numel() || out.numel() != in.numel()) {
      return Invalid();
    }
    return SettableWork::Done(Copy(in, out));
  }
  std::shared_ptr<Work> ReduceScatterV(const Tensor& in, const Tensor& out,
                                       absl::Span<const int64_t> counts, ReduceOp) override {
    if (counts.size() != 1 || counts[0] < 0 || counts[0] != in.numel() ||
        out.numel() != in.numel()) {
      return Invalid();
    }
    return SettableWork::Done(Copy(in, out));
  }
  std::shared_ptr<Work> Gather(const Tensor& in, const Tensor& out, int root) override {
    if (root != 0) return Invalid();
    return SettableWork::Done(Copy(in, out));
  }
  std::shared_ptr<Work> Scatter(const Tensor& in, const Tensor& out, int root) override {
    if (root != 0) return Invalid();
    return SettableWork::Done(Copy(in, out));
  }
  std::shared_ptr<Work> AllReducePreMulSum(const Tensor& in, const Tensor& out,
                                           double scale) override {
    if (in.numel() != out.numel() || in.dtype() != out.dtype()) return Invalid();
    return SettableWork::Done(
        PreMultiply(in.raw_data(), out.raw_data(), in.numel(), in.dtype(), scale));
  }
  std::shared_ptr<Work> ReduceScatterPreMulSum(const Tensor& in, const Tensor& out,
                                               double scale) override {
    return AllReducePreMulSum(in, out, scale);
  }
  std::shared_ptr<Work> Send(const Tensor&, int, int) override { return Invalid(); }
  std::shared_ptr<Work> Recv(const Tensor&, int, int) override { return Invalid(); }
  std::shared_ptr<Work> Barrier() override { return SettableWork::Done(absl::OkStatus()); }
  absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int, absl::Time) override {
    if (color < 0) return std::unique_ptr<Communicator>();
    return std::unique_ptr<Communicator>(new LoopbackCommunicator(bug_));
  }
  absl::StatusOr<std::unique_ptr<Communicator>> Shrink(absl::Span<const int>, absl::Time) override {
    return absl::UnimplementedError("loopback");
  }
  void Abort(absl::Status) override {}

 private:
  static std::shared_ptr<Work> Invalid() {
    return SettableWork::Done(absl::InvalidArgumentError("bad argument"));
  }
  static absl::Status Copy(const Tensor& in, const Tensor& out) {
    if (in.raw_data() == out.raw_data()) return absl::OkStatus();
    Tensor dst = out;  // a handle onto the same storage
    return dst.CopyFrom(in);
  }
  const Bug bug_;
};

TEST(ConformanceReferenceTest, IntegerAvgTruncatesTowardZero) {
  // Index 0 over 3 ranks: inputs -5, 2, -2 -> sum -5 -> avg -1 (not floor's -2).
  EXPECT_EQ(ReductionInput(DType::kI32, ReduceOp::kAvg, 0, 0), -5);
  EXPECT_EQ(ReductionInput(DType::kI32, ReduceOp::kAvg, 1, 0), 2);
  EXPECT_EQ(ReductionInput(DType::kI32, ReduceOp::kAvg, 2, 0), -2);
  EXPECT_EQ(ReductionReference(DType::kI32, ReduceOp::kAvg, 3, 0), -1);
  EXPECT_EQ(ReductionReference(DType::kI64, ReduceOp::kSum, 3, 0), -5);
  EXPECT_NEAR(ReductionReference(DType::kF32, ReduceOp::kAvg, 3, 0), -2.5 / 3, 1e-6);
}

TEST(ConformanceReferenceTest, ValuesAreExactInEveryDType) {
  for (DType dt : runtime::kAllDTypes) {
    for (int64_t i = 0; i < 5000; ++i) {
      const double v = MovementValue(dt, 3, 5, i);
      ASSERT_GE(v, 0);
      if (dt == DType::kU8 || dt == DType::kBF16) {
        ASSERT_LT(v, 256) << runtime::ToString(dt);
      }
      if (dt == DType::kF16) {
        ASSERT_LE(v, 2048);
      }
      for (ReduceOp op : kAllReduceOps) {
        const double x = ReductionInput(dt, op, static_cast<int>(i % 16), i);
        ASSERT_EQ(x * 2, std::round(x * 2));  // integers or halves
        if (dt == DType::kU8) {
          ASSERT_GE(x, 0);
        }
      }
    }
  }
  // Products over 16 ranks stay small: at most 2^6 in magnitude at index 0.
  EXPECT_LE(std::fabs(ReductionReference(DType::kBF16, ReduceOp::kProd, 16, 0)), 256);
}

TEST(ConformanceReferenceTest, CorrectCommunicatorPasses) {
  LoopbackCommunicator comm;
  ConformanceOptions options;
  options.large_count = 1001;
  EXPECT_TRUE(RunConformanceChecks(comm, options).ok()) << RunConformanceChecks(comm, options);
}

TEST(ConformanceReferenceTest, WrongElementIsReportedWithOpDTypeIndexAndValues) {
  LoopbackCommunicator comm(LoopbackCommunicator::Bug::kCorruptAllReduceElement3);
  ConformanceOptions options;
  absl::Status s = CheckAllReduce(comm, DType::kF32, ReduceOp::kSum, 7, false, options);
  EXPECT_TRUE(IsMismatch(s)) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "AllReduce(sum, f32, count=7)")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "rank 0/1 (backend loopback")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "element 3: expected")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "got 99")) << s;
  EXPECT_FALSE(RunConformanceChecks(comm, options).ok());
}

TEST(ConformanceReferenceTest, FailedOperationIsNotAMismatch) {
  LoopbackCommunicator comm(LoopbackCommunicator::Bug::kFailAllGather);
  absl::Status s = CheckAllGather(comm, DType::kI32, 5, false, ConformanceOptions{});
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_FALSE(IsMismatch(s));
  EXPECT_TRUE(absl::StrContains(s.message(), "AllGather(i32, count=5) on rank 0/1")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "peer 7 died")) << s;
}

}  // namespace
}  // namespace braid::collectives::testing
