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
// same and the per-rank microbatch count is a power of two (any count is
// bit-identical at a fixed size). The tree is built here, not by the backend:
// each rank sums its microbatches in a binary counter of partial buffers, then
// an AllToAll sends shard j of every rank's partial to rank j, which adds the
// size() partials in tree order and all-gathers the result. So it holds on
// any backend, which need not be in deterministic mode. Costs: up to
// log2(count)+2 gradient buffers and one receive buffer per bucket.
// docs/data_parallel.md has the details.
//
// Faults: a failed collective (kAborted from the backend) is returned from
// FinishGradients/ClipGradients/Step with the backend's code and payloads
// (FailedRanks) and the bucket, communicator and epoch in the message, after
// the step's other operations have ended (fault-tolerant backends end them at
// once; nothing waits past `deadline`). The step must then be abandoned
// (gradients are partial); BeginMicrobatch(0) starts the next one, normally
// on a rebuilt communicator. Calls out of order are kFailedPrecondition.
//
// Parameter agreement (`parameter_sync`): Create broadcasts rank 0's values
// (default, as DDP) or checks them equal by fingerprint
// (parallelism/parameter_sync.h); after a broadcast it also refreshes
// separate compute copies (mixed precision) from the new values.
//
// Unused parameters (`find_unused_parameters`, as DDP's): a parameter that
// gets no gradient in the last microbatch of a step (a skipped branch) never
// holds its bucket past the end of the backward: EndBackward() (called after
// the last microbatch's backward, or implied by FinishGradients) posts every
// bucket still waiting, in bucket order, and such a parameter contributes
// what it accumulated (zero if unused in every microbatch) to the mean. A
// model that knows during the forward that a branch is skipped calls
// MarkUnused(branch parameters), so their buckets post during the backward.
// Ranks may skip different branches: buckets are posted in bucket order on
// every rank whatever is used, so the collectives always line up; a rank
// that skipped only posts a waiting bucket later. docs/data_parallel.md,
// "Unused parameters". Without the option, a parameter without gradient is
// still tolerated (its bucket waits for FinishGradients) but logged once.
//
// Communication hooks (`compression`, `comm_hook`): how a bucket is reduced;
// bf16/f16 compression halves the bytes on the wire
// (parallelism/comm_hook.h). Not with `deterministic`.
//
// No-sync (`NoSync()`, as DDP's no_sync): under the scope, steps only
// accumulate locally; the first step begun after it reduces everything
// accumulated (mean over all those microbatches). Use BeginMicrobatch's
// count when a step's microbatches are known up front (the usual case; the
// deterministic tree and the overlap rely on it); use NoSync when an outer
// loop decides when to synchronise (code ported from DDP, a variable number
// of accumulation rounds):
//
//   { auto no_sync = dp->NoSync();
//     for (int i = 0; i < k - 1; ++i) { hook = dp->BeginMicrobatch(0, 1); ...backward... } }
//   hook = dp->BeginMicrobatch(0, 1); ...backward...;   // reduces all k
//   dp->FinishGradients(deadline);
//
// Mixed precision: Step updates the f32 master values; call
// nn::RefreshComputeCopies afterwards when compute copies exist.
//
// Protocol, collective order and costs: docs/data_parallel.md.
//
// Thread-safety: one thread drives a DataParallel; the hook runs on that
// thread. The communicator is borrowed and must outlive this object.
#ifndef BRAID_PARALLELISM_DATA_PARALLEL_H_
#define BRAID_PARALLELISM_DATA_PARALLEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "nn/context.h"
#include "nn/optimizer.h"
#include "nn/parameter.h"
#include "parallelism/comm_hook.h"
#include "parallelism/parameter_sync.h"
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
  // Create's cross-rank check of parameters and options waits at most this.
  absl::Duration setup_timeout = absl::Seconds(60);
  // How Create makes initial values agree (parallelism/parameter_sync.h).
  ParameterSync parameter_sync = ParameterSync::kBroadcast;
  // Allow parameters without gradient; enables EndBackward and MarkUnused.
  bool find_unused_parameters = false;
  // Built-in bucket reduction: f32, or bf16/f16 on the wire.
  GradientCompression compression = GradientCompression::kNone;
  // A hook of one's own (borrowed, outlives the DataParallel); overrides
  // `compression`. REQUIRES: the same name() on every rank.
  CommHook* comm_hook = nullptr;
};

