// DebugCommunicator: the collective consistency check (like PyTorch's
// TORCH_DISTRIBUTED_DEBUG=DETAIL), a Communicator decorator over any backend.
//
//   BRAID_ASSIGN_OR_RETURN(auto comm, factory.Create("tcp", options));
//   comm = DebugCommunicator::Wrap(std::move(comm), DebugCommunicator::Options{});
//   comm->AllReduce(x, x, ReduceOp::kSum);   // checked against every rank first
//
// Before each collective (and Split) the ranks all-gather a fixed-size
// fingerprint of the call through the wrapped communicator: the operation,
// dtype, element count(s) (a hash of the per-rank counts for the V
// operations), root, reduce op, pre-multiply scale and this rank's sequence
// number of collectives. When any rank's fingerprint differs, the call does not
// run anywhere and every rank's Work fails with kInvalidArgument naming both
// sides, e.g.
//
//   collective mismatch on 'tcp' (debug mode): rank 0 posted AllReduce(f32,
//   count=1024, sum) #17, rank 1 posted AllGather(f32, count=1024) #17
//
// instead of a hang or garbage. The communicator stays usable afterwards (the
// ranks agreed on the mismatch, so nothing is left half-posted).
//
// Counts compared: the input element count, except where ranks legitimately
// differ (Gather/Reduce: the input; Scatter: the output; AllToAllV: only the
// dtype and the number of count entries). Send/Recv are not collectives and
// are passed through unchecked; Barrier is checked; Shrink is passed through
// (it runs after faults, when no exchange is possible) and its result wrapped.
//
// Cost: posting becomes synchronous (the fingerprint exchange is waited for,
// with options.check_timeout, before the real operation is posted), one extra
// small all-gather per collective. Measured by debug_multirank_test and
// debug_mpi_test (docs/collectives.md): an 8-float all-reduce takes x2.7 as
// long on tcp (4.5 -> 12 us) and x1.65 on mpi; large operations barely
// notice. A debugging mode, off by default (BRAID_DEBUG=detail turns it on
// through elastic::Bootstrap).
//
// The fingerprint tensor lives where the operation's tensors live (CUDA
// tensors exchange it on the device, so a nccl communicator works too);
// Barrier and Split use CPU when the wrapped communicator takes CPU tensors,
// else the CUDA device of the last checked call (cuda:0 before any).
//
// Thread-safety: as Communicator: post from one thread. Faults: an error of
// the fingerprint exchange (peer died, timeout) is returned by the operation's
// Work as the wrapped communicator reported it; the real operation is then not
// posted.
#ifndef BRAID_COLLECTIVES_DEBUG_DEBUG_COMMUNICATOR_H_
#define BRAID_COLLECTIVES_DEBUG_DEBUG_COMMUNICATOR_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "runtime/device.h"

namespace braid::collectives {

// The operations a fingerprint names.
enum class CollectiveKind : uint8_t {
  kAllReduce = 1,
  kReduceScatter = 2,
  kAllGather = 3,
  kBroadcast = 4,
  kReduce = 5,
  kAllToAll = 6,
  kAllToAllV = 7,
  kBarrier = 8,
  kAllGatherV = 9,
  kReduceScatterV = 10,
  kGather = 11,
  kScatter = 12,
  kAllReducePreMulSum = 13,
  kReduceScatterPreMulSum = 14,
  kSplit = 15,
};

// "AllReduce", "AllGatherV", ...
absl::string_view ToString(CollectiveKind kind);

// What one rank is about to run, as exchanged (fixed size on the wire: 8
// little-endian int64 words, see ToWords).
struct CallFingerprint {
  CollectiveKind kind = CollectiveKind::kBarrier;
  int64_t seq = 0;             // this rank's number of checked collectives before this one
  int dtype = -1;              // runtime::DType, -1 when none
  int reduce_op = -1;          // ReduceOp, -1 when none
  int64_t root = -1;           // root, -1 when none
  int64_t count = -1;          // element count compared across ranks, -1 when none
  uint64_t counts_hash = 0;    // V operations: hash of the counts span
  double scale = 0;            // pre-multiplied sums

