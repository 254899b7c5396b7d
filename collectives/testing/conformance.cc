#include "collectives/testing/conformance.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/testing/conformance_internal.h"
#include "gtest/gtest.h"
#include "runtime/status_macros.h"
#include "runtime/tensor.h"

namespace braid::collectives::testing {
namespace {

using runtime::DType;
using runtime::Tensor;

constexpr char kMismatchPayload[] = "braid.conformance.mismatch";

template <typename T>
T FromDouble(double v) {
  if constexpr (std::is_same_v<T, runtime::Half> || std::is_same_v<T, runtime::BFloat16>) {
    return T(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}

}  // namespace

namespace internal {

// `v` as stored in `dtype` and read back.
double RoundTo(DType dtype, double v) {
  switch (dtype) {
    case DType::kF32:
      return static_cast<double>(static_cast<float>(v));
    case DType::kF16:
      return static_cast<double>(static_cast<float>(runtime::Half(static_cast<float>(v))));
    case DType::kBF16:
      return static_cast<double>(static_cast<float>(runtime::BFloat16(static_cast<float>(v))));
    case DType::kI32:
      return static_cast<double>(static_cast<int32_t>(v));
    case DType::kI64:
      return static_cast<double>(static_cast<int64_t>(v));
    case DType::kU8:
      return static_cast<double>(static_cast<uint8_t>(static_cast<int64_t>(v)));
  }
  return v;
}

// Relative (and absolute) tolerance: a few units in the last place.
double Tolerance(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 1e-6;
    case DType::kF16:
      return 2e-3;
    case DType::kBF16:
      return 1.6e-2;
    case DType::kI32:
    case DType::kI64:
    case DType::kU8:
      return 0.0;
  }
  return 0.0;
}

// Largest modulus whose residues are exact in `dtype`.
int64_t Modulus(DType dtype) {
  switch (dtype) {
    case DType::kU8:
    case DType::kBF16:
      return 251;
    case DType::kF16:
      return 2039;
    case DType::kF32:
      return int64_t{1} << 20;
    case DType::kI32:
    case DType::kI64:
      return int64_t{1} << 30;
  }
  return 251;
}

absl::Status Mismatch(const std::string& what, absl::string_view detail) {
  absl::Status s = absl::InternalError(absl::StrCat(what, ": ", detail));
  s.SetPayload(kMismatchPayload, absl::Cord("1"));
  return s;
}

// "AllReduce(sum, f16, count=7, in-place) on rank 1/4 (backend mpi, epoch 0)".
std::string Describe(Communicator& comm, absl::string_view op) {
  return absl::StrCat(op, " on rank ", comm.rank(), "/", comm.size(), " (backend ", comm.backend(),
                      ", epoch ", comm.epoch(), ")");
}

absl::StatusOr<Tensor> MakeTensor(const std::vector<double>& values, DType dtype,
                                  runtime::Device device) {
  BRAID_ASSIGN_OR_RETURN(Tensor host, Tensor::Empty({static_cast<int64_t>(values.size())}, dtype));
  runtime::VisitDType(dtype, [&]<typename T>() {
    T* p = host.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = FromDouble<T>(values[i]);
  });
  if (device.is_cpu()) return host;
  return host.To(device);
}

// Values nobody should produce: marks output not written.
std::vector<double> Sentinel(DType dtype, int64_t count) {
  std::vector<double> v(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) v[i] = MovementValue(dtype, 977, 991, i);
  return v;
}

absl::Status WaitFor(const std::shared_ptr<Work>& work, const std::string& what,
                     const ConformanceOptions& options) {
  if (work == nullptr) return absl::InternalError(absl::StrCat(what, ": backend returned no Work"));
  absl::Status s = work->Wait(absl::Now() + options.op_timeout);
  if (s.ok()) return s;
  absl::Status out(s.code(), absl::StrCat(what, " failed: ", s.message()));
  s.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

absl::Status Compare(const std::string& what, DType dtype, const Tensor& got_tensor,
                     const std::vector<double>& expected) {
  if (got_tensor.numel() != static_cast<int64_t>(expected.size())) {
    return Mismatch(what, absl::StrCat("output has ", got_tensor.numel(), " elements, expected ",
                                       expected.size()));
  }
  BRAID_ASSIGN_OR_RETURN(std::vector<double> got, runtime::ToDoubleVector(got_tensor));
  const double tol = Tolerance(dtype);
  for (size_t i = 0; i < expected.size(); ++i) {
    const double e = expected[i], g = got[i];
    const bool ok = tol == 0.0 ? g == e : std::fabs(g - e) <= tol + tol * std::fabs(e);
    if (!ok) {
      return Mismatch(what, absl::StrCat("element ", i, ": expected ", e, ", got ", g));
    }
  }
  return absl::OkStatus();
}

std::string Label(absl::string_view op, absl::string_view extra, DType dtype, int64_t count,
                  bool in_place) {
  return absl::StrCat(op, "(", extra, extra.empty() ? "" : ", ", runtime::ToString(dtype),
                      ", count=", count, in_place ? ", in-place" : "", ")");
}

absl::Status ExpectInvalidArgument(const std::shared_ptr<Work>& work, const std::string& what,
                                   const ConformanceOptions& options) {
  if (work == nullptr) return absl::InternalError(absl::StrCat(what, ": backend returned no Work"));
  absl::Status s = work->Wait(absl::Now() + options.op_timeout);
  if (s.code() == absl::StatusCode::kInvalidArgument) return absl::OkStatus();
  return Mismatch(what, absl::StrCat("expected kInvalidArgument, got ", s.ToString()));
}

}  // namespace internal

namespace {

using internal::Compare;
using internal::Describe;
using internal::ExpectInvalidArgument;
using internal::Label;
using internal::MakeTensor;
using internal::Modulus;
using internal::Mismatch;
using internal::RoundTo;
using internal::Sentinel;
using internal::WaitFor;

// One named check of the suite.
struct Case {
  std::string name;
  std::function<absl::Status()> run;
};

std::vector<Case> BuildCases(Communicator& comm, const ConformanceOptions& o) {
  std::vector<Case> cases;
  auto add = [&](std::string name, std::function<absl::Status()> fn) {
    cases.push_back(Case{std::move(name), std::move(fn)});
  };
  const int n = comm.size();
  std::vector<bool> places = {false};
  if (o.in_place) places.push_back(true);

  if (o.argument_errors)
    add("argument errors", [&comm, &o] { return CheckArgumentErrors(comm, o); });
  if (o.argument_errors) {
    add("argument errors (v, rooted)", [&comm, &o] { return CheckVectorArgumentErrors(comm, o); });
  }
  add("barrier", [&comm, &o] { return CheckBarrier(comm, o); });
  for (DType dt : o.dtypes) {
    for (ReduceOp op : o.ops) {
      for (int64_t c : o.counts) {
        for (bool ip : places) {
          add("allreduce",
              [&comm, &o, dt, op, c, ip] { return CheckAllReduce(comm, dt, op, c, ip, o); });
          add("reducescatter",
              [&comm, &o, dt, op, c, ip] { return CheckReduceScatter(comm, dt, op, c, ip, o); });
        }
      }
    }
    for (int64_t c : o.counts) {
      for (bool ip : places) {
        add("allgather", [&comm, &o, dt, c, ip] { return CheckAllGather(comm, dt, c, ip, o); });
        add("alltoall", [&comm, &o, dt, c, ip] { return CheckAllToAll(comm, dt, c, ip, o); });
      }
      for (int root = 0; root < n; ++root) {
        add("broadcast", [&comm, &o, dt, c, root] { return CheckBroadcast(comm, dt, c, root, o); });
        for (bool ip : places) {
          add("reduce", [&comm, &o, dt, c, root, ip] {
            return CheckReduce(comm, dt, ReduceOp::kSum, c, root, ip, o);
          });
        }
      }
    }
    for (ReduceOp op : o.ops) {
      add("reduce", [&comm, &o, dt, op] { return CheckReduce(comm, dt, op, 7, 0, false, o); });
    }
    for (int64_t scale : {int64_t{0}, int64_t{1}, int64_t{5}}) {
      for (bool ip : places) {
        add("allgatherv",
            [&comm, &o, dt, scale, ip] { return CheckAllGatherV(comm, dt, scale, ip, o); });
      }
    }
    for (ReduceOp op : o.ops) {
      for (int64_t scale : {int64_t{1}, int64_t{5}}) {
        for (bool ip : places) {
          add("reducescatterv", [&comm, &o, dt, op, scale, ip] {
            return CheckReduceScatterV(comm, dt, op, scale, ip, o);
          });
        }
      }
    }
    for (int64_t c : o.counts) {
      for (int root : {0, n - 1}) {
        for (bool ip : places) {
          add("gather",
              [&comm, &o, dt, c, root, ip] { return CheckGather(comm, dt, c, root, ip, o); });
          add("scatter",
              [&comm, &o, dt, c, root, ip] { return CheckScatter(comm, dt, c, root, ip, o); });
        }
        if (n == 1) break;
      }
      for (bool ip : places) {
        for (bool rs : {false, true}) {
          add(rs ? "reducescatter premulsum" : "allreduce premulsum",
              [&comm, &o, dt, c, rs, ip] { return CheckPreMulSum(comm, dt, c, rs, ip, o); });
        }
      }
    }
    if (o.point_to_point && n >= 2) {
      for (int64_t scale : {int64_t{1}, int64_t{5}}) {
        add("alltoallv", [&comm, &o, dt, scale] { return CheckAllToAllV(comm, dt, scale, o); });
        if (o.in_place) {
          add("alltoallv in-place",
              [&comm, &o, dt, scale] { return CheckAllToAllVInPlace(comm, dt, scale, o); });
        }
      }
      for (int64_t c : o.counts) {
        add("sendrecv", [&comm, &o, dt, c] { return CheckSendRecvRing(comm, dt, c, o); });
      }
    }
  }
  if (o.large_count > 0) {
    const int64_t big = o.large_count;
    for (DType dt : o.dtypes) {
      add("allreduce large",
          [&comm, &o, dt, big] { return CheckAllReduce(comm, dt, ReduceOp::kSum, big, false, o); });
    }
    for (ReduceOp op : o.ops) {
      add("allreduce large",
          [&comm, &o, op, big] { return CheckAllReduce(comm, DType::kF32, op, big, true, o); });
    }
    const int64_t per_rank = std::max<int64_t>(1, big / n);
    add("reducescatter large", [&comm, &o, per_rank] {
      return CheckReduceScatter(comm, DType::kF32, ReduceOp::kSum, per_rank, false, o);
    });
    add("allgather large",
        [&comm, &o, per_rank] { return CheckAllGather(comm, DType::kF32, per_rank, false, o); });
    add("allgatherv large", [&comm, &o, per_rank] {
      return CheckAllGatherV(comm, DType::kF32, per_rank / 2 + 1, false, o);
    });
    add("reducescatterv large", [&comm, &o, per_rank] {
      return CheckReduceScatterV(comm, DType::kF32, ReduceOp::kSum, per_rank / 2 + 1, true, o);
    });
    add("gather large", [&comm, &o, per_rank, n] {
      return CheckGather(comm, DType::kF32, per_rank, n - 1, false, o);
    });
    add("scatter large",
        [&comm, &o, per_rank] { return CheckScatter(comm, DType::kF32, per_rank, 0, true, o); });
    add("broadcast large",
        [&comm, &o, big, n] { return CheckBroadcast(comm, DType::kF32, big, n - 1, o); });
    add("alltoall large",
        [&comm, &o, per_rank] { return CheckAllToAll(comm, DType::kF32, per_rank, false, o); });
    if (o.point_to_point && n >= 2) {
      add("sendrecv large",
          [&comm, &o, big] { return CheckSendRecvRing(comm, DType::kF32, big, o); });
    }
  }
  if (o.split) add("split", [&comm, &o] { return CheckSplit(comm, o); });
  add("final barrier", [&comm, &o] { return CheckBarrier(comm, o); });
  return cases;
}

}  // namespace

bool IsMismatch(const absl::Status& status) {
  return status.GetPayload(kMismatchPayload).has_value();
}

double ReductionInput(DType dtype, ReduceOp op, int rank, int64_t index) {
  const bool is_unsigned = dtype == DType::kU8;
  double v;
  if (op == ReduceOp::kProd) {
    const int64_t m = (rank + index) % 3;
    v = m == 0 ? (is_unsigned ? 1.0 : -1.0) : static_cast<double>(m);
    return v;  // exact in every type; no halving so products stay small integers
  }
  const int64_t m = (rank * 7 + index * 3) % 11;
  v = is_unsigned ? static_cast<double>(m) : static_cast<double>(m - 5);
  return runtime::IsFloatingPoint(dtype) ? v * 0.5 : v;
}

double ReductionReference(DType dtype, ReduceOp op, int world_size, int64_t index) {
  double acc = ReductionInput(dtype, op, 0, index);
  for (int r = 1; r < world_size; ++r) {
    const double x = ReductionInput(dtype, op, r, index);
    switch (op) {
      case ReduceOp::kSum:
      case ReduceOp::kAvg:
        acc += x;
        break;
      case ReduceOp::kProd:
        acc *= x;
        break;
      case ReduceOp::kMin:
        acc = std::min(acc, x);
        break;
      case ReduceOp::kMax:
        acc = std::max(acc, x);
        break;
    }
  }
  if (op == ReduceOp::kAvg) {
    if (runtime::IsFloatingPoint(dtype)) {
      acc /= world_size;
    } else {
      acc = static_cast<double>(static_cast<int64_t>(acc) / world_size);  // truncates toward 0
    }
  }
  return RoundTo(dtype, acc);
}

double MovementValue(DType dtype, int64_t a, int64_t b, int64_t index) {
  const int64_t m = Modulus(dtype);
  const int64_t x = (a * 1000003 + b * 7919 + index * 31 + 11) % m;
  return static_cast<double>((x + m) % m);
}

absl::Status CheckAllReduce(Communicator& comm, DType dtype, ReduceOp op, int64_t count,
                            bool in_place, const ConformanceOptions& o) {
  const std::string what = Describe(comm, Label("AllReduce", ToString(op), dtype, count, in_place));
  std::vector<double> in(count), expected(count);
  for (int64_t i = 0; i < count; ++i) {
    in[i] = ReductionInput(dtype, op, comm.rank(), i);
    expected[i] = ReductionReference(dtype, op, comm.size(), i);
  }
  BRAID_ASSIGN_OR_RETURN(Tensor input, MakeTensor(in, dtype, o.device));
  Tensor output = input;
  if (!in_place) {
    BRAID_ASSIGN_OR_RETURN(output, MakeTensor(Sentinel(dtype, count), dtype, o.device));
  }
  BRAID_RETURN_IF_ERROR(WaitFor(comm.AllReduce(input, output, op), what, o));
  return Compare(what, dtype, output, expected);
}

absl::Status CheckReduceScatter(Communicator& comm, DType dtype, ReduceOp op,
                                int64_t count_per_rank, bool in_place,
                                const ConformanceOptions& o) {
  const std::string what =
      Describe(comm, Label("ReduceScatter", ToString(op), dtype, count_per_rank, in_place));
  const int64_t c = count_per_rank, r = comm.rank();
  std::vector<double> in(c * comm.size()), expected(c);
  for (size_t i = 0; i < in.size(); ++i) in[i] = ReductionInput(dtype, op, comm.rank(), i);
  for (int64_t k = 0; k < c; ++k)
    expected[k] = ReductionReference(dtype, op, comm.size(), r * c + k);
  BRAID_ASSIGN_OR_RETURN(Tensor input, MakeTensor(in, dtype, o.device));
  Tensor output;
  if (in_place) {
    BRAID_ASSIGN_OR_RETURN(output, input.Slice(0, r * c, (r + 1) * c));
  } else {
    BRAID_ASSIGN_OR_RETURN(output, MakeTensor(Sentinel(dtype, c), dtype, o.device));
  }
  BRAID_RETURN_IF_ERROR(WaitFor(comm.ReduceScatter(input, output, op), what, o));
  return Compare(what, dtype, output, expected);
}

absl::Status CheckAllGather(Communicator& comm, DType dtype, int64_t count_per_rank, bool in_place,
                            const ConformanceOptions& o) {
  const std::string what = Describe(comm, Label("AllGather", "", dtype, count_per_rank, in_place));
  const int64_t c = count_per_rank, r = comm.rank(), n = comm.size();
  std::vector<double> in(c), expected(c * n);
  for (int64_t k = 0; k < c; ++k) in[k] = MovementValue(dtype, r, 0, k);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t k = 0; k < c; ++k) expected[j * c + k] = MovementValue(dtype, j, 0, k);
  }
  Tensor input, output;
  if (in_place) {
    std::vector<double> out = Sentinel(dtype, c * n);
    std::copy(in.begin(), in.end(), out.begin() + r * c);
    BRAID_ASSIGN_OR_RETURN(output, MakeTensor(out, dtype, o.device));
    BRAID_ASSIGN_OR_RETURN(input, output.Slice(0, r * c, (r + 1) * c));
  } else {
    BRAID_ASSIGN_OR_RETURN(input, MakeTensor(in, dtype, o.device));
    BRAID_ASSIGN_OR_RETURN(output, MakeTensor(Sentinel(dtype, c * n), dtype, o.device));
  }
  BRAID_RETURN_IF_ERROR(WaitFor(comm.AllGather(input, output), what, o));
  return Compare(what, dtype, output, expected);
}

absl::Status CheckBroadcast(Communicator& comm, DType dtype, int64_t count, int root,
                            const ConformanceOptions& o) {
  const std::string what =
      Describe(comm, Label("Broadcast", absl::StrCat("root=", root), dtype, count, false));
  std::vector<double> mine(count), expected(count);
  for (int64_t k = 0; k < count; ++k) {
    expected[k] = MovementValue(dtype, root, 1, k);
    mine[k] = comm.rank() == root ? expected[k] : MovementValue(dtype, comm.rank(), 2, k);
  }
  BRAID_ASSIGN_OR_RETURN(Tensor tensor, MakeTensor(mine, dtype, o.device));
  BRAID_RETURN_IF_ERROR(WaitFor(comm.Broadcast(tensor, root), what, o));
  return Compare(what, dtype, tensor, expected);
}

absl::Status CheckReduce(Communicator& comm, DType dtype, ReduceOp op, int64_t count, int root,
                         bool in_place, const ConformanceOptions& o) {
  const std::string what = Describe(
      comm, Label("Reduce", absl::StrCat(ToString(op), ", root=", root), dtype, count, in_place));
  std::vector<double> in(count), expected(count);
  for (int64_t i = 0; i < count; ++i) {
    in[i] = ReductionInput(dtype, op, comm.rank(), i);
    expected[i] = ReductionReference(dtype, op, comm.size(), i);
  }
  BRAID_ASSIGN_OR_RETURN(Tensor input, MakeTensor(in, dtype, o.device));
  Tensor output;  // undefined off the root for the out-of-place variant
  if (in_place) {
    output = input;
  } else if (comm.rank() == root) {
    BRAID_ASSIGN_OR_RETURN(output, MakeTensor(Sentinel(dtype, count), dtype, o.device));
  }
  BRAID_RETURN_IF_ERROR(WaitFor(comm.Reduce(input, output, op, root), what, o));
  if (comm.rank() != root) return absl::OkStatus();
  return Compare(what, dtype, output, expected);
}

absl::Status CheckAllToAll(Communicator& comm, DType dtype, int64_t count_per_peer, bool in_place,
                           const ConformanceOptions& o) {
  const std::string what = Describe(comm, Label("AllToAll", "", dtype, count_per_peer, in_place));
  const int64_t c = count_per_peer, r = comm.rank(), n = comm.size();
  std::vector<double> in(c * n), expected(c * n);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t k = 0; k < c; ++k) {
      in[j * c + k] = MovementValue(dtype, r, j, k);
      expected[j * c + k] = MovementValue(dtype, j, r, k);
    }
  }
  BRAID_ASSIGN_OR_RETURN(Tensor input, MakeTensor(in, dtype, o.device));
  Tensor output = input;
  if (!in_place) {
    BRAID_ASSIGN_OR_RETURN(output, MakeTensor(Sentinel(dtype, c * n), dtype, o.device));
  }
  BRAID_RETURN_IF_ERROR(WaitFor(comm.AllToAll(input, output), what, o));
  return Compare(what, dtype, output, expected);
}

