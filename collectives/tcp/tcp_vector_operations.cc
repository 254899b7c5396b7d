// TcpCommunicator's variable-count, rooted and pre-multiplied operations:
// argument checks on the caller's thread, then a queued body over
// vector_algorithms.h. f16/bf16 ReduceScatterV reduces in f32 scratch; the
// pre-multiplied sums scale a copy of the input on the caller's thread, then
// run the ordinary sum.
#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collectives/pre_mul_sum.h"
#include "collectives/tcp/op_checks.h"
#include "collectives/tcp/tcp_communicator.h"
#include "collectives/tcp/vector_algorithms.h"
#include "runtime/half.h"
#include "runtime/status_macros.h"

namespace braid::collectives::tcp {
namespace {

using runtime::DType;
using runtime::Tensor;

absl::Status CheckRoot(int root, int n, absl::string_view op) {
  if (root >= 0 && root < n) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("tcp ", op, ": root ", root, " not in [0, ", n, ")"));
}

// Element offsets of `counts` (n + 1 entries), or kInvalidArgument.
absl::StatusOr<std::vector<int64_t>> Offsets(absl::Span<const int64_t> counts, int n,
                                             absl::string_view op) {
  if (static_cast<int>(counts.size()) != n) {
    return absl::InvalidArgumentError(absl::StrCat("tcp ", op, ": counts has ", counts.size(),
                                                   " entries; need one per rank (", n, ")"));
  }
  std::vector<int64_t> off(n + 1, 0);
  for (int j = 0; j < n; ++j) {
    if (counts[j] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("tcp ", op, ": negative count for rank ", j));
    }
    off[j + 1] = off[j] + counts[j];
  }
  return off;
}

bool IsHalf(DType d) { return d == DType::kF16 || d == DType::kBF16; }

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

// A new tensor holding scale * input.
absl::StatusOr<Tensor> Scaled(const Tensor& input, double scale) {
  BRAID_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty({input.numel()}, input.dtype()));
  BRAID_RETURN_IF_ERROR(
      PreMultiply(input.raw_data(), out.raw_data(), input.numel(), input.dtype(), scale));
  return out;
}

}  // namespace

std::shared_ptr<Work> TcpCommunicator::AllGatherV(const Tensor& input, const Tensor& output,
                                                  absl::Span<const int64_t> counts) {
  constexpr absl::string_view kOp = "AllGatherV";
  const int n = size();
  absl::Status s = CheckHostTensor(input, kOp, "input");
  if (s.ok()) s = CheckHostTensor(output, kOp, "output");
  if (s.ok()) s = CheckSameDType(input, output, kOp);
  absl::StatusOr<std::vector<int64_t>> off = s.ok() ? Offsets(counts, n, kOp) : s;
  s = off.status();
  if (s.ok() && input.numel() != counts[rank_]) {
    s = absl::InvalidArgumentError(absl::StrCat("tcp AllGatherV: input has ", input.numel(),
                                                " elements but counts[", rank_, "] is ",
                                                counts[rank_]));
  }
  if (s.ok() && output.numel() != (*off)[n]) {
    s = absl::InvalidArgumentError(absl::StrCat("tcp AllGatherV: output has ", output.numel(),
                                                " elements but the counts sum to ", (*off)[n]));
  }
  if (!s.ok()) return SettableWork::Done(s);
  const size_t esize = input.element_size();
  std::vector<size_t> offsets(n), bytes(n);
  for (int j = 0; j < n; ++j) {
    offsets[j] = static_cast<size_t>((*off)[j]) * esize;
    bytes[j] = static_cast<size_t>(counts[j]) * esize;
  }
  return Post("AllGatherV", [input, output, offsets, bytes](OpContext& ctx) {
    return AllGatherVRing(ctx, input.raw_data(), output.raw_data(), offsets, bytes);
  }, FitsDirect(output.nbytes()));
}

