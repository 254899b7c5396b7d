// DataParallel: setup (cross-rank check, buckets, re-homing), the gradient
// hook, the reductions and the sharded optimizer step. The protocol is
// described in docs/data_parallel.md.
#include "parallelism/data_parallel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kernels/elementwise.h"
#include "parallelism/bucket_plan.h"
#include "parallelism/parameter_check.h"
#include "parallelism/tree_sum.h"
#include "runtime/logging.h"
#include "runtime/status_macros.h"

namespace braid::parallelism {

using collectives::ReduceOp;
using collectives::Work;
using runtime::DType;
using runtime::Tensor;

absl::string_view ToString(ZeroStage stage) {
  switch (stage) {
    case ZeroStage::kNone: return "none";
    case ZeroStage::kOptimizerState: return "zero1";
    case ZeroStage::kGradients: return "zero2";
  }
  return "unknown";
}

namespace {

// Where a step is. Moves forward only; BeginMicrobatch(0) starts a new step
// from any phase once nothing is in flight.
enum class Phase : uint8_t {
  kIdle = 0,          // no step begun (or the last one stepped)
  kAccumulating = 1,  // microbatches running
  kReduced = 2,       // FinishGradients succeeded: clip / step allowed
  kFailed = 3,        // a collective or kernel failed: begin a new step
};

absl::string_view ToString(Phase phase) {
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
absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(), absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

bool Done(const std::shared_ptr<Work>& work) { return work == nullptr || work->IsCompleted(); }

}  // namespace

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
  };
  struct Bucket {
    BucketPlan plan;  // members index into members_
    int pending = 0;  // GradientReady calls still expected (last microbatch)
    bool posted = false;
    bool completion_seen = false;
    absl::Time posted_at;
    uint64_t trace_id = 0;
    std::shared_ptr<Work> reduce;  // AllReduce / ReduceScatter / AllToAll
    std::shared_ptr<Work> gather;  // AllGather of gradients or values
    Tensor scratch;                // ZeRO-2 shard, or deterministic receive buffer
    Tensor send;                   // ZeRO value shard for the AllGather in Step
  };

  Impl(collectives::Communicator& comm, const DataParallelOptions& options)
      : comm_(comm), options_(options) {}
  ~Impl() override;

  absl::Status Setup(std::vector<nn::NamedParameter> parameters);
  absl::StatusOr<nn::GradientHook*> BeginMicrobatch(int index, int count);
  void OnGradientReady(nn::Parameter& parameter) override;
  absl::Status FinishGradients(absl::Time deadline);
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
  absl::StatusOr<Tensor> Range(const Tensor& arena, int64_t begin, int64_t end) const {
    return arena.Slice(0, begin, end);
  }
  absl::StatusOr<Tensor> BucketRange(const Tensor& arena, const Bucket& b) const {
    return arena.Slice(0, b.plan.arena_offset, b.plan.arena_offset + b.plan.padded_numel);
  }
  // This rank's shard of bucket `b` within `arena`.
  absl::StatusOr<Tensor> OwnedRange(const Tensor& arena, const Bucket& b) const {
    const int64_t chunk = b.plan.shard_numel(size());
    const int64_t begin = b.plan.arena_offset + rank() * chunk;
    return arena.Slice(0, begin, begin + chunk);
  }
  // The gradients this rank holds after FinishGradients: its shard under
  // ZeRO-2, the whole bucket otherwise.
  absl::StatusOr<Tensor> ShardOrBucket(const Bucket& b) const {
    return options_.zero == ZeroStage::kGradients ? OwnedRange(grads_, b) : BucketRange(grads_, b);
  }
  std::string Where() const {
    return absl::StrCat(comm_.backend(), " communicator (rank ", rank(), " of ", size(),
                        ", epoch ", comm_.epoch(), ")");
  }

