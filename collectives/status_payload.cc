#include "collectives/status_payload.h"

#include <algorithm>
#include <string>

#include "absl/strings/cord.h"
#include "collectives/proto/failed_ranks.pb.h"

namespace braid::collectives {

absl::Status WithFailedRanks(absl::Status status, absl::Span<const int> ranks) {
  if (status.ok()) return status;
  std::vector<int> all = FailedRanks(status);
  all.insert(all.end(), ranks.begin(), ranks.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  if (all.empty()) return status;
  proto::FailedRanks message;
  for (int r : all) message.add_ranks(r);
  std::string bytes;
  if (!message.SerializeToString(&bytes)) return status;
  status.SetPayload(kFailedRanksPayloadUrl, absl::Cord(bytes));
  return status;
}

std::vector<int> FailedRanks(const absl::Status& status) {
  std::vector<int> out;
  absl::optional<absl::Cord> payload = status.GetPayload(kFailedRanksPayloadUrl);
  if (!payload.has_value()) return out;
  proto::FailedRanks message;
  if (!message.ParseFromString(std::string(*payload))) return out;
  out.assign(message.ranks().begin(), message.ranks().end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace braid::collectives
