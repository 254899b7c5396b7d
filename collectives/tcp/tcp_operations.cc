// TcpCommunicator's operations: argument checks on the caller's thread, then
// a queued body that picks the algorithm (algorithms.h). f16/bf16 reductions
// run in f32 scratch buffers.
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/status_payload.h"
#include "collectives/tcp/algorithms.h"
#include "collectives/tcp/op_checks.h"
#include "collectives/tcp/tcp_communicator.h"
#include "runtime/half.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {
namespace {

using runtime::DType;
using runtime::Tensor;

bool IsHalf(DType d) { return d == DType::kF16 || d == DType::kBF16; }

// Bytes of `t` as reduced (16-bit floats are reduced in f32).
size_t ReducedBytes(const Tensor& t) {
  return IsHalf(t.dtype()) ? static_cast<size_t>(t.numel()) * 4 : t.nbytes();
}

void ToF32(const void* src, DType dtype, float* dst, int64_t n) {
  if (dtype == DType::kF16) {
    const auto* s = static_cast<const runtime::Half*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
  } else {
    const auto* s = static_cast<const runtime::BFloat16*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
  }
}

void FromF32(const float* src, DType dtype, void* dst, int64_t n) {
  if (dtype == DType::kF16) {
    auto* d = static_cast<runtime::Half*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = runtime::Half(src[i]);
  } else {
    auto* d = static_cast<runtime::BFloat16*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = runtime::BFloat16(src[i]);
  }
}

// Runs `reduce(data, count, compute_dtype)` in place on a buffer holding
// `input` (count elements), in f32 for 16-bit floats, divides for avg, and
// leaves the result in `output` (out_offset elements in, out_count long).
template <typename Fn>
absl::Status ReduceVia(const Tensor& input, const Tensor& output, int64_t out_offset,
                       int64_t out_count, bool avg, int divisor, Fn&& reduce) {
  const DType dtype = input.dtype();
  const int64_t count = input.numel();
  if (IsHalf(dtype)) {
    std::vector<float> scratch(static_cast<size_t>(count));
    ToF32(input.raw_data(), dtype, scratch.data(), count);
    BRAID_RETURN_IF_ERROR(reduce(scratch.data(), DType::kF32));
    if (avg) {
      BRAID_RETURN_IF_ERROR(kernels::DivideInPlace(scratch.data() + out_offset, out_count,
                                                   DType::kF32, divisor));
    }
    FromF32(scratch.data() + out_offset, dtype, output.raw_data(), out_count);
    return absl::OkStatus();
  }
  BRAID_RETURN_IF_ERROR(reduce(nullptr, dtype));
  if (avg) BRAID_RETURN_IF_ERROR(kernels::DivideInPlace(output.raw_data(), out_count, dtype, divisor));
  return absl::OkStatus();
}

// Whether input and output share no byte.
bool Disjoint(const Tensor& input, const Tensor& output) {
  const auto* in = static_cast<const uint8_t*>(input.raw_data());
  const auto* out = static_cast<const uint8_t*>(output.raw_data());
  return input.nbytes() == 0 || in + input.nbytes() <= out || out + output.nbytes() <= in;
}

// The input bytes of an operation that overwrites its output while it still
// reads its input: the input itself, or a copy in `copy` when they overlap
// (in place).
const void* SourceFor(const Tensor& input, const Tensor& output, std::vector<uint8_t>* copy) {
  const auto* in = static_cast<const uint8_t*>(input.raw_data());
  if (Disjoint(input, output)) return in;
  copy->assign(in, in + input.nbytes());
  return copy->data();
}

}  // namespace