absl::Status CheckAllToAllV(Communicator& comm, DType dtype, int64_t scale,
                            const ConformanceOptions& o) {
  const int64_t r = comm.rank(), n = comm.size();
  const std::string what =
      Describe(comm, absl::StrCat("AllToAllV(scale=", scale, ", ", runtime::ToString(dtype), ")"));
  std::vector<int64_t> send_counts(n), recv_counts(n);
  std::vector<double> in, expected;
  for (int64_t j = 0; j < n; ++j) {
    send_counts[j] = ((r + 2 * j) % 3) * scale;
    recv_counts[j] = ((j + 2 * r) % 3) * scale;
    for (int64_t k = 0; k < send_counts[j]; ++k) in.push_back(MovementValue(dtype, r, j, k));
    for (int64_t k = 0; k < recv_counts[j]; ++k) expected.push_back(MovementValue(dtype, j, r, k));
  }
  BRAID_ASSIGN_OR_RETURN(Tensor input, MakeTensor(in, dtype, o.device));
  BRAID_ASSIGN_OR_RETURN(
      Tensor output,
      MakeTensor(Sentinel(dtype, static_cast<int64_t>(expected.size())), dtype, o.device));
  BRAID_RETURN_IF_ERROR(WaitFor(comm.AllToAllV(input, send_counts, output, recv_counts), what, o));
  return Compare(what, dtype, output, expected);
}

