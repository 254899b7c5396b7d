// The built-in communication hooks: plain f32 and bf16/f16 compression.
#include "parallelism/comm_hook.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cast.h"
#include "kernels/elementwise.h"
#include "runtime/status_macros.h"

namespace braid::parallelism {

using collectives::ReduceOp;
using runtime::DType;
using runtime::Tensor;

absl::string_view ToString(GradientCompression compression) {
  switch (compression) {
    case GradientCompression::kNone: return "none";
    case GradientCompression::kBf16: return "bf16";
    case GradientCompression::kFp16: return "fp16";
  }
  return "unknown";
}

namespace {

// Sum in f32, then scale: the same arithmetic as DataParallel's own path.
class F32Hook : public CommHook {
 public:
  absl::string_view name() const override { return "f32"; }
  absl::StatusOr<PostedReduction> Post(const GradientBucket& bucket,
                                       collectives::Communicator& communicator) override {
    PostedReduction posted;
    posted.bytes = static_cast<int64_t>(bucket.gradient.nbytes());
    posted.work = bucket.shard.defined()
                      ? communicator.ReduceScatter(bucket.gradient, bucket.shard, ReduceOp::kSum)
                      : communicator.AllReduce(bucket.gradient, bucket.gradient, ReduceOp::kSum);
    return posted;
  }
  absl::Status Complete(const GradientBucket& bucket) override {
    const Tensor& out = bucket.shard.defined() ? bucket.shard : bucket.gradient;
    return kernels::Scale(out, bucket.scale, out);
  }
};

// Scale, cast to `wire` (bf16/f16), sum in that dtype (the backends
// accumulate in f32 and round once), cast back. Keeps one encoded buffer
// (and under ZeRO-2 one encoded shard) per bucket, allocated on first use.
class CompressionHook : public CommHook {
 public:
  CompressionHook(DType wire, absl::string_view name) : wire_(wire), name_(name) {}
  absl::string_view name() const override { return name_; }

  absl::StatusOr<PostedReduction> Post(const GradientBucket& bucket,
                                       collectives::Communicator& communicator) override {
    if (bucket.index < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("CommHook ", name_, ": bucket index ", bucket.index, " is negative"));
    }
    if (static_cast<size_t>(bucket.index) >= buffers_.size()) buffers_.resize(bucket.index + 1);
    Buffers& buf = buffers_[bucket.index];
    BRAID_ASSIGN_OR_RETURN(buf.encoded, Fit(buf.encoded, bucket.gradient));
    if (bucket.shard.defined()) {
      BRAID_ASSIGN_OR_RETURN(buf.shard, Fit(buf.shard, bucket.shard));
    }
    // Pre-scale in place: the sum of means stays in range where the sum of
    // sums might overflow f16. `gradient` is overwritten by Complete anyway.
    BRAID_RETURN_IF_ERROR(kernels::Scale(bucket.gradient, bucket.scale, bucket.gradient));
    BRAID_RETURN_IF_ERROR(kernels::Cast(bucket.gradient, buf.encoded));
    PostedReduction posted;
    posted.bytes = static_cast<int64_t>(buf.encoded.nbytes());
    posted.work = bucket.shard.defined()
                      ? communicator.ReduceScatter(buf.encoded, buf.shard, ReduceOp::kSum)
                      : communicator.AllReduce(buf.encoded, buf.encoded, ReduceOp::kSum);
    return posted;
  }

  absl::Status Complete(const GradientBucket& bucket) override {
    if (bucket.index < 0 || static_cast<size_t>(bucket.index) >= buffers_.size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "CommHook ", name_, ": Complete of bucket ", bucket.index, " that was never posted"));
    }
    const Buffers& buf = buffers_[bucket.index];
    if (bucket.shard.defined()) return kernels::Cast(buf.shard, bucket.shard);
    return kernels::Cast(buf.encoded, bucket.gradient);
  }

 private:
  struct Buffers {
    Tensor encoded;  // wire dtype, the bucket's size
    Tensor shard;    // wire dtype, ZeRO-2 shard size
  };
  // `current` if it already has `like`'s element count and device, else a
  // new wire-dtype buffer.
  absl::StatusOr<Tensor> Fit(const Tensor& current, const Tensor& like) const {
    if (current.defined() && current.numel() == like.numel() &&
        current.device() == like.device()) {
      return current;
    }
    return Tensor::Empty({like.numel()}, wire_, like.device());
  }

  const DType wire_;
  const std::string name_;
  std::vector<Buffers> buffers_;
};

}  // namespace

std::unique_ptr<CommHook> MakeCompressionHook(GradientCompression compression) {
  switch (compression) {
    case GradientCompression::kNone: return std::make_unique<F32Hook>();
    case GradientCompression::kBf16:
      return std::make_unique<CompressionHook>(DType::kBF16, "bf16");
    case GradientCompression::kFp16:
      return std::make_unique<CompressionHook>(DType::kF16, "fp16");
  }
  return std::make_unique<F32Hook>();
}

}  // namespace braid::parallelism
