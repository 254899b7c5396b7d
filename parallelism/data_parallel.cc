// DataParallel: setup (cross-rank check, buckets, re-homing, initial value
// sync), microbatches and no-sync, the gradient hook and the bucket
// reductions (own f32 path or a CommHook). Clipping and the optimizer step
// are in data_parallel_step.cc, unused parameters in data_parallel_unused.cc.
// The protocol is described in docs/data_parallel.md.
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
#include "nn/mixed_precision.h"
#include "parallelism/bucket_plan.h"
#include "parallelism/parameter_check.h"
#include "parallelism/tree_sum.h"
#include "runtime/logging.h"
#include "runtime/status_macros.h"
#include "parallelism/data_parallel_impl.h"

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

using dp_internal::Annotate;
using dp_internal::Done;
using dp_internal::Phase;
using dp_internal::ToString;

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

  if (options_.deterministic &&
      (options_.comm_hook != nullptr || options_.compression != GradientCompression::kNone)) {
    return absl::InvalidArgumentError(
        "DataParallel: a communication hook or compression cannot be combined with "
        "deterministic (which reduces along its own tree); drop one of the two");
  }
  if (options_.comm_hook != nullptr) {
    hook_ = options_.comm_hook;
  } else if (options_.compression != GradientCompression::kNone) {
    owned_hook_ = MakeCompressionHook(options_.compression);
    hook_ = owned_hook_.get();
  }
  // The hook's name as a number, so the check below can compare it.
  int64_t hook_id = 0;
  if (hook_ != nullptr) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c : hook_->name()) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    hook_id = static_cast<int64_t>(h);
  }

  // 2. Every rank must hold the same parameters and options.
  std::vector<ParameterSummary> summaries;
  for (const Member& m : members_) summaries.push_back({m.name, m.shape, m.registrations});
  BRAID_RETURN_IF_ERROR(CheckSameAcrossRanks(
      comm_, summaries,
      {{"bucket_bytes", static_cast<int64_t>(options_.bucket_bytes)},
       {"zero", static_cast<int64_t>(options_.zero)},
       {"deterministic", options_.deterministic ? 1 : 0},
       {"parameter_sync", static_cast<int64_t>(options_.parameter_sync)},
       {"find_unused_parameters", options_.find_unused_parameters ? 1 : 0},
       {"comm_hook", hook_id}},
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

  // 5. Initial values agree across ranks.
  std::vector<ValueToSync> values;
  for (const Member& m : members_) values.push_back({m.name, m.parameter->value});
  BRAID_RETURN_IF_ERROR(SyncParameters(comm_, options_.parameter_sync, values_, values,
                                       absl::Now() + options_.setup_timeout));
  // Separate compute copies (mixed precision) follow the broadcast values.
  if (options_.parameter_sync == ParameterSync::kBroadcast) {
    std::vector<nn::NamedParameter> with_compute;
    for (const Member& m : members_) {
      if (m.parameter->compute.defined()) with_compute.push_back({m.name, m.parameter});
    }
    BRAID_RETURN_IF_ERROR(nn::RefreshComputeCopies(with_compute));
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
  // A step whose every microbatch ran under NoSync hands its gradients on.
  const bool carry = index == 0 && phase_ == Phase::kAccumulating && step_no_sync_ &&
                     next_index_ == count_;
  if (index == 0) {
    if (!NothingInFlight()) {
      return absl::FailedPreconditionError(
          absl::StrCat("DataParallel::BeginMicrobatch: the previous step's collectives are "
                       "still running on the ", Where(),
                       "; wait for FinishGradients/Step, or abort the communicator"));
    }
    carry_ = carry ? carry_ + count_ : 0;
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
    backward_ended_ = false;
    unused_names_.clear();
    if (carry) {
      if (tree_ != nullptr) {  // the last NoSync microbatch becomes a leaf
        BRAID_ASSIGN_OR_RETURN(grads_, tree_->Push(grads_));
        BRAID_RETURN_IF_ERROR(RehomeGrads(grads_));
      }
    } else {
      if (tree_ != nullptr) tree_->Reset();
      BRAID_RETURN_IF_ERROR(grads_.Fill(0.0));
    }
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
  step_no_sync_ = index == count - 1 && no_sync_depth_ > 0;
  last_microbatch_ = index == count - 1 && no_sync_depth_ == 0;
  stats_.accumulated_microbatches = carry_ + index + 1;
  if (last_microbatch_) {
    for (Member& m : members_) {
      m.ready_calls = 0;
      m.marked_unused = false;
    }
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
  CountReady(members_[it->second], 1);
}

void DataParallel::Impl::CountReady(Member& m, int calls) {
  Bucket& b = buckets_[m.bucket];
  if (b.posted || m.ready_calls + calls > m.registrations) {
    if (deferred_.ok()) {
      deferred_ = absl::FailedPreconditionError(absl::StrCat(
          "DataParallel: gradient of '", m.name, "' reported ready ", m.ready_calls + calls,
          " times in one microbatch (registered ", m.registrations,
          "x, MarkUnused and EndBackward count as reports); its bucket may have been reduced "
          "before it was complete. Each layer must call GradientReady once per parameter per "
          "backward, and a parameter marked unused must get no gradient"));
    }
    return;
  }
  m.ready_calls += calls;
  b.pending -= calls;
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
  } else if (hook_ != nullptr) {
    BRAID_ASSIGN_OR_RETURN(GradientBucket gb, HookBucket(index));
    BRAID_ASSIGN_OR_RETURN(PostedReduction posted, hook_->Post(gb, comm_));
    if (posted.work == nullptr) {
      return absl::InternalError(absl::StrCat("DataParallel: comm hook '", hook_->name(),
                                              "' returned no Work for bucket ", index));
    }
    b.reduce = std::move(posted.work);
    b.posted = true;
    b.posted_at = absl::Now();
    stats_.bytes += posted.bytes;
    stats_.bytes_saved += static_cast<int64_t>(range.nbytes()) - posted.bytes;
    ++stats_.collectives;
    if (in_hook_) ++stats_.buckets_posted_in_backward;
    if (options_.tracer != nullptr) {
      b.trace_id = options_.tracer->BeginAsync(
          absl::StrCat("dp bucket ", index, " hook ", hook_->name()),
          runtime::Category::kCommunication);
    }
    return absl::OkStatus();
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
  const float scale = MeanScale();
  BRAID_ASSIGN_OR_RETURN(Tensor range, BucketRange(grads_, b));
  BRAID_ASSIGN_OR_RETURN(Tensor owned, OwnedRange(grads_, b));
  if (hook_ != nullptr) {
    BRAID_ASSIGN_OR_RETURN(GradientBucket gb, HookBucket(index));
    BRAID_RETURN_IF_ERROR(Annotate(hook_->Complete(gb),
                                   absl::StrCat("DataParallel: comm hook '", hook_->name(),
                                                "' completing bucket ", index)));
    if (gb.shard.defined()) return owned.CopyFrom(gb.shard);
    return absl::OkStatus();
  }
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
  if (no_sync_depth_ > 0 || step_no_sync_) {
    return absl::FailedPreconditionError(
        "DataParallel::FinishGradients: this step's last microbatch ran under NoSync, so its "
        "gradients only accumulate locally; leave the NoSync scope and run one more step, "
        "whose FinishGradients reduces everything");
  }
  // Unused parameters never report ready: post what is left, in order. (An
  // error found in the hook is returned after the reductions, so that every
  // rank still posts the same collectives.)
  if (!backward_ended_) {
    CollectUnused();
    if (!options_.find_unused_parameters && !unused_names_.empty() && !warned_unused_) {
      warned_unused_ = true;
      BRAID_LOG(WARNING) << "DataParallel: " << unused_names_.size()
                         << " parameter(s) got no gradient in the last microbatch (first: '"
                         << unused_names_.front() << "'); their buckets waited for "
                         << "FinishGradients. If branches are skipped on purpose, set "
                         << "find_unused_parameters and call EndBackward/MarkUnused.";
    }
  }
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

absl::StatusOr<GradientBucket> DataParallel::Impl::HookBucket(int index) {
  Bucket& b = buckets_[index];
  GradientBucket gb;
  gb.index = index;
  gb.scale = MeanScale();
  BRAID_ASSIGN_OR_RETURN(gb.gradient, BucketRange(grads_, b));
  if (options_.zero == ZeroStage::kGradients) {
    if (!b.scratch.defined()) {
      BRAID_ASSIGN_OR_RETURN(b.scratch, Tensor::Zeros({b.plan.shard_numel(size())}, DType::kF32,
                                                      device_));
    }
    gb.shard = b.scratch;
  }
  return gb;
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
absl::Status DataParallel::EndBackward() { return impl_->EndBackward("EndBackward"); }
absl::Status DataParallel::MarkUnused(const std::vector<nn::NamedParameter>& parameters) {
  return impl_->MarkUnused(parameters);
}
DataParallel::NoSyncScope DataParallel::NoSync() {
  impl_->EnterNoSync();
  return NoSyncScope(this);
}
DataParallel::NoSyncScope::~NoSyncScope() {
  if (dp_ != nullptr) dp_->impl_->LeaveNoSync();
}
std::vector<std::string> DataParallel::UnusedParameters() const {
  return impl_->UnusedParameters();
}
int DataParallel::num_buckets() const { return impl_->num_buckets(); }
int DataParallel::buckets_posted() const { return impl_->buckets_posted(); }
const DataParallelStats& DataParallel::last_step_stats() const { return impl_->stats(); }

}  // namespace braid::parallelism
