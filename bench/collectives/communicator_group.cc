#include "bench/collectives/communicator_group.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace braid::bench {

using collectives::ReduceOp;
using runtime::DType;
using runtime::Tensor;

absl::Status CommunicatorGroup::Prepare(BenchOp op, float* in, float* out,
                                        int64_t size_elements) {
  op_ = op;
  const BufferCounts counts = OpBufferCounts(op, size_elements, comm_.size());
  if (counts.input > 0) {
    absl::StatusOr<Tensor> t = Tensor::FromBlob(in, {counts.input}, DType::kF32, device_);
    if (!t.ok()) return t.status();
    in_ = *t;
  }  // else (broadcast) in_ is unused
  absl::StatusOr<Tensor> t = Tensor::FromBlob(out, {counts.output}, DType::kF32, device_);
  if (!t.ok()) return t.status();
  out_ = *t;
  return absl::OkStatus();
}

absl::Status CommunicatorGroup::RunOnce() {
  std::shared_ptr<collectives::Work> work;
  switch (op_) {
    case BenchOp::kAllReduce:
      work = comm_.AllReduce(in_, out_, ReduceOp::kSum);
      break;
    case BenchOp::kReduceScatter:
      work = comm_.ReduceScatter(in_, out_, ReduceOp::kSum);
      break;
    case BenchOp::kAllGather:
      work = comm_.AllGather(in_, out_);
      break;
    case BenchOp::kBroadcast:
      work = comm_.Broadcast(out_, 0);
      break;
    case BenchOp::kAllToAll:
      work = comm_.AllToAll(in_, out_);
      break;
  }
  absl::Status s = work->Wait(absl::Now() + op_wait_);
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat(comm_.backend(), " ", ToString(op_), " on rank ",
                                               comm_.rank(), ": ", s.message()));
  }
  return s;
}

absl::Status CommunicatorGroup::Barrier() {
  return comm_.Barrier()->Wait(absl::Now() + op_wait_);
}

}  // namespace braid::bench