std::shared_ptr<Work> TcpCommunicator::ReduceScatterV(const Tensor& input, const Tensor& output,
                                                      absl::Span<const int64_t> counts,
                                                      ReduceOp op) {
  constexpr absl::string_view kOp = "ReduceScatterV";
  const int n = size();
  absl::Status s = CheckHostTensor(input, kOp, "input");
  if (s.ok()) s = CheckHostTensor(output, kOp, "output");
  if (s.ok()) s = CheckSameDType(input, output, kOp);
  absl::StatusOr<std::vector<int64_t>> off = s.ok() ? Offsets(counts, n, kOp) : s;
  s = off.status();
  if (s.ok() && input.numel() != (*off)[n]) {
    s = absl::InvalidArgumentError(absl::StrCat("tcp ReduceScatterV: input has ", input.numel(),
                                                " elements but the counts sum to ", (*off)[n]));
  }
  if (s.ok() && output.numel() != counts[rank_]) {
    s = absl::InvalidArgumentError(absl::StrCat("tcp ReduceScatterV: output has ", output.numel(),
                                                " elements but counts[", rank_, "] is ",
                                                counts[rank_]));
  }
  if (!s.ok()) return SettableWork::Done(s);
  const kernels::ReduceKind kind = KindOf(op);
  const bool avg = op == ReduceOp::kAvg;
  std::vector<int64_t> cnt(counts.begin(), counts.end());
  std::vector<int64_t> offsets(off->begin(), off->end() - 1);
  const size_t reduced_bytes =
      IsHalf(input.dtype()) ? static_cast<size_t>(input.numel()) * 4 : input.nbytes();
  return Post(absl::StrCat("ReduceScatterV(", ToString(op), ")"),
              [input, output, cnt, offsets, kind, avg](OpContext& ctx) -> absl::Status {
    const int64_t mine = cnt[ctx.rank()];
    if (!IsHalf(input.dtype())) {
      BRAID_RETURN_IF_ERROR(ReduceScatterVRing(ctx, input.raw_data(), output.raw_data(), offsets,
                                               cnt, input.dtype(), kind));
      if (avg) return kernels::DivideInPlace(output.raw_data(), mine, input.dtype(), ctx.size());
      return absl::OkStatus();
    }
    std::vector<float> in(static_cast<size_t>(input.numel()));
    std::vector<float> out(static_cast<size_t>(mine));
    ToF32(input.raw_data(), input.dtype(), in.data(), input.numel());
    BRAID_RETURN_IF_ERROR(
        ReduceScatterVRing(ctx, in.data(), out.data(), offsets, cnt, DType::kF32, kind));
    if (avg) {
      BRAID_RETURN_IF_ERROR(kernels::DivideInPlace(out.data(), mine, DType::kF32, ctx.size()));
    }
    FromF32(out.data(), input.dtype(), output.raw_data(), mine);
    return absl::OkStatus();
  }, FitsDirect(reduced_bytes));
}

std::shared_ptr<Work> TcpCommunicator::Gather(const Tensor& input, const Tensor& output,
                                              int root) {
  constexpr absl::string_view kOp = "Gather";
  const int n = size();
  absl::Status s = CheckHostTensor(input, kOp, "input");
  if (s.ok()) s = CheckRoot(root, n, kOp);
  const bool is_root = rank_ == root;
  if (s.ok() && is_root) s = CheckHostTensor(output, kOp, "output (on the root)");
  if (s.ok() && is_root) s = CheckSameDType(input, output, kOp);
  if (s.ok() && is_root) s = CheckRanksTimes(output, "output", input, "input", n, kOp);
  if (!s.ok()) return SettableWork::Done(s);
  Tensor out = is_root ? output : Tensor();
  return Post(absl::StrCat("Gather(root ", root, ")"), [input, out, root](OpContext& ctx) {
    return GatherDirect(ctx, input.raw_data(), out.defined() ? out.raw_data() : nullptr,
                        input.nbytes(), root);
  }, FitsDirect(input.nbytes() * static_cast<size_t>(n)));
}

std::shared_ptr<Work> TcpCommunicator::Scatter(const Tensor& input, const Tensor& output,
                                               int root) {
  constexpr absl::string_view kOp = "Scatter";
  const int n = size();
  absl::Status s = CheckHostTensor(output, kOp, "output");
  if (s.ok()) s = CheckRoot(root, n, kOp);
  const bool is_root = rank_ == root;
  if (s.ok() && is_root) s = CheckHostTensor(input, kOp, "input (on the root)");
  if (s.ok() && is_root) s = CheckSameDType(input, output, kOp);
  if (s.ok() && is_root) s = CheckRanksTimes(input, "input", output, "output", n, kOp);
  if (!s.ok()) return SettableWork::Done(s);
  Tensor in = is_root ? input : Tensor();
  return Post(absl::StrCat("Scatter(root ", root, ")"), [in, output, root](OpContext& ctx) {
    return ScatterDirect(ctx, in.defined() ? in.raw_data() : nullptr, output.raw_data(),
                         output.nbytes(), root);
  }, FitsDirect(output.nbytes() * static_cast<size_t>(n)));
}

std::shared_ptr<Work> TcpCommunicator::AllReducePreMulSum(const Tensor& input,
                                                          const Tensor& output, double scale) {
  absl::Status s = CheckHostTensor(input, "AllReducePreMulSum", "input");
  if (!s.ok()) return SettableWork::Done(s);
  absl::StatusOr<Tensor> scaled = Scaled(input, scale);
  if (!scaled.ok()) return SettableWork::Done(scaled.status());
  return AllReduce(*scaled, output, ReduceOp::kSum);
}

std::shared_ptr<Work> TcpCommunicator::ReduceScatterPreMulSum(const Tensor& input,
                                                              const Tensor& output, double scale) {
  absl::Status s = CheckHostTensor(input, "ReduceScatterPreMulSum", "input");
  if (!s.ok()) return SettableWork::Done(s);
  absl::StatusOr<Tensor> scaled = Scaled(input, scale);
  if (!scaled.ok()) return SettableWork::Done(scaled.status());
  return ReduceScatter(*scaled, output, ReduceOp::kSum);
}

}  // namespace braid::collectives::tcp