  absl::Status RehomeGrads(const Tensor& arena);
  absl::Status PostReady(bool force);
  absl::Status Post(int index);
  void PollCompletions();
  void MarkCompleted(Bucket& b);
  absl::Status WaitFor(const std::shared_ptr<Work>& work, absl::Time deadline);
  absl::Status CompleteBucket(int index, absl::Time deadline);
  // Marks the step failed. Operations still in flight are waited for (until
  // `deadline`): after a fault the backend ends them promptly, and then the
  // next step may reuse the buffers at once.
  absl::Status Fail(absl::Status status, absl::Time deadline = absl::InfinitePast()) {
    phase_ = Phase::kFailed;
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
  Tensor values_;  // value arena
  Tensor grads_;   // the grad arena p.grad views (changes per microbatch when deterministic)
  std::unique_ptr<TreeAccumulator> tree_;

  Phase phase_ = Phase::kIdle;
  int count_ = 0;       // microbatches in this step
  int next_index_ = 0;  // next microbatch index BeginMicrobatch expects
  bool last_microbatch_ = false;
  int next_post_ = 0;    // buckets are posted in order: the next one
  int first_unseen_ = 0;  // first posted bucket whose completion is not seen
  bool in_hook_ = false;
  absl::Status deferred_;  // an error found in the hook, returned by FinishGradients
  DataParallelStats stats_;
};

DataParallel::Impl::~Impl() {
  // The backend writes into our arenas until a Work completes. Fault-tolerant
  // backends end every operation within their op timeout (and at once after
  // Abort); wait that long at most, then keep the buffers alive rather than
  // let a late write land in freed memory.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  bool pending = false;
  for (Bucket& b : buckets_) {
    for (const auto& w : {b.reduce, b.gather}) {
      if (w != nullptr && !w->Wait(deadline).ok() && !w->IsCompleted()) pending = true;
    }
  }
  if (pending) {
    BRAID_LOG(ERROR) << "DataParallel destroyed with collectives still running on the "
                     << Where() << "; abort the communicator before destroying it. "
                     << "Keeping " << arena_numel_ * 8 << " bytes of buffers alive.";
    auto* leak = new std::vector<Tensor>{values_, grads_};
    for (Bucket& b : buckets_) {
      leak->push_back(b.scratch);
      leak->push_back(b.send);
    }
  }
}

absl::Status DataParallel::Impl::Setup(std::vector<nn::NamedParameter> parameters) {
  if (options_.bucket_bytes == 0) {
    return absl::InvalidArgumentError("DataParallel: bucket_bytes must be > 0");
  }
  // 1. Validate and deduplicate (a tied parameter appears once per owner).
  for (const nn::NamedParameter& np : parameters) {
    if (np.parameter == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("DataParallel: parameter '", np.name,
                                                     "' is null"));
    }
    nn::Parameter& p = *np.parameter;
    if (!p.value.defined() || !p.grad.defined() || p.value.dtype() != DType::kF32 ||
        p.grad.dtype() != DType::kF32 || p.value.shape() != p.grad.shape()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "DataParallel: parameter '", np.name,
          "' needs f32 value and grad of one shape (make it with nn::MakeParameter)"));
    }
    if (members_.empty()) device_ = p.value.device();
    if (p.value.device() != device_ || p.grad.device() != device_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "DataParallel: parameter '", np.name, "' is on ", runtime::ToString(p.value.device()),
          " but '", members_.front().name, "' on ", runtime::ToString(device_),
          "; all parameters of a data-parallel model live on one device"));
    }
    auto [it, inserted] = member_of_.emplace(&p, static_cast<int>(members_.size()));
    if (!inserted) {
      ++members_[it->second].registrations;
      continue;
    }
    Member m;
    m.name = np.name;
    m.parameter = &p;
    m.shape = p.value.shape();
    m.numel = p.value.numel();
    members_.push_back(std::move(m));
  }

  // 2. Every rank must hold the same parameters and options.
  std::vector<ParameterSummary> summaries;
  for (const Member& m : members_) summaries.push_back({m.name, m.shape, m.registrations});
  BRAID_RETURN_IF_ERROR(CheckSameAcrossRanks(
      comm_, summaries,
      {{"bucket_bytes", static_cast<int64_t>(options_.bucket_bytes)},
       {"zero", static_cast<int64_t>(options_.zero)},
       {"deterministic", options_.deterministic ? 1 : 0}},
      absl::Now() + options_.setup_timeout));

  // 3. Buckets in reverse registration order, one flat arena for each of
  // values and gradients.
  std::vector<int64_t> numels;
  for (auto it = members_.rbegin(); it != members_.rend(); ++it) numels.push_back(it->numel);
  BucketLayout layout = PlanBuckets(numels, options_.bucket_bytes, size());
  arena_numel_ = layout.arena_numel;
  const int n = static_cast<int>(members_.size());
  for (size_t bi = 0; bi < layout.buckets.size(); ++bi) {
    Bucket b;
    b.plan = std::move(layout.buckets[bi]);
    for (size_t k = 0; k < b.plan.members.size(); ++k) {
      const int member = n - 1 - b.plan.members[k];
      b.plan.members[k] = member;
      members_[member].bucket = static_cast<int>(bi);
      members_[member].arena_offset = b.plan.arena_offset + b.plan.offsets[k];
    }
    buckets_.push_back(std::move(b));
  }
  BRAID_ASSIGN_OR_RETURN(values_, Tensor::Zeros({arena_numel_}, DType::kF32, device_));
  BRAID_ASSIGN_OR_RETURN(grads_, Tensor::Zeros({arena_numel_}, DType::kF32, device_));
  if (options_.deterministic) tree_ = std::make_unique<TreeAccumulator>(arena_numel_, device_);

  // 4. Re-home: copy values and grads in, then point the parameters at the
  // arenas. A compute tensor that was the value itself follows it.
  for (Member& m : members_) {
    nn::Parameter& p = *m.parameter;
    BRAID_ASSIGN_OR_RETURN(Tensor v, Range(values_, m.arena_offset, m.arena_offset + m.numel));
    BRAID_ASSIGN_OR_RETURN(v, v.View(m.shape));
    BRAID_ASSIGN_OR_RETURN(Tensor g, Range(grads_, m.arena_offset, m.arena_offset + m.numel));
    BRAID_ASSIGN_OR_RETURN(g, g.View(m.shape));
    BRAID_RETURN_IF_ERROR(v.CopyFrom(p.value));
    BRAID_RETURN_IF_ERROR(g.CopyFrom(p.grad));
    const bool compute_is_value = p.compute.defined() && p.compute.SharesStorageWith(p.value) &&
                                  p.compute.dtype() == DType::kF32 &&
                                  p.compute.storage_offset() == p.value.storage_offset();
    p.value = v;
    p.grad = g;
    if (compute_is_value) p.compute = v;
  }
  return absl::OkStatus();
}

