// DataParallel after the reduction: the global gradient norm and clipping,
// the optimizer slots (whole parameters or ZeRO shards) and the step with
// its ZeRO all-gather of values. docs/data_parallel.md.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kernels/elementwise.h"
#include "parallelism/data_parallel_impl.h"
#include "runtime/status_macros.h"

namespace braid::parallelism {

using dp_internal::Annotate;
using dp_internal::Phase;
using dp_internal::ToString;
using runtime::DType;
using runtime::Tensor;

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

}  // namespace braid::parallelism