absl::Status CheckSendRecvRing(Communicator& comm, DType dtype, int64_t count,
                               const ConformanceOptions& o) {
  const int r = comm.rank(), n = comm.size();
  if (n < 2) return absl::OkStatus();
  const int next = (r + 1) % n, prev = (r + n - 1) % n;
  const int kTags[2] = {3, 11};
  // Tag 11 carries one element more, so a tag mix-up is also a size error.
  auto count_of = [count](int tag) { return tag == 3 ? count : count + 1; };
  std::vector<Tensor> sends(2), recvs(2);
  std::vector<std::vector<double>> expected(2);
  for (int t = 0; t < 2; ++t) {
    const int tag = kTags[t];
    std::vector<double> out(count_of(tag));
    expected[t].resize(count_of(tag));
    for (int64_t k = 0; k < count_of(tag); ++k) {
      out[k] = MovementValue(dtype, r, tag, k);
      expected[t][k] = MovementValue(dtype, prev, tag, k);
    }
    BRAID_ASSIGN_OR_RETURN(sends[t], MakeTensor(out, dtype, o.device));
    BRAID_ASSIGN_OR_RETURN(recvs[t], MakeTensor(Sentinel(dtype, count_of(tag)), dtype, o.device));
  }
  const std::string what = Describe(
      comm,
      Label("Send/Recv ring", absl::StrCat("to ", next, ", from ", prev), dtype, count, false));
  std::shared_ptr<Work> recv_work[2];
  const int order[2] = {o.out_of_order_tags ? 1 : 0, o.out_of_order_tags ? 0 : 1};
  for (int t : order) recv_work[t] = comm.Recv(recvs[t], prev, kTags[t]);
  std::shared_ptr<Work> send_work[2];
  for (int t = 0; t < 2; ++t) send_work[t] = comm.Send(sends[t], next, kTags[t]);
  absl::Status first;
  for (int t = 0; t < 2; ++t) {
    absl::Status s = WaitFor(send_work[t], absl::StrCat(what, " send tag ", kTags[t]), o);
    if (first.ok()) first = s;
    s = WaitFor(recv_work[t], absl::StrCat(what, " recv tag ", kTags[t]), o);
    if (first.ok()) first = s;
  }
  BRAID_RETURN_IF_ERROR(first);
  for (int t = 0; t < 2; ++t) {
    BRAID_RETURN_IF_ERROR(
        Compare(absl::StrCat(what, " tag ", kTags[t]), dtype, recvs[t], expected[t]));
  }
  return absl::OkStatus();
}