// Time spent in this step's communication, for progress lines and benches.
struct DataParallelStats {
  absl::Duration communication;  // posted -> completed, summed over bucket reductions
  absl::Duration exposed;        // blocked in Work::Wait in FinishGradients/Clip/Step
  int64_t bytes = 0;             // payload bytes posted this step (as sent: compressed)
  int64_t bytes_saved = 0;       // f32 bytes minus bytes posted, by the comm hook
  int collectives = 0;           // operations posted this step (all kinds)
  int buckets_posted_in_backward = 0;  // gradient reductions posted by the hook
  int unused_parameters = 0;  // parameters without gradient in the last microbatch
  int accumulated_microbatches = 0;    // microbatches in the mean (incl. NoSync ones)
};

class DataParallel {
 public:
  // REQUIRES: parameters f32 (value and grad) on one device, the same names
  // and shapes on every rank of `communicator`, and the same options
  // (checked with collectives, bounded by setup_timeout: kInvalidArgument
  // naming the first difference). Re-homes every parameter's value and grad
  // (and compute when it is the value) into flat bucket buffers. A Parameter
  // listed twice (tied) is kept once and must report ready once per listing.
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

  // With find_unused_parameters: declares the last microbatch's backward
  // over. Every parameter that reported no gradient counts as unused, and
  // every bucket not posted yet is posted now, in order; returns at once.
  // FinishGradients does this itself if it was not called.
  // REQUIRES: after the backward of the step's last microbatch (not under
  // NoSync), before FinishGradients. A gradient reported afterwards fails
  // the step (kFailedPrecondition from FinishGradients).
  absl::Status EndBackward();

  // With find_unused_parameters: during the last microbatch (forward or
  // backward), declares that these parameters get no gradient in it; they
  // count as ready, so their buckets post during the backward. Outside the
  // last microbatch (or under NoSync) it does nothing. kInvalidArgument for
  // a parameter not in this DataParallel; a parameter marked and then also
  // reported fails the step as a double report does.
  absl::Status MarkUnused(const std::vector<nn::NamedParameter>& parameters);

  // Local accumulation only while the returned scope lives (see above).
  // Scopes may nest. REQUIRES: the scope does not outlive this object.
  class NoSyncScope {
   public:
    NoSyncScope(NoSyncScope&& other) noexcept : dp_(other.dp_) { other.dp_ = nullptr; }
    NoSyncScope& operator=(NoSyncScope&&) = delete;
    NoSyncScope(const NoSyncScope&) = delete;
    ~NoSyncScope();

   private:
    friend class DataParallel;
    explicit NoSyncScope(DataParallel* dp) : dp_(dp) {}
    DataParallel* dp_;
  };
  [[nodiscard]] NoSyncScope NoSync();

  // Names of the parameters that got no gradient in the last microbatch of
  // the current (or last) step, on this rank; known after EndBackward.
  std::vector<std::string> UnusedParameters() const;

  // After the last microbatch's backward: posts what is not posted yet and
  // waits; then every gradient (ZeRO-2: this rank's slice of each bucket) is
  // the mean over ranks and microbatches.
  absl::Status FinishGradients(absl::Time deadline);

  // Global gradient norm (over all ranks' shards under ZeRO-2); scales the
  // gradients so it is at most `max_norm`. Returns the norm before scaling.
  // REQUIRES: after FinishGradients, before Step; max_norm > 0. A non-finite
  // norm is kDataLoss (gradients untouched): skip this step's Step.
  absl::StatusOr<float> ClipGradients(float max_norm, absl::Time deadline);

  // Applies `optimizer` to this rank's slots and (ZeRO) all-gathers the new
  // values; afterwards every rank holds identical parameter values.
  // REQUIRES: after a successful FinishGradients of this step.
  absl::Status Step(nn::Optimizer& optimizer, float lr, absl::Time deadline);

  // The slots Step gives the optimizer on this rank: whole parameters (named
  // as the parameter), or with ZeRO this rank's slice of each bucket without
  // padding, cut where weight_decay changes ("bucket<i>", or "bucket<i>.<k>"
  // when cut). Views of live buffers: valid until the next BeginMicrobatch
  // (deterministic mode moves gradients between buffers).
  std::vector<nn::OptimizerSlot> OptimizerSlots() const;

  int num_buckets() const;
  // Gradient reductions posted so far in the current step (tests watch the
  // overlap with it: it grows during the last microbatch's backward).
  int buckets_posted() const;
  // The current step's figures while it runs, the last step's afterwards.
  const DataParallelStats& last_step_stats() const;

 private:
  class Impl;
  explicit DataParallel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace braid::parallelism

#endif  // BRAID_PARALLELISM_DATA_PARALLEL_H_
