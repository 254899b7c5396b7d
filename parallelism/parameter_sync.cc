// Initial parameter agreement across a data-parallel group: broadcast from
// rank 0 or a fingerprint comparison.
#include "parallelism/parameter_sync.h"

#include <cstring>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/status_macros.h"

namespace braid::parallelism {

using runtime::DType;
using runtime::Tensor;

absl::string_view ToString(ParameterSync sync) {
  switch (sync) {
    case ParameterSync::kBroadcast: return "broadcast";
    case ParameterSync::kCheckHash: return "check_hash";
    case ParameterSync::kNone: return "none";
  }
  return "unknown";
}

namespace {

std::string Where(const collectives::Communicator& comm) {
  return absl::StrCat(comm.backend(), " communicator (rank ", comm.rank(), " of ", comm.size(),
                      ", epoch ", comm.epoch(), ")");
}

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(), absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace

absl::StatusOr<uint64_t> ValueFingerprint(const Tensor& value) {
  Tensor host = value;
  if (!host.device().is_cpu()) {
    BRAID_ASSIGN_OR_RETURN(host, value.To(runtime::Device::Cpu()));
  }
  if (!host.is_contiguous()) {
    return absl::InvalidArgumentError("ValueFingerprint: the value must be contiguous");
  }
  const auto* bytes = static_cast<const unsigned char*>(host.raw_data());
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < host.nbytes(); ++i) h = (h ^ bytes[i]) * 0x100000001b3ull;
  return h;
}

absl::Status SyncParameters(collectives::Communicator& comm, ParameterSync sync,
                            const Tensor& arena, const std::vector<ValueToSync>& values,
                            absl::Time deadline) {
  switch (sync) {
    case ParameterSync::kNone: return absl::OkStatus();
    case ParameterSync::kBroadcast:
      if (comm.size() == 1 || arena.numel() == 0) return absl::OkStatus();
      return Annotate(comm.Broadcast(arena, /*root=*/0)->Wait(deadline),
                      absl::StrCat("DataParallel::Create: broadcasting rank 0's parameters on "
                                   "the ", Where(comm)));
    case ParameterSync::kCheckHash: break;
  }
  const int64_t n = static_cast<int64_t>(values.size());
  if (comm.size() == 1 || n == 0) return absl::OkStatus();
  std::vector<int64_t> mine;
  mine.reserve(values.size());
  for (const ValueToSync& v : values) {
    BRAID_ASSIGN_OR_RETURN(uint64_t f, ValueFingerprint(v.value));
    mine.push_back(static_cast<int64_t>(f));
  }
  BRAID_ASSIGN_OR_RETURN(Tensor in, Tensor::FromVector(mine, {n}));
  BRAID_ASSIGN_OR_RETURN(Tensor out, Tensor::Zeros({n * comm.size()}, DType::kI64));
  BRAID_RETURN_IF_ERROR(Annotate(comm.AllGather(in, out)->Wait(deadline),
                                 absl::StrCat("DataParallel::Create: comparing parameter "
                                              "fingerprints on the ", Where(comm))));
  const int64_t* all = out.data<int64_t>();
  // The first parameter (in list order) where some rank differs from rank 0,
  // and the lowest such rank: the same answer on every rank.
  for (int64_t i = 0; i < n; ++i) {
    for (int r = 1; r < comm.size(); ++r) {
      if (all[r * n + i] == all[i]) continue;
      return absl::InvalidArgumentError(absl::StrFormat(
          "DataParallel::Create: parameter #%d '%s' differs between rank 0 and rank %d "
          "(value fingerprints %016x vs %016x) on the %s; initialize every rank with the same "
          "seed, load the same checkpoint, or use ParameterSync::kBroadcast",
          i, values[i].name, r, static_cast<uint64_t>(all[i]),
          static_cast<uint64_t>(all[r * n + i]), Where(comm)));
    }
  }
  return absl::OkStatus();
}

}  // namespace braid::parallelism
