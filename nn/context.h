// Context: the state of one microbatch travelling through a model.
//
//   nn::Context ctx({.microbatch = 3, .rng_seed = seed, .rng_stream = global_mb});
//   BRAID_ASSIGN_OR_RETURN(Tensor y, model.Forward(ctx, x));
//   ...                                        // other microbatches may run here
//   BRAID_ASSIGN_OR_RETURN(Tensor dx, model.BackwardInput(ctx, dy));
//   ...                                        // a zero-bubble schedule defers W
//   BRAID_RETURN_IF_ERROR(model.BackwardWeight(ctx));
//
// Layers hold parameters only; everything a layer saves in Forward for its
// backward (activations, masks, statistics) lives in the Context of that
// microbatch, keyed by the layer. So any number of microbatches can be in
// flight through one model (what pipeline schedules need), and dropping a
// Context frees its activations.
//
// Randomness (dropout) is a pure function of (rng_seed, rng_stream, offset):
// a Context hands out consecutive offsets in call order, so the same
// microbatch index gives the same masks on any rank and any data-parallel
// size.
//
// The gradient hook: a layer's BackwardWeight calls GradientReady(p) once it
// has finished accumulating into p.grad for this microbatch. Data parallelism
// sets a hook on the last microbatch of a step to start bucket all-reduces
// while the rest of the backward runs.
//
// Thread-safety: none; one Context is used by one thread at a time.
#ifndef BRAID_NN_CONTEXT_H_
#define BRAID_NN_CONTEXT_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/gemm.h"
#include "kernels/stream.h"
#include "nn/parameter.h"
#include "runtime/tensor.h"
#include "runtime/trace.h"

namespace braid::nn {

class Layer;

// Told when a parameter's gradient for the current microbatch is complete.
class GradientHook {
 public:
  virtual ~GradientHook() = default;
  // Called on the thread running BackwardWeight; must be quick (enqueue work).
  virtual void OnGradientReady(Parameter& parameter) = 0;
};

struct ContextOptions {
  // Index of this microbatch among those in flight (informational; traces).
  int microbatch = 0;
  // False disables dropout and lets layers skip saving for backward.
  bool training = true;
  // Dropout randomness: (seed, stream) name a Philox sequence. Use the global
  // microbatch index (step * global_microbatches + index) as the stream for
  // results that do not depend on the data-parallel size.
  uint64_t rng_seed = 0;
  uint64_t rng_stream = 0;
  // Where kernels run (CUDA stream for GPU tensors).
  kernels::Stream stream;
  // cuBLAS handles for GPU GEMMs; may be null (slower on GPU; unused on CPU).
  kernels::GemmContext* gemm_context = nullptr;
  // Compute spans ("forward", "backward_input", "backward_weight"); may be null.
  runtime::Tracer* tracer = nullptr;
  // Told about finished gradients; may be null.
  GradientHook* gradient_hook = nullptr;
};

class Context {
 public:
  explicit Context(const ContextOptions& options = {}) : options_(options) {}
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  Context(Context&&) = default;
  Context& operator=(Context&&) = default;

  const ContextOptions& options() const { return options_; }
  bool training() const { return options_.training; }
  const kernels::Stream& stream() const { return options_.stream; }
  kernels::GemmContext* gemm_context() const { return options_.gemm_context; }
  runtime::Tracer* tracer() const { return options_.tracer; }

  void set_gradient_hook(GradientHook* hook) { options_.gradient_hook = hook; }
  // Forwards to the hook, if any.
  void GradientReady(Parameter& parameter) {
    if (options_.gradient_hook != nullptr) options_.gradient_hook->OnGradientReady(parameter);
  }

  // Reserves `counters` Philox counters and returns the first offset; the
  // next call continues after them.
  uint64_t NextRandomOffset(uint64_t counters) {
    const uint64_t offset = rng_offset_;
    rng_offset_ += counters;
    return offset;
  }

  // Saved tensors of `owner` (a layer, or a loss: any object with a stable
  // address) for this microbatch. Save replaces what was
  // there; Saved fails with kFailedPrecondition (naming `what`, e.g. the
  // layer's name and the method) when nothing was saved, i.e. backward
  // before forward or twice; Release drops them.
  void Save(const void* owner, std::vector<runtime::Tensor> tensors) {
    saved_[owner] = std::move(tensors);
  }
  absl::StatusOr<absl::Span<const runtime::Tensor>> Saved(const void* owner,
                                                          absl::string_view what) const;
  void Release(const void* owner) { saved_.erase(owner); }
  // Number of layers with saved tensors (tests check that backward frees).
  size_t num_saved() const { return saved_.size(); }

 private:
  ContextOptions options_;
  uint64_t rng_offset_ = 0;
  absl::flat_hash_map<const void*, std::vector<runtime::Tensor>> saved_;
};

}  // namespace braid::nn

#endif  // BRAID_NN_CONTEXT_H_
