// The cross-rank check DataParallel::Create runs: every rank of a
// communicator must hold the same parameters (names, shapes, how often each
// is registered) and the same options, or buckets and collectives would not
// line up. Collective: every rank calls it with its own lists.
//
// Protocol (docs/data_parallel.md, "Setup"):
//   1. AllGather of [parameter count, element count, fingerprint of all
//      parameters, option values...] as int64 per rank. An option that
//      differs is reported by name; if everything matches, done.
//   2. Otherwise (every rank saw the difference, so all take this step) an
//      AllGather of the per-parameter fingerprints, padded with 0 to the
//      largest count, finds the first differing index; each rank names its
//      own parameter there and the first rank that differs.
//
// Thread-safety: as the communicator's (post from one thread). Errors:
// kInvalidArgument for a difference; the communicator's status (kAborted,
// kDeadlineExceeded at `deadline`, ...) when a gather fails.
#ifndef BRAID_PARALLELISM_PARAMETER_CHECK_H_
#define BRAID_PARALLELISM_PARAMETER_CHECK_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "runtime/tensor.h"

namespace braid::parallelism {

struct ParameterSummary {
  std::string name;
  runtime::Shape shape;
  int registrations = 1;
};

// `options`: (name, value) pairs that must be equal on every rank, in the
// same order everywhere.
absl::Status CheckSameAcrossRanks(collectives::Communicator& communicator,
                                  const std::vector<ParameterSummary>& parameters,
                                  const std::vector<std::pair<std::string, int64_t>>& options,
                                  absl::Time deadline);

}  // namespace braid::parallelism

#endif  // BRAID_PARALLELISM_PARAMETER_CHECK_H_