absl::Status DataParallel::Impl::RehomeGrads(const Tensor& arena) {
  for (Member& m : members_) {
    BRAID_ASSIGN_OR_RETURN(Tensor g, Range(arena, m.arena_offset, m.arena_offset + m.numel));
    BRAID_ASSIGN_OR_RETURN(m.parameter->grad, g.View(m.shape));
  }
  return absl::OkStatus();
}

bool DataParallel::Impl::NothingInFlight() const {
  for (const Bucket& b : buckets_) {
    if (!Done(b.reduce) || !Done(b.gather)) return false;
  }
  return true;
}

absl::StatusOr<nn::GradientHook*> DataParallel::Impl::BeginMicrobatch(int index, int count) {
  if (count < 1 || index < 0 || index >= count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DataParallel::BeginMicrobatch: microbatch ", index, " of ", count,
        " is out of range; pass 0 <= index < count"));
  }
  if (index == 0) {
    if (!NothingInFlight()) {
      return absl::FailedPreconditionError(
          absl::StrCat("DataParallel::BeginMicrobatch: the previous step's collectives are "
                       "still running on the ", Where(),
                       "; wait for FinishGradients/Step, or abort the communicator"));
    }
    phase_ = Phase::kAccumulating;
    count_ = count;
    next_index_ = 1;
    next_post_ = 0;
    first_unseen_ = 0;
    deferred_ = absl::OkStatus();
    stats_ = DataParallelStats();
    for (Bucket& b : buckets_) {
      b.posted = false;
      b.completion_seen = false;
      b.reduce = nullptr;
      b.gather = nullptr;
    }
    if (tree_ != nullptr) tree_->Reset();
    BRAID_RETURN_IF_ERROR(grads_.Fill(0.0));
  } else {
    if (phase_ != Phase::kAccumulating || index != next_index_ || count != count_) {
      return absl::FailedPreconditionError(absl::StrCat(
          "DataParallel::BeginMicrobatch: microbatch ", index, " of ", count,
          " out of order (expected ", phase_ == Phase::kAccumulating ? next_index_ : 0, " of ",
          count_, ", step ", ToString(phase_), "); begin microbatches 0..count-1 in order"));
    }
    ++next_index_;
    if (tree_ != nullptr) {
      // Deterministic: the finished microbatch becomes a leaf of the tree and
      // the next one accumulates into a fresh zeroed buffer.
      // (Push gets a copy of the handle so grads_ stays valid if it fails.)
      BRAID_ASSIGN_OR_RETURN(grads_, tree_->Push(grads_));
      BRAID_RETURN_IF_ERROR(RehomeGrads(grads_));
    }
  }
  last_microbatch_ = index == count - 1;
  if (last_microbatch_) {
    for (Member& m : members_) m.ready_calls = 0;
    for (Bucket& b : buckets_) {
      b.pending = 0;
      for (int member : b.plan.members) b.pending += members_[member].registrations;
    }
  }
  return this;
}