absl::Status CheckBarrier(Communicator& comm, const ConformanceOptions& o) {
  return WaitFor(comm.Barrier(), Describe(comm, "Barrier"), o);
}

absl::Status CheckSplit(Communicator& comm, const ConformanceOptions& o) {
  const int r = comm.rank(), n = comm.size();
  auto color_of = [n](int g) { return (n > 2 && g == n - 1) ? -1 : g % 2; };
  const int color = color_of(r);
  const std::string what = Describe(comm, absl::StrCat("Split(color=", color, ", key=", -r, ")"));
  absl::StatusOr<std::unique_ptr<Communicator>> sub =
      comm.Split(color, -r, absl::Now() + o.op_timeout);
  if (!sub.ok()) {
    return absl::Status(sub.status().code(),
                        absl::StrCat(what, " failed: ", sub.status().message()));
  }
  if (color < 0) {
    if (*sub != nullptr) return Mismatch(what, "color < 0 must give a null communicator");
    return absl::OkStatus();
  }
  if (*sub == nullptr) return Mismatch(what, "got a null communicator for color >= 0");
  std::vector<int> members;  // ordered by key = -rank: descending rank
  for (int g = n - 1; g >= 0; --g) {
    if (color_of(g) == color) members.push_back(g);
  }
  const int want_rank =
      static_cast<int>(std::find(members.begin(), members.end(), r) - members.begin());
  Communicator& s = **sub;
  if (s.size() != static_cast<int>(members.size()) || s.rank() != want_rank) {
    return Mismatch(what, absl::StrCat("got rank ", s.rank(), "/", s.size(), ", expected ",
                                       want_rank, "/", members.size()));
  }
  constexpr int64_t kCount = 5;
  std::vector<double> in(kCount), expected(kCount, 0.0);
  for (int64_t i = 0; i < kCount; ++i) {
    in[i] = static_cast<double>((r + 1) * (i + 1));
    for (int g : members) expected[i] += static_cast<double>((g + 1) * (i + 1));
  }
  BRAID_ASSIGN_OR_RETURN(Tensor t, MakeTensor(in, DType::kI32, o.device));
  const std::string sub_what = absl::StrCat(what, " then AllReduce(sum) in the new group");
  BRAID_RETURN_IF_ERROR(WaitFor(s.AllReduce(t, t, ReduceOp::kSum), sub_what, o));
  BRAID_RETURN_IF_ERROR(Compare(sub_what, DType::kI32, t, expected));
  return WaitFor(s.Barrier(), absl::StrCat(what, " then Barrier in the new group"), o);
}

