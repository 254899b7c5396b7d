// Failed ranks carried on an absl::Status as a payload.
//
// When a collective fails because peers died, hung or aborted, the Status it
// returns names those peers in a FailedRanks payload (a small protobuf,
// collectives/proto/failed_ranks.proto) so that recovery code can decide the
// new membership without parsing message text:
//
//   absl::Status s = work->Wait(deadline);
//   if (absl::IsAborted(s)) {
//     std::vector<int> dead = FailedRanks(s);      // e.g. {2}
//     auto survivors = comm->Shrink(dead, deadline);
//   }
//
// The ranks are the group ranks of the communicator the operation ran on
// (what Communicator::Shrink takes). Thread-safety: pure functions.
#ifndef BRAID_COLLECTIVES_STATUS_PAYLOAD_H_
#define BRAID_COLLECTIVES_STATUS_PAYLOAD_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace braid::collectives {

// The type URL under which the payload is stored.
inline constexpr absl::string_view kFailedRanksPayloadUrl =
    "type.googleapis.com/braid.collectives.proto.FailedRanks";

// Returns `status` with a FailedRanks payload holding `ranks` (sorted,
// deduplicated) merged with any ranks it already carries. An OK status is
// returned unchanged (OK statuses carry no payloads).
absl::Status WithFailedRanks(absl::Status status, absl::Span<const int> ranks);

// The ranks in `status`'s FailedRanks payload, sorted; empty when there is no
// payload or it does not parse.
std::vector<int> FailedRanks(const absl::Status& status);

}  // namespace braid::collectives

#endif  // BRAID_COLLECTIVES_STATUS_PAYLOAD_H_