void DataParallel::Impl::OnGradientReady(nn::Parameter& parameter) {
  if (phase_ != Phase::kAccumulating || !last_microbatch_) return;
  auto it = member_of_.find(&parameter);
  if (it == member_of_.end()) return;  // not a parameter of this DataParallel
  Member& m = members_[it->second];
  Bucket& b = buckets_[m.bucket];
  if (b.posted || m.ready_calls >= m.registrations) {
    if (deferred_.ok()) {
      deferred_ = absl::FailedPreconditionError(absl::StrCat(
          "DataParallel: gradient of '", m.name, "' reported ready ", m.ready_calls + 1,
          " times in one microbatch (registered ", m.registrations,
          "x); its bucket may have been reduced before it was complete. Each layer must call "
          "GradientReady once per parameter per backward"));
    }
    return;
  }
  ++m.ready_calls;
  --b.pending;
  if (options_.overlap && b.pending == 0) {
    in_hook_ = true;
    absl::Status s = PostReady(/*force=*/false);
    in_hook_ = false;
    if (!s.ok() && deferred_.ok()) deferred_ = s;
  }
  PollCompletions();
}

absl::Status DataParallel::Impl::PostReady(bool force) {
  while (next_post_ < num_buckets() && (force || buckets_[next_post_].pending == 0)) {
    BRAID_RETURN_IF_ERROR(Post(next_post_));
    ++next_post_;
  }
  return absl::OkStatus();
}

absl::Status DataParallel::Impl::Post(int index) {
  Bucket& b = buckets_[index];
  BRAID_ASSIGN_OR_RETURN(Tensor range, BucketRange(grads_, b));
  const char* op = "allreduce";
  if (options_.deterministic) {
    // Finish this bucket's tree over the local microbatches, then send shard
    // j of it to rank j.
    BRAID_RETURN_IF_ERROR(
        tree_->FoldInto(grads_, b.plan.arena_offset, b.plan.arena_offset + b.plan.padded_numel));
    if (!b.scratch.defined()) {
      BRAID_ASSIGN_OR_RETURN(b.scratch, Tensor::Zeros({b.plan.padded_numel}, DType::kF32, device_));
    }
    b.reduce = comm_.AllToAll(range, b.scratch);
    op = "alltoall";
  } else if (options_.zero == ZeroStage::kGradients) {
    if (!b.scratch.defined()) {
      BRAID_ASSIGN_OR_RETURN(b.scratch, Tensor::Zeros({b.plan.shard_numel(size())}, DType::kF32,
                                                      device_));
    }
    b.reduce = comm_.ReduceScatter(range, b.scratch, ReduceOp::kSum);
    op = "reducescatter";
  } else {
    b.reduce = comm_.AllReduce(range, range, ReduceOp::kSum);
  }
  b.posted = true;
  b.posted_at = absl::Now();
  stats_.bytes += static_cast<int64_t>(range.nbytes());
  ++stats_.collectives;
  if (in_hook_) ++stats_.buckets_posted_in_backward;
  if (options_.tracer != nullptr) {
    b.trace_id = options_.tracer->BeginAsync(absl::StrCat("dp bucket ", index, " ", op),
                                             runtime::Category::kCommunication);
  }
  return absl::OkStatus();
}