std::shared_ptr<Work> TcpCommunicator::AllReduce(const Tensor& input, const Tensor& output,
                                                 ReduceOp op) {
  absl::Status s = CheckHostTensor(input, "AllReduce", "input");
  if (s.ok()) s = CheckHostTensor(output, "AllReduce", "output");
  if (s.ok()) s = CheckSameDType(input, output, "AllReduce");
  if (s.ok() && input.numel() != output.numel()) {
    s = absl::InvalidArgumentError(absl::StrCat("tcp AllReduce: input has ", input.numel(),
                                                " elements but output ", output.numel()));
  }
  if (!s.ok()) return SettableWork::Done(s);
  const kernels::ReduceKind kind = KindOf(op);
  const bool avg = op == ReduceOp::kAvg;
  return Post(absl::StrCat("AllReduce(", ToString(op), ")"),
              [this, input, output, kind, avg](OpContext& ctx) -> absl::Status {
    const int64_t count = input.numel();
    if (count == 0) return absl::OkStatus();
    return ReduceVia(input, output, 0, count, avg, ctx.size(),
                     [&](float* f32, DType dt) -> absl::Status {
      const int64_t bytes = count * static_cast<int64_t>(runtime::SizeOf(dt));
      const bool cma = UseCma(ctx, bytes);
      void* data = f32;
      if (data == nullptr) {
        data = output.raw_data();
        if (cma && Disjoint(input, output)) {
          // Out of place: CMA reads the input where it is.
          return AllReduceCma(ctx, input.raw_data(), data, count, dt, kind);
        }
        if (data != input.raw_data()) std::memmove(data, input.raw_data(), input.nbytes());
      }
      if (cma) return AllReduceCma(ctx, data, data, count, dt, kind);
      AllReduceAlgorithm algo = options_.allreduce_algorithm;
      if (options_.deterministic) algo = AllReduceAlgorithm::kRing;
      if (algo == AllReduceAlgorithm::kAuto) {
        algo = bytes < options_.small_allreduce_bytes ? AllReduceAlgorithm::kRecursiveDoubling
                                                      : AllReduceAlgorithm::kRing;
      }
      switch (algo) {
        case AllReduceAlgorithm::kRecursiveDoubling:
          return AllReduceRecursiveDoubling(ctx, data, count, dt, kind);
        case AllReduceAlgorithm::kRing:
        case AllReduceAlgorithm::kAuto:
          return AllReduceRing(ctx, data, count, dt, kind);
      }
      return absl::InternalError("unreachable all-reduce algorithm");
    });
  }, FitsDirect(ReducedBytes(input)));
}

std::shared_ptr<Work> TcpCommunicator::ReduceScatter(const Tensor& input, const Tensor& output,
                                                     ReduceOp op) {
  absl::Status s = CheckHostTensor(input, "ReduceScatter", "input");
  if (s.ok()) s = CheckHostTensor(output, "ReduceScatter", "output");
  if (s.ok()) s = CheckSameDType(input, output, "ReduceScatter");
  if (s.ok()) s = CheckRanksTimes(input, "input", output, "output", size(), "ReduceScatter");
  if (!s.ok()) return SettableWork::Done(s);
  const kernels::ReduceKind kind = KindOf(op);
  const bool avg = op == ReduceOp::kAvg;
  return Post(absl::StrCat("ReduceScatter(", ToString(op), ")"),
              [input, output, kind, avg](OpContext& ctx) -> absl::Status {
    const int64_t chunk = output.numel();
    if (chunk == 0) return absl::OkStatus();
    // The f32 path reduces into the scratch's own chunk, then ReduceVia
    // converts that chunk into the output.
    const int64_t own = chunk * ctx.rank();
    if (IsHalf(input.dtype())) {
      return ReduceVia(input, output, own, chunk, avg, ctx.size(),
                       [&](float* f32, DType dt) -> absl::Status {
        std::vector<float> out(static_cast<size_t>(chunk));
        BRAID_RETURN_IF_ERROR(ReduceScatterRing(ctx, f32, out.data(), chunk, dt, kind));
        std::memcpy(f32 + own, out.data(), out.size() * sizeof(float));
        return absl::OkStatus();
      });
    }
    BRAID_RETURN_IF_ERROR(
        ReduceScatterRing(ctx, input.raw_data(), output.raw_data(), chunk, input.dtype(), kind));
    if (avg) return kernels::DivideInPlace(output.raw_data(), chunk, input.dtype(), ctx.size());
    return absl::OkStatus();
  }, FitsDirect(ReducedBytes(input)));
}

std::shared_ptr<Work> TcpCommunicator::AllGather(const Tensor& input, const Tensor& output) {
  absl::Status s = CheckHostTensor(input, "AllGather", "input");
  if (s.ok()) s = CheckHostTensor(output, "AllGather", "output");
  if (s.ok()) s = CheckSameDType(input, output, "AllGather");
  if (s.ok()) s = CheckRanksTimes(output, "output", input, "input", size(), "AllGather");
  if (!s.ok()) return SettableWork::Done(s);
  return Post("AllGather", [this, input, output](OpContext& ctx) {
    if (UseCma(ctx, static_cast<int64_t>(output.nbytes()))) {
      return AllGatherCma(ctx, input.raw_data(), output.raw_data(), input.nbytes());
    }
    return AllGatherRing(ctx, input.raw_data(), output.raw_data(), input.nbytes());
  }, FitsDirect(output.nbytes()));
}

std::shared_ptr<Work> TcpCommunicator::Broadcast(const Tensor& tensor, int root) {
  absl::Status s = CheckHostTensor(tensor, "Broadcast", "tensor");
  if (s.ok() && (root < 0 || root >= size())) {
    s = absl::InvalidArgumentError(absl::StrCat("tcp Broadcast: root ", root, " not in [0, ",
                                                size(), ")"));
  }
  if (!s.ok()) return SettableWork::Done(s);
  return Post("Broadcast", [this, tensor, root](OpContext& ctx) {
    if (UseCma(ctx, static_cast<int64_t>(tensor.nbytes()))) {
      return BroadcastCma(ctx, tensor.raw_data(), tensor.nbytes(), root);
    }
    return BroadcastTree(ctx, tensor.raw_data(), tensor.nbytes(), root);
  }, FitsDirect(tensor.nbytes()));
}

