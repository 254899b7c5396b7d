// CommunicatorGroup: a BenchGroup over a braid Communicator (any backend),
// so braid's backends run exactly the sweep the peers run.
//
// Each RunOnce posts the prepared operation and waits for its Work (deadline
// = now + op_wait); the tensors wrap the sweep's buffers without copies and
// are built once per Prepare, outside the timed loop.
//
// Thread-safety: one thread at a time.
#ifndef BRAID_BENCH_COLLECTIVES_COMMUNICATOR_GROUP_H_
#define BRAID_BENCH_COLLECTIVES_COMMUNICATOR_GROUP_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "bench/collectives/sweep.h"
#include "collectives/communicator.h"
#include "runtime/tensor.h"

namespace braid::bench {

class CommunicatorGroup final : public BenchGroup {
 public:
  // `comm` is borrowed and must outlive the group.
  // `device`: where the buffers given to Prepare live (CUDA for nccl).
  explicit CommunicatorGroup(collectives::Communicator& comm,
                             runtime::Device device = runtime::Device::Cpu(),
                             absl::Duration op_wait = absl::Seconds(120))
      : comm_(comm), device_(device), op_wait_(op_wait) {}

  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  absl::Status Prepare(BenchOp op, float* in, float* out, int64_t size_elements) override;
  absl::Status RunOnce() override;
  absl::Status Barrier() override;

 private:
  collectives::Communicator& comm_;
  const runtime::Device device_;
  const absl::Duration op_wait_;
  BenchOp op_ = BenchOp::kAllReduce;
  runtime::Tensor in_;
  runtime::Tensor out_;
};

}  // namespace braid::bench

#endif  // BRAID_BENCH_COLLECTIVES_COMMUNICATOR_GROUP_H_