void DataParallel::Impl::MarkCompleted(Bucket& b) {
  if (b.completion_seen) return;
  b.completion_seen = true;
  stats_.communication += absl::Now() - b.posted_at;
  if (options_.tracer != nullptr) options_.tracer->EndAsync(b.trace_id);
}

void DataParallel::Impl::PollCompletions() {
  // Operations complete in posting order: stop at the first one running.
  while (first_unseen_ < next_post_ && buckets_[first_unseen_].reduce->IsCompleted()) {
    MarkCompleted(buckets_[first_unseen_]);
    ++first_unseen_;
  }
}

absl::Status DataParallel::Impl::WaitFor(const std::shared_ptr<Work>& work, absl::Time deadline) {
  const absl::Time start = absl::Now();
  absl::Status s = work->Wait(deadline);
  stats_.exposed += absl::Now() - start;
  return s;
}

absl::Status DataParallel::Impl::CompleteBucket(int index, absl::Time deadline) {
  Bucket& b = buckets_[index];
  absl::Status s = WaitFor(b.reduce, deadline);
  MarkCompleted(b);
  if (!s.ok()) {
    return Annotate(s, absl::StrCat("DataParallel::FinishGradients: bucket ", index, " of ",
                                    num_buckets(), " (", b.plan.padded_numel * 4,
                                    " bytes) on the ", Where(),
                                    " failed; abandon this step (gradients are partial)"));
  }
  const float scale = 1.0f / static_cast<float>(static_cast<int64_t>(size()) * count_);
  BRAID_ASSIGN_OR_RETURN(Tensor range, BucketRange(grads_, b));
  BRAID_ASSIGN_OR_RETURN(Tensor owned, OwnedRange(grads_, b));
  if (options_.deterministic) {
    const int64_t chunk = b.plan.shard_numel(size());
    BRAID_RETURN_IF_ERROR(TreeSumChunks(b.scratch, size(), chunk));
    BRAID_ASSIGN_OR_RETURN(Tensor sum, b.scratch.Slice(0, 0, chunk));
    if (options_.zero == ZeroStage::kGradients) return kernels::Scale(sum, scale, owned);
    BRAID_RETURN_IF_ERROR(kernels::Scale(sum, scale, sum));
    b.gather = comm_.AllGather(sum, range);
    stats_.bytes += static_cast<int64_t>(range.nbytes());
    ++stats_.collectives;
    return absl::OkStatus();
  }
  if (options_.zero == ZeroStage::kGradients) return kernels::Scale(b.scratch, scale, owned);
  return kernels::Scale(range, scale, range);
}

absl::Status DataParallel::Impl::FinishGradients(absl::Time deadline) {
  if (phase_ != Phase::kAccumulating || next_index_ != count_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "DataParallel::FinishGradients: called with the step ", ToString(phase_), " after ",
        next_index_, " of ", count_, " microbatches; run every microbatch of the step first"));
  }
  // Unused parameters never report ready: post what is left, in order. (An
  // error found in the hook is returned after the reductions, so that every
  // rank still posts the same collectives.)
  BRAID_RETURN_IF_ERROR(PostReady(/*force=*/true));
  for (int i = 0; i < num_buckets(); ++i) {
    absl::Status s = CompleteBucket(i, deadline);
    if (!s.ok()) return Fail(s, deadline);
  }
  for (int i = 0; i < num_buckets(); ++i) {
    if (buckets_[i].gather == nullptr) continue;
    absl::Status s = WaitFor(buckets_[i].gather, deadline);
    if (!s.ok()) {
      return Fail(Annotate(s, absl::StrCat("DataParallel::FinishGradients: all-gather of bucket ",
                                           i, " on the ", Where(), " failed; abandon this step")),
                  deadline);
    }
  }
  if (!deferred_.ok()) return Fail(deferred_, deadline);
  if (tree_ != nullptr) tree_->Reset();
  phase_ = Phase::kReduced;
  return absl::OkStatus();
}