std::shared_ptr<Work> TcpCommunicator::Reduce(const Tensor& input, const Tensor& output,
                                              ReduceOp op, int root) {
  absl::Status s = CheckHostTensor(input, "Reduce", "input");
  if (s.ok() && (root < 0 || root >= size())) {
    s = absl::InvalidArgumentError(absl::StrCat("tcp Reduce: root ", root, " not in [0, ",
                                                size(), ")"));
  }
  if (s.ok() && rank_ == root) {
    s = CheckHostTensor(output, "Reduce", "output");
    if (s.ok()) s = CheckSameDType(input, output, "Reduce");
    if (s.ok() && input.numel() != output.numel()) {
      s = absl::InvalidArgumentError("tcp Reduce: input and output element counts differ");
    }
  }
  if (!s.ok()) return SettableWork::Done(s);
  const kernels::ReduceKind kind = KindOf(op);
  const bool avg = op == ReduceOp::kAvg;
  const bool is_root = rank_ == root;
  return Post(absl::StrCat("Reduce(", ToString(op), ")"),
              [input, output, kind, avg, root, is_root](OpContext& ctx) -> absl::Status {
    const int64_t count = input.numel();
    if (count == 0) return absl::OkStatus();
    if (IsHalf(input.dtype())) {
      std::vector<float> in(static_cast<size_t>(count));
      std::vector<float> out(is_root ? static_cast<size_t>(count) : 0);
      ToF32(input.raw_data(), input.dtype(), in.data(), count);
      BRAID_RETURN_IF_ERROR(ReduceTree(ctx, in.data(), out.data(), count, DType::kF32, kind, root));
      if (!is_root) return absl::OkStatus();
      if (avg) BRAID_RETURN_IF_ERROR(kernels::DivideInPlace(out.data(), count, DType::kF32, ctx.size()));
      FromF32(out.data(), input.dtype(), output.raw_data(), count);
      return absl::OkStatus();
    }
    void* out = is_root ? output.raw_data() : nullptr;
    BRAID_RETURN_IF_ERROR(ReduceTree(ctx, input.raw_data(), out, count, input.dtype(), kind, root));
    if (is_root && avg) return kernels::DivideInPlace(out, count, input.dtype(), ctx.size());
    return absl::OkStatus();
  }, FitsDirect(ReducedBytes(input)));
}

std::shared_ptr<Work> TcpCommunicator::AllToAll(const Tensor& input, const Tensor& output) {
  absl::Status s = CheckHostTensor(input, "AllToAll", "input");
  if (s.ok()) s = CheckHostTensor(output, "AllToAll", "output");
  if (s.ok()) s = CheckSameDType(input, output, "AllToAll");
  if (s.ok() && (input.numel() != output.numel() || input.numel() % size() != 0)) {
    s = absl::InvalidArgumentError(absl::StrCat(
        "tcp AllToAll: input (", input.numel(), ") and output (", output.numel(),
        ") must have the same number of elements, divisible by size() = ", size()));
  }
  if (!s.ok()) return SettableWork::Done(s);
  const int n = size();
  const size_t block = input.nbytes() / static_cast<size_t>(n);
  std::vector<size_t> offsets(n);
  std::vector<size_t> bytes(n, block);
  for (int i = 0; i < n; ++i) offsets[i] = block * static_cast<size_t>(i);
  return Post("AllToAll", [this, input, output, offsets, bytes](OpContext& ctx) {
    std::vector<uint8_t> copy;
    const void* source = SourceFor(input, output, &copy);
    if (UseCma(ctx, static_cast<int64_t>(input.nbytes()))) {
      return AllToAllCma(ctx, source, offsets, bytes, output.raw_data(), offsets, bytes);
    }
    return AllToAllPairwise(ctx, source, offsets, bytes, output.raw_data(), offsets, bytes);
  }, FitsDirect(input.nbytes()));
}

