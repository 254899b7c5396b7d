// Communication hooks: how DataParallel reduces one bucket of gradients, as
// PyTorch DDP's comm hooks. The built-ins compress the flat f32 bucket to
// bf16 or f16 before the collective and decompress after it, halving the
// bytes on the wire:
//
//   auto dp = parallelism::DataParallel::Create(params, comm,
//       {.compression = parallelism::GradientCompression::kBf16});
//
// or, for a hook of one's own (borrowed; must outlive the DataParallel):
//
//   MyHook hook;  // : public parallelism::CommHook
//   auto dp = parallelism::DataParallel::Create(params, comm, {.comm_hook = &hook});
//
// Contract of a reduction (DataParallel drives it, once per bucket per
// synced step, in bucket order, identically on every rank):
//   1. Post(bucket, comm): `bucket.gradient` holds this rank's sum over its
//      microbatches (flat f32, the bucket's padded range of the gradient
//      arena). The hook may overwrite it, encodes what it sends into buffers
//      of its own, and starts exactly one collective on `comm`, returning its
//      Work and the payload bytes it posted.
//   2. DataParallel waits for that Work (deadline, fault handling and
//      statistics are its own).
//   3. Complete(bucket): leaves `scale` * (sum over ranks) as f32 in
//      `bucket.gradient`, or, under ZeRO-2 (`bucket.shard` defined), this
//      rank's 1/size slice of it in `bucket.shard`.
// The hook decides where to apply `scale`: the compressing hooks multiply
// before encoding, so that an f16 sum cannot overflow where the mean would
// not (DDP's fp16 hook does the same).
//
// Accuracy: bf16 keeps 8 significant bits (relative error up to 2^-9 per
// value, plus the error of rounding the sum, which the backends accumulate
// in f32 and round once), f16 keeps 11 bits but only a range of about
// 6e-8..65504: gradients below 6e-8 after scaling flush toward zero.
//
// Thread-safety: a hook is called from the thread driving its DataParallel
// only; one hook object serves one DataParallel. Errors: Post's and
// Complete's statuses end the step as a failed collective would.
#ifndef BRAID_PARALLELISM_COMM_HOOK_H_
#define BRAID_PARALLELISM_COMM_HOOK_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "collectives/communicator.h"
#include "collectives/work.h"
#include "runtime/tensor.h"

namespace braid::parallelism {

// The built-in hooks (DataParallelOptions::compression).
enum class GradientCompression : uint8_t {
  kNone = 0,  // f32 all-reduce (DataParallel's own path; no hook object)
  kBf16 = 1,  // bf16 on the wire, f32 accumulation in the backend
  kFp16 = 2,  // f16 on the wire, f32 accumulation in the backend
};
absl::string_view ToString(GradientCompression compression);

// One bucket's reduction, as DataParallel hands it to a hook.
struct GradientBucket {
  int index = 0;             // bucket number: 0..num_buckets-1, the posting order
  runtime::Tensor gradient;  // flat f32 [padded numel]; in: local sum, out: result
  runtime::Tensor shard;     // ZeRO-2: f32 [padded numel / size], out; else undefined
  float scale = 1.0f;        // 1 / (ranks * microbatches): the result is the mean
};

// What Post started.
struct PostedReduction {
  std::shared_ptr<collectives::Work> work;  // never null when Post succeeds
  int64_t bytes = 0;                        // payload bytes posted by this rank
};

class CommHook {
 public:
  virtual ~CommHook() = default;
  // Stable name; DataParallel::Create checks it is the same on every rank.
  virtual absl::string_view name() const = 0;
  // Step 1 of the contract above. REQUIRES: the previous Post of the same
  // bucket index has completed.
  virtual absl::StatusOr<PostedReduction> Post(const GradientBucket& bucket,
                                               collectives::Communicator& communicator) = 0;
  // Step 3. REQUIRES: the Work returned by Post for this bucket succeeded.
  virtual absl::Status Complete(const GradientBucket& bucket) = 0;
};

// A built-in hook: kNone gives a plain f32 hook (sum, then scale; what
// DataParallel does without a hook, useful as a template), kBf16 and kFp16
// the compressing ones.
std::unique_ptr<CommHook> MakeCompressionHook(GradientCompression compression);

}  // namespace braid::parallelism

#endif  // BRAID_PARALLELISM_COMM_HOOK_H_