absl::StatusOr<double> DataParallel::Impl::LocalSquaredNorm() const {
  // Sum of squares in double, in arena order: under ZeRO-2 over this rank's
  // shards (padding is zero), otherwise over every gradient.
  double total = 0;
  for (const Bucket& b : buckets_) {
    BRAID_ASSIGN_OR_RETURN(Tensor t, ShardOrBucket(b));
    if (!t.device().is_cpu()) {
      BRAID_ASSIGN_OR_RETURN(t, t.To(runtime::Device::Cpu()));
    }
    const float* g = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) total += static_cast<double>(g[i]) * g[i];
  }
  return total;
}

absl::Status DataParallel::Impl::ScaleGradients(float factor) {
  for (const Bucket& b : buckets_) {
    BRAID_ASSIGN_OR_RETURN(Tensor t, ShardOrBucket(b));
    BRAID_RETURN_IF_ERROR(kernels::Scale(t, factor, t));
  }
  return absl::OkStatus();
}

absl::StatusOr<float> DataParallel::Impl::ClipGradients(float max_norm, absl::Time deadline) {
  if (phase_ != Phase::kReduced) {
    return absl::FailedPreconditionError(absl::StrCat(
        "DataParallel::ClipGradients: the step is ", ToString(phase_),
        "; call it after a successful FinishGradients and before Step"));
  }
  if (!(max_norm > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("DataParallel::ClipGradients: max_norm ", max_norm, " must be > 0"));
  }
  BRAID_ASSIGN_OR_RETURN(double squared, LocalSquaredNorm());
  if (options_.zero == ZeroStage::kGradients && size() > 1) {
    // Each rank holds the norm of its shards: gather the doubles' bits and
    // add them in rank order, identically on every rank.
    int64_t bits = 0;
    std::memcpy(&bits, &squared, sizeof(bits));
    BRAID_ASSIGN_OR_RETURN(Tensor in, Tensor::FromVector(std::vector<int64_t>{bits}, {1}));
    BRAID_ASSIGN_OR_RETURN(Tensor out, Tensor::Zeros({size()}, DType::kI64));
    absl::Status s = WaitFor(comm_.AllGather(in, out), deadline);
    ++stats_.collectives;
    if (!s.ok()) {
      return Fail(Annotate(s, absl::StrCat("DataParallel::ClipGradients: gathering the norm on "
                                           "the ", Where(), " failed; abandon this step")),
                  deadline);
    }
    squared = 0;
    for (int r = 0; r < size(); ++r) {
      double part = 0;
      std::memcpy(&part, out.data<int64_t>() + r, sizeof(part));
      squared += part;
    }
  }
  const double norm = std::sqrt(squared);
  if (!std::isfinite(norm)) {
    return absl::DataLossError(absl::StrCat(
        "DataParallel::ClipGradients: the global gradient norm is ", norm,
        " (non-finite gradient); skip this step's optimizer update (begin the next step)"));
  }
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) BRAID_RETURN_IF_ERROR(ScaleGradients(static_cast<float>(coef)));
  return static_cast<float>(norm);
}

std::vector<nn::OptimizerSlot> DataParallel::Impl::OptimizerSlots() const {
  std::vector<nn::OptimizerSlot> slots;
  if (!zero()) {
    for (const Member& m : members_) {
      slots.push_back({m.name, m.parameter->value, m.parameter->grad, m.parameter->weight_decay});
    }
    return slots;
  }
  // ZeRO: this rank's shard of each bucket, cut where weight decay changes.
  for (int bi = 0; bi < num_buckets(); ++bi) {
    const Bucket& b = buckets_[bi];
    const int64_t chunk = b.plan.shard_numel(size());
    const int64_t lo = rank() * chunk;
    const int64_t hi = std::min(lo + chunk, b.plan.numel);
    struct Run {
      int64_t begin, end;
      bool weight_decay;
    };
    std::vector<Run> runs;
    for (size_t k = 0; k < b.plan.members.size(); ++k) {
      const Member& m = members_[b.plan.members[k]];
      const int64_t begin = std::max(lo, b.plan.offsets[k]);
      const int64_t end = std::min(hi, b.plan.offsets[k] + m.numel);
      if (begin >= end) continue;
      const bool wd = m.parameter->weight_decay;
      if (!runs.empty() && runs.back().end == begin && runs.back().weight_decay == wd) {
        runs.back().end = end;
      } else {
        runs.push_back({begin, end, wd});
      }
    }
    for (size_t k = 0; k < runs.size(); ++k) {
      const int64_t a = b.plan.arena_offset + runs[k].begin;
      const int64_t z = b.plan.arena_offset + runs[k].end;
      nn::OptimizerSlot slot;
      slot.name = runs.size() == 1 ? absl::StrCat("bucket", bi) : absl::StrCat("bucket", bi, ".", k);
      // Slices of valid ranges of our own arenas cannot fail.
      slot.value = *values_.Slice(0, a, z);
      slot.grad = *grads_.Slice(0, a, z);
      slot.weight_decay = runs[k].weight_decay;
      slots.push_back(std::move(slot));
    }
  }
  return slots;
}

