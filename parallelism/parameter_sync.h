// How DataParallel::Create makes the ranks' initial parameter values agree,
// as PyTorch DDP broadcasts rank 0's parameters at construction. Collective:
// every rank calls it with the same parameter list (names, shapes, order;
// DataParallel has checked that already).
//
//   kBroadcast  one Broadcast of the flat value arena from group rank 0;
//               afterwards every rank holds rank 0's values bit for bit.
//   kCheckHash  every rank fingerprints each parameter's value bytes
//               (64-bit FNV-1a), an AllGather compares them; a difference is
//               kInvalidArgument on every rank naming the first differing
//               parameter and the lowest rank whose value differs from rank
//               0's. Costs 8 bytes per parameter on the wire, no payload.
//   kNone       nothing: the caller guarantees equal values.
//
// Thread-safety: as the communicator's. Errors: kInvalidArgument as above;
// the communicator's status (kAborted, kDeadlineExceeded at `deadline`) when
// the collective fails.
#ifndef BRAID_PARALLELISM_PARAMETER_SYNC_H_
#define BRAID_PARALLELISM_PARAMETER_SYNC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "runtime/tensor.h"

namespace braid::parallelism {

enum class ParameterSync : uint8_t {
  kBroadcast = 0,  // rank 0's values everywhere (DDP's behaviour; the default)
  kCheckHash = 1,  // verify equal, refuse otherwise
  kNone = 2,       // trust the caller
};
absl::string_view ToString(ParameterSync sync);

// A parameter's current value (any contiguous f32 tensor) under its name.
struct ValueToSync {
  std::string name;
  runtime::Tensor value;
};

// `arena`: the flat f32 buffer every value lives in (broadcast in one
// operation). REQUIRES: the same `values` (names, shapes) on every rank.
absl::Status SyncParameters(collectives::Communicator& communicator, ParameterSync sync,
                            const runtime::Tensor& arena, const std::vector<ValueToSync>& values,
                            absl::Time deadline);

// FNV-1a over the value's bytes (copied to the host first if needed).
absl::StatusOr<uint64_t> ValueFingerprint(const runtime::Tensor& value);

}  // namespace braid::parallelism

#endif  // BRAID_PARALLELISM_PARAMETER_SYNC_H_