absl::Status CheckArgumentErrors(Communicator& comm, const ConformanceOptions& o) {
  const int n = comm.size();
  BRAID_ASSIGN_OR_RETURN(Tensor four, MakeTensor({1, 2, 3, 4}, DType::kF32, o.device));
  BRAID_ASSIGN_OR_RETURN(Tensor five, MakeTensor({1, 2, 3, 4, 5}, DType::kF32, o.device));
  BRAID_ASSIGN_OR_RETURN(Tensor four_i32, MakeTensor({1, 2, 3, 4}, DType::kI32, o.device));
  BRAID_RETURN_IF_ERROR(ExpectInvalidArgument(comm.AllReduce(four, five, ReduceOp::kSum),
                                              Describe(comm, "AllReduce(numel 4 -> 5)"), o));
  BRAID_RETURN_IF_ERROR(ExpectInvalidArgument(comm.AllReduce(four, four_i32, ReduceOp::kSum),
                                              Describe(comm, "AllReduce(f32 -> i32)"), o));
  BRAID_RETURN_IF_ERROR(ExpectInvalidArgument(
      comm.Broadcast(four, n), Describe(comm, absl::StrCat("Broadcast(root=", n, ")")), o));
  BRAID_RETURN_IF_ERROR(ExpectInvalidArgument(
      comm.Send(four, n, 0), Describe(comm, absl::StrCat("Send(peer=", n, ")")), o));
  BRAID_RETURN_IF_ERROR(
      ExpectInvalidArgument(comm.Recv(four, -1, 0), Describe(comm, "Recv(peer=-1)"), o));
  if (n > 1) {
    std::vector<double> odd(2 * n + 1, 1.0);
    BRAID_ASSIGN_OR_RETURN(Tensor in, MakeTensor(odd, DType::kF32, o.device));
    BRAID_ASSIGN_OR_RETURN(Tensor out, MakeTensor({0, 0}, DType::kF32, o.device));
    BRAID_RETURN_IF_ERROR(
        ExpectInvalidArgument(comm.ReduceScatter(in, out, ReduceOp::kSum),
                              Describe(comm, "ReduceScatter(input not divisible by size)"), o));
    std::vector<int64_t> bad_counts(n, 1);  // sums to n, but input holds 4 elements
    bad_counts[0] = 5;
    BRAID_RETURN_IF_ERROR(
        ExpectInvalidArgument(comm.AllToAllV(four, bad_counts, four, bad_counts),
                              Describe(comm, "AllToAllV(send counts exceed the input)"), o));
  }
  return absl::OkStatus();
}

absl::Status RunConformanceChecks(Communicator& comm, const ConformanceOptions& options) {
  for (const Case& c : BuildCases(comm, options)) {
    BRAID_RETURN_IF_ERROR(c.run());
  }
  return absl::OkStatus();
}

void RunConformanceSuite(Communicator& comm, const ConformanceOptions& options) {
  int mismatches = 0;
  for (const Case& c : BuildCases(comm, options)) {
    absl::Status s = c.run();
    if (s.ok()) continue;
    if (!IsMismatch(s)) {
      ADD_FAILURE() << "conformance check '" << c.name << "': " << s
                    << "\nstopping the conformance suite on rank " << comm.rank()
                    << ": an operation failed, the communicator is likely broken";
      return;
    }
    // Keep going (the other ranks run the same operations), but keep the log short.
    if (++mismatches <= 20) ADD_FAILURE() << "conformance check '" << c.name << "': " << s;
  }
}

}  // namespace braid::collectives::testing