absl::Status DataParallel::Impl::Step(nn::Optimizer& optimizer, float lr, absl::Time deadline) {
  if (phase_ != Phase::kReduced) {
    return absl::FailedPreconditionError(absl::StrCat(
        "DataParallel::Step: the step is ", ToString(phase_),
        "; call it after a successful FinishGradients"));
  }
  const std::vector<nn::OptimizerSlot> slots = OptimizerSlots();
  absl::Status s = optimizer.Step(slots, lr);
  if (!s.ok()) return Fail(Annotate(s, "DataParallel::Step: optimizer"));
  if (zero()) {
    // Every rank updated its shards: gather the new values everywhere.
    for (int i = 0; i < num_buckets(); ++i) {
      Bucket& b = buckets_[i];
      BRAID_ASSIGN_OR_RETURN(Tensor owned, OwnedRange(values_, b));
      BRAID_ASSIGN_OR_RETURN(Tensor range, BucketRange(values_, b));
      if (!b.send.defined()) {
        BRAID_ASSIGN_OR_RETURN(b.send, Tensor::Empty({owned.numel()}, DType::kF32, device_));
      }
      BRAID_RETURN_IF_ERROR(b.send.CopyFrom(owned));
      b.gather = comm_.AllGather(b.send, range);
      stats_.bytes += static_cast<int64_t>(range.nbytes());
      ++stats_.collectives;
    }
    for (int i = 0; i < num_buckets(); ++i) {
      absl::Status w = WaitFor(buckets_[i].gather, deadline);
      if (!w.ok()) {
        return Fail(Annotate(w, absl::StrCat("DataParallel::Step: all-gather of bucket ", i,
                                             "'s values on the ", Where(),
                                             " failed; parameters differ across ranks now: "
                                             "restore them from a snapshot")),
                    deadline);
      }
    }
  }
  phase_ = Phase::kIdle;
  return absl::OkStatus();
}

// ---- DataParallel -------------------------------------------------------------

absl::StatusOr<std::unique_ptr<DataParallel>> DataParallel::Create(
    std::vector<nn::NamedParameter> parameters, collectives::Communicator& communicator,
    const DataParallelOptions& options) {
  auto impl = std::make_unique<Impl>(communicator, options);
  BRAID_RETURN_IF_ERROR(impl->Setup(std::move(parameters)));
  return std::unique_ptr<DataParallel>(new DataParallel(std::move(impl)));
}

DataParallel::DataParallel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DataParallel::~DataParallel() = default;

absl::StatusOr<nn::GradientHook*> DataParallel::BeginMicrobatch(int index, int count) {
  return impl_->BeginMicrobatch(index, count);
}
absl::Status DataParallel::FinishGradients(absl::Time deadline) {
  return impl_->FinishGradients(deadline);
}
absl::StatusOr<float> DataParallel::ClipGradients(float max_norm, absl::Time deadline) {
  return impl_->ClipGradients(max_norm, deadline);
}
absl::Status DataParallel::Step(nn::Optimizer& optimizer, float lr, absl::Time deadline) {
  return impl_->Step(optimizer, lr, deadline);
}
std::vector<nn::OptimizerSlot> DataParallel::OptimizerSlots() const {
  return impl_->OptimizerSlots();
}
int DataParallel::num_buckets() const { return impl_->num_buckets(); }
int DataParallel::buckets_posted() const { return impl_->buckets_posted(); }
const DataParallelStats& DataParallel::last_step_stats() const { return impl_->stats(); }

}  // namespace braid::parallelism
