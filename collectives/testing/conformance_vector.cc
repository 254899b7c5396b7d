// Conformance checks for AllGatherV, ReduceScatterV, Gather, Scatter, the
// pre-multiplied sums and in-place AllToAllV (see conformance.h).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collectives/testing/conformance.h"
#include "collectives/testing/conformance_internal.h"
#include "runtime/status_macros.h"
#include "runtime/tensor.h"

namespace braid::collectives::testing {
namespace {

using internal::Compare;
using internal::Describe;
using internal::ExpectInvalidArgument;
using internal::Label;
using internal::MakeTensor;
using internal::RoundTo;
using internal::Sentinel;
using internal::WaitFor;
using runtime::DType;
using runtime::Tensor;

std::vector<int64_t> UnevenCounts(int n, int64_t scale) {
  std::vector<int64_t> counts(n);
  for (int j = 0; j < n; ++j) counts[j] = ((j + 1) % 3) * scale;
  return counts;
}

std::vector<int64_t> Offsets(const std::vector<int64_t>& counts) {
  std::vector<int64_t> offsets(counts.size() + 1, 0);
  for (size_t j = 0; j < counts.size(); ++j) offsets[j + 1] = offsets[j] + counts[j];
  return offsets;
}

double PreMulScale(DType dtype) { return runtime::IsFloatingPoint(dtype) ? 0.5 : 3.0; }

// What one rank contributes to a pre-multiplied sum, as the backend computes it.
double PreMultiplied(DType dtype, double x) {
  if (runtime::IsFloatingPoint(dtype)) {
    return RoundTo(dtype, static_cast<double>(static_cast<float>(x) * 0.5f));
  }
  return RoundTo(dtype, x * 3.0);
}

}  // namespace

absl::Status CheckAllGatherV(Communicator& comm, DType dtype, int64_t scale, bool in_place,
                             const ConformanceOptions& o) {
  const int r = comm.rank(), n = comm.size();
  const std::vector<int64_t> counts = UnevenCounts(n, scale);
  const std::vector<int64_t> off = Offsets(counts);
  const std::string what =
      Describe(comm, Label("AllGatherV", absl::StrCat("scale=", scale), dtype, off[n], in_place));
  std::vector<double> in(counts[r]), expected(off[n]);
  for (int64_t k = 0; k < counts[r]; ++k) in[k] = MovementValue(dtype, r, 4, k);
  for (int j = 0; j < n; ++j) {
    for (int64_t k = 0; k < counts[j]; ++k) expected[off[j] + k] = MovementValue(dtype, j, 4, k);
  }
  Tensor input, output;
  if (in_place) {
    std::vector<double> out = Sentinel(dtype, off[n]);
    std::copy(in.begin(), in.end(), out.begin() + off[r]);
    BRAID_ASSIGN_OR_RETURN(output, MakeTensor(out, dtype, o.device));
    BRAID_ASSIGN_OR_RETURN(input, output.Slice(0, off[r], off[r + 1]));
  } else {
    BRAID_ASSIGN_OR_RETURN(input, MakeTensor(in, dtype, o.device));
    BRAID_ASSIGN_OR_RETURN(output, MakeTensor(Sentinel(dtype, off[n]), dtype, o.device));
  }
  BRAID_RETURN_IF_ERROR(WaitFor(comm.AllGatherV(input, output, counts), what, o));
  return Compare(what, dtype, output, expected);
}

absl::Status CheckReduceScatterV(Communicator& comm, DType dtype, ReduceOp op, int64_t scale,
                                 bool in_place, const ConformanceOptions& o) {
  const int r = comm.rank(), n = comm.size();
  const std::vector<int64_t> counts = UnevenCounts(n, scale);
  const std::vector<int64_t> off = Offsets(counts);
  const std::string what = Describe(
      comm, Label("ReduceScatterV", absl::StrCat(ToString(op), ", scale=", scale), dtype, off[n],
                  in_place));
  std::vector<double> in(off[n]), expected(counts[r]);
  for (int64_t i = 0; i < off[n]; ++i) in[i] = ReductionInput(dtype, op, r, i);
  for (int64_t k = 0; k < counts[r]; ++k) {
    expected[k] = ReductionReference(dtype, op, n, off[r] + k);
  }
  BRAID_ASSIGN_OR_RETURN(Tensor input, MakeTensor(in, dtype, o.device));
  Tensor output;
  if (in_place) {
    BRAID_ASSIGN_OR_RETURN(output, input.Slice(0, off[r], off[r + 1]));
  } else {
    BRAID_ASSIGN_OR_RETURN(output, MakeTensor(Sentinel(dtype, counts[r]), dtype, o.device));
  }
  BRAID_RETURN_IF_ERROR(WaitFor(comm.ReduceScatterV(input, output, counts, op), what, o));
  return Compare(what, dtype, output, expected);
}

absl::Status CheckGather(Communicator& comm, DType dtype, int64_t count, int root, bool in_place,
                         const ConformanceOptions& o) {
  const int r = comm.rank(), n = comm.size();
  const bool is_root = r == root;
  const std::string what =
      Describe(comm, Label("Gather", absl::StrCat("root=", root), dtype, count, in_place));
  std::vector<double> in(count), expected(count * n);
  for (int64_t k = 0; k < count; ++k) in[k] = MovementValue(dtype, r, 5, k);
  for (int j = 0; j < n; ++j) {
    for (int64_t k = 0; k < count; ++k) expected[j * count + k] = MovementValue(dtype, j, 5, k);
  }
  Tensor input, output;  // output stays undefined off the root
  if (in_place && is_root) {
    std::vector<double> out = Sentinel(dtype, count * n);
    std::copy(in.begin(), in.end(), out.begin() + root * count);
    BRAID_ASSIGN_OR_RETURN(output, MakeTensor(out, dtype, o.device));
    BRAID_ASSIGN_OR_RETURN(input, output.Slice(0, root * count, (root + 1) * count));
  } else {
    BRAID_ASSIGN_OR_RETURN(input, MakeTensor(in, dtype, o.device));
    if (is_root) {
      BRAID_ASSIGN_OR_RETURN(output, MakeTensor(Sentinel(dtype, count * n), dtype, o.device));
    }
  }
  BRAID_RETURN_IF_ERROR(WaitFor(comm.Gather(input, output, root), what, o));
  if (!is_root) return absl::OkStatus();
  return Compare(what, dtype, output, expected);
}

absl::Status CheckScatter(Communicator& comm, DType dtype, int64_t count, int root, bool in_place,
                          const ConformanceOptions& o) {
  const int r = comm.rank(), n = comm.size();
  const bool is_root = r == root;
  const std::string what =
      Describe(comm, Label("Scatter", absl::StrCat("root=", root), dtype, count, in_place));
  std::vector<double> all(count * n), expected(count);
  for (int j = 0; j < n; ++j) {
    for (int64_t k = 0; k < count; ++k) all[j * count + k] = MovementValue(dtype, root, 6 + j, k);
  }
  for (int64_t k = 0; k < count; ++k) expected[k] = MovementValue(dtype, root, 6 + r, k);
  Tensor input, output;  // input stays undefined off the root
  if (is_root) {
    BRAID_ASSIGN_OR_RETURN(input, MakeTensor(all, dtype, o.device));
  }
  if (in_place && is_root) {
    BRAID_ASSIGN_OR_RETURN(output, input.Slice(0, root * count, (root + 1) * count));
  } else {
    BRAID_ASSIGN_OR_RETURN(output, MakeTensor(Sentinel(dtype, count), dtype, o.device));
  }
  BRAID_RETURN_IF_ERROR(WaitFor(comm.Scatter(input, output, root), what, o));
  return Compare(what, dtype, output, expected);
}

absl::Status CheckPreMulSum(Communicator& comm, DType dtype, int64_t count, bool reduce_scatter,
                            bool in_place, const ConformanceOptions& o) {
  const int r = comm.rank(), n = comm.size();
  const double scale = PreMulScale(dtype);
  const std::string what = Describe(
      comm, Label(reduce_scatter ? "ReduceScatterPreMulSum" : "AllReducePreMulSum",
                  absl::StrCat("scale=", scale), dtype, count, in_place));
  const int64_t total = reduce_scatter ? count * n : count;
  const int64_t first = reduce_scatter ? count * r : 0;
  std::vector<double> in(total), expected(count);
  for (int64_t i = 0; i < total; ++i) in[i] = ReductionInput(dtype, ReduceOp::kSum, r, i);
  for (int64_t k = 0; k < count; ++k) {
    double acc = 0;
    for (int j = 0; j < n; ++j) {
      acc += PreMultiplied(dtype, ReductionInput(dtype, ReduceOp::kSum, j, first + k));
    }
    expected[k] = RoundTo(dtype, acc);
  }
  BRAID_ASSIGN_OR_RETURN(Tensor input, MakeTensor(in, dtype, o.device));
  Tensor output;
  if (in_place) {
    BRAID_ASSIGN_OR_RETURN(output, input.Slice(0, first, first + count));
  } else {
    BRAID_ASSIGN_OR_RETURN(output, MakeTensor(Sentinel(dtype, count), dtype, o.device));
  }
  std::shared_ptr<Work> work = reduce_scatter
                                   ? comm.ReduceScatterPreMulSum(input, output, scale)
                                   : comm.AllReducePreMulSum(input, output, scale);
  BRAID_RETURN_IF_ERROR(WaitFor(work, what, o));
  return Compare(what, dtype, output, expected);
}

absl::Status CheckAllToAllVInPlace(Communicator& comm, DType dtype, int64_t scale,
                                   const ConformanceOptions& o) {
  const int64_t r = comm.rank(), n = comm.size();
  const std::string what = Describe(
      comm, absl::StrCat("AllToAllV(scale=", scale, ", ", runtime::ToString(dtype), ", in-place)"));
  std::vector<int64_t> send_counts(n), recv_counts(n);
  std::vector<double> in, expected;
  for (int64_t j = 0; j < n; ++j) {
    send_counts[j] = ((r + 2 * j) % 3) * scale;
    recv_counts[j] = ((j + 2 * r) % 3) * scale;
    for (int64_t k = 0; k < send_counts[j]; ++k) in.push_back(MovementValue(dtype, r, j, k));
    for (int64_t k = 0; k < recv_counts[j]; ++k) expected.push_back(MovementValue(dtype, j, r, k));
  }
  const size_t len = std::max(in.size(), expected.size());
  std::vector<double> buffer = Sentinel(dtype, static_cast<int64_t>(len));
  std::copy(in.begin(), in.end(), buffer.begin());
  BRAID_ASSIGN_OR_RETURN(Tensor tensor, MakeTensor(buffer, dtype, o.device));
  BRAID_RETURN_IF_ERROR(WaitFor(comm.AllToAllV(tensor, send_counts, tensor, recv_counts), what, o));
  BRAID_ASSIGN_OR_RETURN(Tensor got, tensor.Slice(0, 0, static_cast<int64_t>(expected.size())));
  return Compare(what, dtype, got, expected);
}

absl::Status CheckVectorArgumentErrors(Communicator& comm, const ConformanceOptions& o) {
  const int n = comm.size(), r = comm.rank();
  BRAID_ASSIGN_OR_RETURN(Tensor four, MakeTensor({1, 2, 3, 4}, DType::kF32, o.device));
  BRAID_ASSIGN_OR_RETURN(Tensor big, MakeTensor(std::vector<double>(4 * n, 1.0), DType::kF32,
                                                o.device));
  BRAID_RETURN_IF_ERROR(ExpectInvalidArgument(
      comm.Gather(four, big, n), Describe(comm, absl::StrCat("Gather(root=", n, ")")), o));
  BRAID_RETURN_IF_ERROR(ExpectInvalidArgument(
      comm.Scatter(big, four, -1), Describe(comm, "Scatter(root=-1)"), o));
  std::vector<int64_t> short_counts(n + 1, 4);
  BRAID_RETURN_IF_ERROR(ExpectInvalidArgument(
      comm.AllGatherV(four, big, short_counts),
      Describe(comm, "AllGatherV(size() + 1 counts)"), o));
  std::vector<int64_t> counts(n, 4);
  counts[r] = 3;  // disagrees with the input's 4 elements
  BRAID_RETURN_IF_ERROR(ExpectInvalidArgument(
      comm.AllGatherV(four, big, counts), Describe(comm, "AllGatherV(input != counts[rank])"), o));
  counts[r] = -4;
  BRAID_RETURN_IF_ERROR(ExpectInvalidArgument(
      comm.ReduceScatterV(big, four, counts, ReduceOp::kSum),
      Describe(comm, "ReduceScatterV(negative count)"), o));
  return absl::OkStatus();
}

}  // namespace braid::collectives::testing