std::shared_ptr<Work> TcpCommunicator::AllToAllV(const Tensor& input,
                                                 absl::Span<const int64_t> send_counts,
                                                 const Tensor& output,
                                                 absl::Span<const int64_t> recv_counts) {
  absl::Status s = CheckHostTensor(input, "AllToAllV", "input");
  if (s.ok()) s = CheckHostTensor(output, "AllToAllV", "output");
  if (s.ok()) s = CheckSameDType(input, output, "AllToAllV");
  const int n = size();
  if (s.ok() && (static_cast<int>(send_counts.size()) != n ||
                 static_cast<int>(recv_counts.size()) != n)) {
    s = absl::InvalidArgumentError(absl::StrCat("tcp AllToAllV: need ", n,
                                                " send and receive counts"));
  }
  std::vector<size_t> soff(n), sbytes(n), roff(n), rbytes(n);
  if (s.ok()) {
    const size_t esize = input.element_size();
    int64_t stotal = 0;
    int64_t rtotal = 0;
    for (int i = 0; i < n; ++i) {
      if (send_counts[i] < 0 || recv_counts[i] < 0) {
        s = absl::InvalidArgumentError("tcp AllToAllV: negative count");
        break;
      }
      soff[i] = static_cast<size_t>(stotal) * esize;
      roff[i] = static_cast<size_t>(rtotal) * esize;
      sbytes[i] = static_cast<size_t>(send_counts[i]) * esize;
      rbytes[i] = static_cast<size_t>(recv_counts[i]) * esize;
      stotal += send_counts[i];
      rtotal += recv_counts[i];
    }
    if (s.ok() && (stotal > input.numel() || rtotal > output.numel())) {
      s = absl::InvalidArgumentError(absl::StrCat(
          "tcp AllToAllV: counts sum to ", stotal, " sent / ", rtotal, " received but the tensors hold ",
          input.numel(), " / ", output.numel(), " elements"));
    }
  }
  if (!s.ok()) return SettableWork::Done(s);
  return Post("AllToAllV", [this, input, output, soff, sbytes, roff, rbytes](OpContext& ctx) {
    std::vector<uint8_t> copy;
    const void* source = SourceFor(input, output, &copy);
    // Sizes differ by rank, so the choice cannot depend on them: every rank
    // takes CMA whenever the world has it.
    if (UseCma(ctx, std::numeric_limits<int64_t>::max())) {
      return AllToAllCma(ctx, source, soff, sbytes, output.raw_data(), roff, rbytes);
    }
    return AllToAllPairwise(ctx, source, soff, sbytes, output.raw_data(), roff, rbytes);
  });
}

std::shared_ptr<Work> TcpCommunicator::Send(const Tensor& tensor, int peer, int tag) {
  absl::Status s = CheckHostTensor(tensor, "Send", "tensor");
  if (s.ok() && (peer < 0 || peer >= size() || peer == rank_)) {
    s = absl::InvalidArgumentError(absl::StrCat("tcp Send: peer ", peer, " must be another rank in [0, ",
                                                size(), ")"));
  }
  if (s.ok() && tag < 0) s = absl::InvalidArgumentError("tcp Send: tag must be >= 0");
  if (!s.ok()) return SettableWork::Done(s);
  uint64_t number;
  {
    absl::MutexLock lock(&mu_);
    number = send_numbers_[{peer, tag}]++;
  }
  return Post("Send", [this, tensor, peer, tag, number](OpContext& ctx) -> absl::Status {
    FrameHeader h;
    h.kind = FrameKind::kP2P;
    h.tag = static_cast<uint32_t>(tag);
    h.comm_id = comm_id();
    h.epoch = epoch();
    h.op_seq = number;
    absl::Status sent = transport_->Send(inbox_->members()[peer], h,
                                         static_cast<const uint8_t*>(tensor.raw_data()),
                                         tensor.nbytes(), 0, absl::Now() + options_.op_timeout,
                                         *inbox_);
    if (sent.ok()) return sent;
    absl::Status broken = inbox_->error();
    if (!broken.ok()) return broken;
    return WithFailedRanks(absl::AbortedError(absl::StrCat("tcp Send to rank ", peer, " tag ", tag,
                                                           ": ", sent.message())),
                           {peer});
  });
}

std::shared_ptr<Work> TcpCommunicator::Recv(const Tensor& tensor, int peer, int tag) {
  absl::Status s = CheckHostTensor(tensor, "Recv", "tensor");
  if (s.ok() && (peer < 0 || peer >= size() || peer == rank_)) {
    s = absl::InvalidArgumentError(absl::StrCat("tcp Recv: peer ", peer, " must be another rank in [0, ",
                                                size(), ")"));
  }
  if (s.ok() && tag < 0) s = absl::InvalidArgumentError("tcp Recv: tag must be >= 0");
  if (s.ok()) s = CheckUsable("Recv");
  if (!s.ok()) return SettableWork::Done(s);
  return inbox_->PostRecv(peer, static_cast<uint32_t>(tag), tensor.raw_data(), tensor.nbytes(),
                          absl::Now() + options_.op_timeout);
}

std::shared_ptr<Work> TcpCommunicator::Barrier() {
  return Post("Barrier", [](OpContext& ctx) { return BarrierDissemination(ctx); }, FitsDirect(0));
}

}  // namespace braid::collectives::tcp
