#include "parallelism/parameter_check.h"

#include <algorithm>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "parallelism/bucket_plan.h"
#include "runtime/status_macros.h"

namespace braid::parallelism {
namespace {

using runtime::DType;
using runtime::Tensor;

std::string Where(const collectives::Communicator& comm) {
  return absl::StrCat(comm.backend(), " communicator (rank ", comm.rank(), " of ", comm.size(),
                      ", epoch ", comm.epoch(), ")");
}

// `status` with `context` in front; code and payloads kept.
absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(), absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

absl::StatusOr<Tensor> GatherInt64(collectives::Communicator& comm,
                                   const std::vector<int64_t>& mine, absl::Time deadline) {
  const int64_t n = static_cast<int64_t>(mine.size());
  BRAID_ASSIGN_OR_RETURN(Tensor in, Tensor::FromVector(mine, {n}));
  BRAID_ASSIGN_OR_RETURN(Tensor out, Tensor::Zeros({n * comm.size()}, DType::kI64));
  BRAID_RETURN_IF_ERROR(Annotate(comm.AllGather(in, out)->Wait(deadline),
                                 absl::StrCat("DataParallel::Create: cross-rank parameter check "
                                              "on the ", Where(comm))));
  return out;
}

}  // namespace

absl::Status CheckSameAcrossRanks(collectives::Communicator& comm,
                                  const std::vector<ParameterSummary>& parameters,
                                  const std::vector<std::pair<std::string, int64_t>>& options,
                                  absl::Time deadline) {
  std::vector<int64_t> fingerprints;
  int64_t total_numel = 0;
  uint64_t all = 0xcbf29ce484222325ull;
  for (const ParameterSummary& p : parameters) {
    const uint64_t f = ParameterFingerprint(p.name, p.shape, p.registrations);
    fingerprints.push_back(static_cast<int64_t>(f));
    all = (all ^ f) * 0x100000001b3ull;
    total_numel += runtime::NumElements(p.shape);
  }
  // 1. The summary: [count, elements, fingerprint of all, options...].
  std::vector<int64_t> mine = {static_cast<int64_t>(parameters.size()), total_numel,
                               static_cast<int64_t>(all)};
  for (const auto& [name, value] : options) mine.push_back(value);
  const int fields = static_cast<int>(mine.size());
  BRAID_ASSIGN_OR_RETURN(Tensor summary, GatherInt64(comm, mine, deadline));
  const int64_t* s = summary.data<int64_t>();
  int64_t max_params = 0;
  bool params_differ = false;
  for (int r = 0; r < comm.size(); ++r) {
    const int64_t* theirs = s + static_cast<int64_t>(r) * fields;
    max_params = std::max(max_params, theirs[0]);
    for (int f = 0; f < 3; ++f) params_differ |= theirs[f] != mine[f];
    for (int f = 3; f < fields; ++f) {
      if (theirs[f] == mine[f]) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          "DataParallel::Create: option ", options[f - 3].first, " is ", mine[f],
          " here but ", theirs[f], " on rank ", r, " of the ", Where(comm),
          "; every rank must use the same DataParallelOptions"));
    }
  }
  if (!params_differ) return absl::OkStatus();

  // 2. Name the first difference.
  std::vector<int64_t> padded = fingerprints;
  padded.resize(static_cast<size_t>(std::max<int64_t>(max_params, 1)), 0);
  const int64_t width = static_cast<int64_t>(padded.size());
  BRAID_ASSIGN_OR_RETURN(Tensor gathered, GatherInt64(comm, padded, deadline));
  const int64_t* f = gathered.data<int64_t>();
  for (int64_t i = 0; i < width; ++i) {
    for (int r = 0; r < comm.size(); ++r) {
      const int64_t theirs = f[r * width + i];
      if (theirs == padded[i]) continue;
      std::string here = "nothing (fewer parameters here)";
      if (i < static_cast<int64_t>(parameters.size())) {
        const ParameterSummary& p = parameters[i];
        here = absl::StrCat("'", p.name, "' ", runtime::ShapeToString(p.shape));
        if (p.registrations > 1) absl::StrAppend(&here, " (registered ", p.registrations, "x)");
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "DataParallel::Create: parameter #", i, " differs across ranks of the ", Where(comm),
          ": this rank has ", here, ", rank ", r, " has ",
          theirs == 0 ? "no such parameter" : "another name, shape or registration count", " (",
          s[static_cast<int64_t>(r) * fields], " parameters there, ", parameters.size(),
          " here); build the same model on every rank"));
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "DataParallel::Create: parameter lists differ across ranks of the ", Where(comm),
      " (element counts differ); build the same model on every rank"));
}

}  // namespace braid::parallelism
