// Internal to braid_parallelism: DataParallel's implementation class, shared
// by data_parallel.cc (setup, hook, reductions), data_parallel_step.cc
// (clipping, optimizer step) and data_parallel_unused.cc (unused parameters).
// Not a public header; include data_parallel.h.
#ifndef BRAID_PARALLELISM_DATA_PARALLEL_IMPL_H_
#define BRAID_PARALLELISM_DATA_PARALLEL_IMPL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "parallelism/bucket_plan.h"
#include "parallelism/comm_hook.h"
#include "parallelism/data_parallel.h"
#include "parallelism/tree_sum.h"

namespace braid::parallelism {
namespace dp_internal {

// Where a step is. Moves forward only; BeginMicrobatch(0) starts a new step
// from any phase once nothing is in flight.
enum class Phase : uint8_t {
  kIdle = 0,          // no step begun (or the last one stepped)
  kAccumulating = 1,  // microbatches running
  kReduced = 2,       // FinishGradients succeeded: clip / step allowed
  kFailed = 3,        // a collective or kernel failed: begin a new step
};

inline absl::string_view ToString(Phase phase) {
  switch (phase) {
    case Phase::kIdle: return "idle";
    case Phase::kAccumulating: return "accumulating";
    case Phase::kReduced: return "reduced";
    case Phase::kFailed: return "failed";
  }
  return "unknown";
}

// `status` with `context` in front of its message; code and payloads (the
// backend's FailedRanks) are kept.
inline absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(), absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

inline bool Done(const std::shared_ptr<collectives::Work>& work) {
  return work == nullptr || work->IsCompleted();
}

}  // namespace dp_internal

class DataParallel::Impl : public nn::GradientHook {
 public:
  struct Member {
    std::string name;
    nn::Parameter* parameter = nullptr;
    runtime::Shape shape;
    int64_t numel = 0;
    int registrations = 1;  // GradientReady calls expected per microbatch
    int bucket = -1;
    int64_t arena_offset = 0;
    int ready_calls = 0;
    bool marked_unused = false;  // by MarkUnused in this step's last microbatch
  };
  struct Bucket {
    BucketPlan plan;  // members index into members_
    int pending = 0;  // GradientReady calls still expected (last microbatch)
    bool posted = false;
    bool completion_seen = false;
    absl::Time posted_at;
    uint64_t trace_id = 0;
    std::shared_ptr<collectives::Work> reduce;  // AllReduce / ReduceScatter / AllToAll
    std::shared_ptr<collectives::Work> gather;  // AllGather of gradients or values
    runtime::Tensor scratch;  // ZeRO-2 shard, or deterministic receive buffer
    runtime::Tensor send;     // ZeRO value shard for the AllGather in Step
  };

  Impl(collectives::Communicator& comm, const DataParallelOptions& options)
      : comm_(comm), options_(options) {}
  ~Impl() override;

  absl::Status Setup(std::vector<nn::NamedParameter> parameters);
  absl::StatusOr<nn::GradientHook*> BeginMicrobatch(int index, int count);
  void OnGradientReady(nn::Parameter& parameter) override;
  absl::Status FinishGradients(absl::Time deadline);
  absl::Status EndBackward(absl::string_view caller);
  absl::Status MarkUnused(const std::vector<nn::NamedParameter>& parameters);
  void EnterNoSync() { ++no_sync_depth_; }
  void LeaveNoSync() { --no_sync_depth_; }
  std::vector<std::string> UnusedParameters() const { return unused_names_; }
  absl::StatusOr<float> ClipGradients(float max_norm, absl::Time deadline);
  absl::Status Step(nn::Optimizer& optimizer, float lr, absl::Time deadline);
  std::vector<nn::OptimizerSlot> OptimizerSlots() const;

  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  int buckets_posted() const { return next_post_; }
  const DataParallelStats& stats() const { return stats_; }

