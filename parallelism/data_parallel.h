// DataParallel: gradient averaging over a data-parallel group, overlapped with
// the backward, with optional ZeRO sharding of optimizer state and gradients.
//
//   BRAID_ASSIGN_OR_RETURN(auto dp, parallelism::DataParallel::Create(
//       model.NamedParameters(), dp_comm, {.bucket_bytes = 4 << 20}));
//   for (int mb = 0; mb < num_microbatches; ++mb) {
//     BRAID_ASSIGN_OR_RETURN(nn::GradientHook* hook, dp->BeginMicrobatch(mb, num_microbatches));
//     nn::Context ctx({.rng_seed = seed, .rng_stream = global_mb, .gradient_hook = hook});
//     ... forward, loss, backward ...
//   }
//   BRAID_RETURN_IF_ERROR(dp->FinishGradients(deadline));     // grads = mean over ranks
//   BRAID_ASSIGN_OR_RETURN(float norm, dp->ClipGradients(1.0f, deadline));
//   BRAID_RETURN_IF_ERROR(dp->Step(adam, lr, deadline));
//
// Buckets: parameters are packed, in reverse registration order (the order
// the backward produces gradients), into buckets of about `bucket_bytes`;
// Create re-homes each parameter's value and grad into its bucket's flat
// buffers (nn/parameter.h allows it). During the backward of the last
// microbatch, the hook counts ready gradients and posts a bucket's reduction
// the moment its last gradient is ready, while the backward goes on. Buckets
// are posted in bucket order on every rank (a bucket ready early waits for
// its predecessors), so ranks always agree on the order of collectives.
// Earlier microbatches only accumulate locally: no communication.
//
// Averaging: the result is the mean over all microbatches of all ranks
// (sum / (size * num_microbatches)), so a loss that is a per-microbatch mean
// gives the gradient of the global-batch mean.
//
// ZeRO (`zero`): stage 1 shards the optimizer state: gradients are
// all-reduced as usual, each rank updates only its 1/size slice of every
// bucket, and an all-gather brings the new values to every rank. Stage 2 also
// shards gradients: buckets are reduce-scattered, so only the owned slice of
// each bucket's gradient is meaningful after FinishGradients. Results equal
// the unsharded ones (elementwise optimizers).
//
// Determinism (`deterministic`): microbatch gradients are combined along one
// fixed binary tree over global microbatch indices (docs/DECISIONS.md), so a
// run is bit-identical across data-parallel sizes when microbatches are the
// same; requires power-of-two microbatch counts and a communicator in
// deterministic mode.
//
// Faults: a failed collective (kAborted from the backend) is returned from
// FinishGradients/Step with the backend's status; the step must then be
// abandoned (gradients are partial). Nothing waits past `deadline`.
//
// Thread-safety: one thread drives a DataParallel; the hook runs on that
// thread. The communicator is borrowed and must outlive this object.
#ifndef BRAID_PARALLELISM_DATA_PARALLEL_H_
#define BRAID_PARALLELISM_DATA_PARALLEL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "nn/context.h"
#include "nn/optimizer.h"
#include "nn/parameter.h"
#include "runtime/trace.h"

namespace braid::parallelism {

enum class ZeroStage : uint8_t {
  kNone = 0,
  kOptimizerState = 1,  // ZeRO-1
  kGradients = 2,       // ZeRO-2
};
absl::string_view ToString(ZeroStage stage);

struct DataParallelOptions {
  // Target bucket size (PyTorch DDP's default is 25 MB). A parameter larger
  // than this gets a bucket of its own.
  size_t bucket_bytes = 25u << 20;
  // Post each bucket's reduction during the backward (true) or only in
  // FinishGradients (false: what the overlap benchmark compares against).
  bool overlap = true;
  ZeroStage zero = ZeroStage::kNone;
  bool deterministic = false;
  // Communication spans and counters; may be null.
  runtime::Tracer* tracer = nullptr;
};

// Time spent in this step's communication, for progress lines and benches.
struct DataParallelStats {
  absl::Duration communication;  // posted -> completed, summed over buckets
  absl::Duration exposed;        // the caller waited in FinishGradients/Step
  int64_t bytes = 0;             // payload bytes posted this step
};

class DataParallel {
 public:
  // REQUIRES: parameters f32 on one device, the same names and shapes on
  // every rank of `communicator` (checked: kInvalidArgument naming the first
  // difference).
  static absl::StatusOr<std::unique_ptr<DataParallel>> Create(
      std::vector<nn::NamedParameter> parameters, collectives::Communicator& communicator,
      const DataParallelOptions& options);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Before the forward of microbatch `index` of `count` in this step. Returns
  // the hook to put into that microbatch's Context (never null). The first
  // call of a step (index 0) zeroes the gradients.
  absl::StatusOr<nn::GradientHook*> BeginMicrobatch(int index, int count);

  // After the last microbatch's backward: posts what is not posted yet and
  // waits; then every gradient (ZeRO-2: this rank's slice of each bucket) is
  // the mean over ranks and microbatches.
  absl::Status FinishGradients(absl::Time deadline);

  // Global gradient norm (over all ranks' shards under ZeRO-2); scales the
  // gradients so it is at most `max_norm`. Returns the norm before scaling.
  absl::StatusOr<float> ClipGradients(float max_norm, absl::Time deadline);

  // Applies `optimizer` to this rank's slots and (ZeRO) all-gathers the new
  // values; afterwards every rank holds identical parameter values.
  absl::Status Step(nn::Optimizer& optimizer, float lr, absl::Time deadline);

  // The slots Step gives the optimizer on this rank: whole parameters, or
  // with ZeRO this rank's slice of each bucket ("bucket<i>").
  std::vector<nn::OptimizerSlot> OptimizerSlots() const;

  int num_buckets() const;
  const DataParallelStats& last_step_stats() const;

 private:
  class Impl;
  explicit DataParallel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace braid::parallelism

#endif  // BRAID_PARALLELISM_DATA_PARALLEL_H_