  std::array<int64_t, 8> ToWords() const;
  // kDataLoss when the words carry no fingerprint (bad magic).
  static absl::StatusOr<CallFingerprint> FromWords(const int64_t* words);
  // The same call at the same position (every field, seq included).
  bool Matches(const CallFingerprint& other) const;
  // "AllReduce(f32, count=1024, sum) #17".
  std::string ToString() const;
};

class DebugCommunicator final : public Communicator {
 public:
  struct Options {
    // How long the fingerprint exchange of one call may take (it waits for
    // the call's predecessors on the wrapped communicator too). Default: the
    // 5 minutes of CommunicatorOptions::op_timeout.
    absl::Duration check_timeout = absl::Minutes(5);
  };

  // Wraps `inner` (REQUIRED, not null).
  static std::unique_ptr<DebugCommunicator> Wrap(std::unique_ptr<Communicator> inner,
                                                 const Options& options);

  Communicator& inner() const { return *inner_; }

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  int64_t epoch() const override { return inner_->epoch(); }
  absl::string_view backend() const override { return inner_->backend(); }
  Capabilities capabilities() const override { return inner_->capabilities(); }

  std::shared_ptr<Work> AllReduce(const runtime::Tensor& input, const runtime::Tensor& output,
                                  ReduceOp op) override;
  std::shared_ptr<Work> ReduceScatter(const runtime::Tensor& input, const runtime::Tensor& output,
                                      ReduceOp op) override;
  std::shared_ptr<Work> AllGather(const runtime::Tensor& input,
                                  const runtime::Tensor& output) override;
  std::shared_ptr<Work> Broadcast(const runtime::Tensor& tensor, int root) override;
  std::shared_ptr<Work> Reduce(const runtime::Tensor& input, const runtime::Tensor& output,
                               ReduceOp op, int root) override;
  std::shared_ptr<Work> AllToAll(const runtime::Tensor& input,
                                 const runtime::Tensor& output) override;
  std::shared_ptr<Work> AllToAllV(const runtime::Tensor& input,
                                  absl::Span<const int64_t> send_counts,
                                  const runtime::Tensor& output,
                                  absl::Span<const int64_t> recv_counts) override;
  std::shared_ptr<Work> AllGatherV(const runtime::Tensor& input, const runtime::Tensor& output,
                                   absl::Span<const int64_t> counts) override;
  std::shared_ptr<Work> ReduceScatterV(const runtime::Tensor& input,
                                       const runtime::Tensor& output,
                                       absl::Span<const int64_t> counts, ReduceOp op) override;
  std::shared_ptr<Work> Gather(const runtime::Tensor& input, const runtime::Tensor& output,
                               int root) override;
  std::shared_ptr<Work> Scatter(const runtime::Tensor& input, const runtime::Tensor& output,
                                int root) override;
  std::shared_ptr<Work> AllReducePreMulSum(const runtime::Tensor& input,
                                           const runtime::Tensor& output, double scale) override;
  std::shared_ptr<Work> ReduceScatterPreMulSum(const runtime::Tensor& input,
                                               const runtime::Tensor& output,
                                               double scale) override;
  std::shared_ptr<Work> Send(const runtime::Tensor& tensor, int peer, int tag) override;
  std::shared_ptr<Work> Recv(const runtime::Tensor& tensor, int peer, int tag) override;
  std::shared_ptr<Work> Barrier() override;
  absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key,
                                                      absl::Time deadline) override;
  absl::StatusOr<std::unique_ptr<Communicator>> Shrink(absl::Span<const int> excluded_ranks,
                                                       absl::Time deadline) override;
  void Abort(absl::Status reason) override;

 private:
  DebugCommunicator(std::unique_ptr<Communicator> inner, const Options& options)
      : inner_(std::move(inner)), options_(options) {}

  // Exchanges `fp` (seq filled in here) where `like` lives (null: see the
  // file comment) and compares; OK when every rank posted the same call.
  absl::Status Check(CallFingerprint fp, const runtime::Tensor* like);

  const std::unique_ptr<Communicator> inner_;
  const Options options_;
  // Posting is from one thread (communicator.h); atomics keep a misuse benign.
  std::atomic<int64_t> seq_{0};
  std::atomic<int> last_cuda_ordinal_{0};
};

}  // namespace braid::collectives

#endif  // BRAID_COLLECTIVES_DEBUG_DEBUG_COMMUNICATOR_H_