 private:
  bool zero() const { return options_.zero != ZeroStage::kNone; }
  int size() const { return comm_.size(); }
  int rank() const { return comm_.rank(); }
  absl::StatusOr<runtime::Tensor> Range(const runtime::Tensor& arena, int64_t begin,
                                        int64_t end) const {
    return arena.Slice(0, begin, end);
  }
  absl::StatusOr<runtime::Tensor> BucketRange(const runtime::Tensor& arena, const Bucket& b) const {
    return arena.Slice(0, b.plan.arena_offset, b.plan.arena_offset + b.plan.padded_numel);
  }
  // This rank's shard of bucket `b` within `arena`.
  absl::StatusOr<runtime::Tensor> OwnedRange(const runtime::Tensor& arena, const Bucket& b) const {
    const int64_t chunk = b.plan.shard_numel(size());
    const int64_t begin = b.plan.arena_offset + rank() * chunk;
    return arena.Slice(0, begin, begin + chunk);
  }
  // The gradients this rank holds after FinishGradients: its shard under
  // ZeRO-2, the whole bucket otherwise.
  absl::StatusOr<runtime::Tensor> ShardOrBucket(const Bucket& b) const {
    return options_.zero == ZeroStage::kGradients ? OwnedRange(grads_, b) : BucketRange(grads_, b);
  }
  std::string Where() const {
    return absl::StrCat(comm_.backend(), " communicator (rank ", rank(), " of ", size(),
                        ", epoch ", comm_.epoch(), ")");
  }

  absl::Status RehomeGrads(const runtime::Tensor& arena);
  // Counts `calls` GradientReady reports of member `m` (MarkUnused reports
  // all that are missing) and posts what became ready.
  void CountReady(Member& m, int calls);
  // Records which members reported nothing in the last microbatch.
  void CollectUnused();
  // The hook's view of bucket `index`.
  absl::StatusOr<GradientBucket> HookBucket(int index);
  // 1 / (ranks * microbatches in the mean).
  float MeanScale() const {
    return 1.0f / static_cast<float>(static_cast<int64_t>(size()) * (count_ + carry_));
  }
  absl::Status PostReady(bool force);
  absl::Status Post(int index);
  void PollCompletions();
  void MarkCompleted(Bucket& b);
  absl::Status WaitFor(const std::shared_ptr<collectives::Work>& work, absl::Time deadline);
  absl::Status CompleteBucket(int index, absl::Time deadline);
  // Marks the step failed. Operations still in flight are waited for (until
  // `deadline`): after a fault the backend ends them promptly, and then the
  // next step may reuse the buffers at once.
  absl::Status Fail(absl::Status status, absl::Time deadline = absl::InfinitePast()) {
    phase_ = dp_internal::Phase::kFailed;
    for (Bucket& b : buckets_) {
      for (const auto& w : {b.reduce, b.gather}) {
        if (w != nullptr) w->Wait(deadline).IgnoreError();
      }
    }
    return status;
  }
  absl::StatusOr<double> LocalSquaredNorm() const;
  absl::Status ScaleGradients(float factor);
  bool NothingInFlight() const;

  collectives::Communicator& comm_;
  const DataParallelOptions options_;
  runtime::Device device_;
  std::vector<Member> members_;
  absl::flat_hash_map<const nn::Parameter*, int> member_of_;
  std::vector<Bucket> buckets_;
  int64_t arena_numel_ = 0;
  runtime::Tensor values_;  // value arena
  // The grad arena p.grad views (changes per microbatch when deterministic).
  runtime::Tensor grads_;
  std::unique_ptr<TreeAccumulator> tree_;
  std::unique_ptr<CommHook> owned_hook_;  // the built-in compression hook
  CommHook* hook_ = nullptr;              // null: DataParallel's own f32 path

  dp_internal::Phase phase_ = dp_internal::Phase::kIdle;
  int count_ = 0;       // microbatches in this step
  int next_index_ = 0;  // next microbatch index BeginMicrobatch expects
  bool last_microbatch_ = false;
  int next_post_ = 0;    // buckets are posted in order: the next one
  int first_unseen_ = 0;  // first posted bucket whose completion is not seen
  bool in_hook_ = false;
  absl::Status deferred_;  // an error found in the hook, returned by FinishGradients
  int no_sync_depth_ = 0;     // NoSync scopes alive
  bool step_no_sync_ = false;  // this step's last microbatch began under NoSync
  int carry_ = 0;             // microbatches of earlier NoSync steps in the gradients
  bool backward_ended_ = false;
  bool warned_unused_ = false;
  std::vector<std::string> unused_names_;
  DataParallelStats stats_;
};

}  // namespace braid::parallelism

#endif  // BRAID_PARALLELISM_DATA_PARALLEL_IMPL_H_
