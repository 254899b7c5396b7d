// RoundState: the value of the rendezvous state key (docs/rendezvous.md),
// and its text encoding.
//
//   braid-rdzv 1
//   generation <G>
//   phase open|closed
//   nodes <MIN> <MAX>
//   member <node_id> <host> <local_world_size> <port> <requested_rank>
//          <first_generation> <first_rank>
//
// (one line per member). Member lines are in join order while open and in
// node-rank order once closed. Text, so that `etcdctl get` shows it.
//
// Thread-safety: plain values.
#ifndef BRAID_ELASTIC_RENDEZVOUS_ROUND_STATE_H_
#define BRAID_ELASTIC_RENDEZVOUS_ROUND_STATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "elastic/rendezvous/rendezvous.h"

namespace braid::elastic {

enum class RoundPhase { kOpen, kClosed };
std::string ToString(RoundPhase phase);

struct RoundState {
  int64_t generation = 1;
  RoundPhase phase = RoundPhase::kOpen;
  int min_nodes = 1;
  int max_nodes = 1;
  std::vector<NodeInfo> members;

  // Index of `node_id` in members, or -1.
  int IndexOf(absl::string_view node_id) const;
  // "id1,id2,..." of the members.
  std::string MemberList() const;
  friend bool operator==(const RoundState&, const RoundState&) = default;
};

std::string EncodeRoundState(const RoundState& state);
// kDataLoss (naming the bad line) when `text` is not a valid encoding.
absl::StatusOr<RoundState> DecodeRoundState(absl::string_view text);

// Orders the members of a round being closed (protocol step 4): by
// requested_rank when every member requested one (kInvalidArgument unless
// they are exactly 0..n-1), else by seniority: (first_generation,
// first_rank) of nodes that were in a round before, ascending, then the new
// nodes in join order. Survivors thus keep their relative order whatever
// rounds happened in between.
absl::Status OrderForClose(RoundState* state);

// True for a valid node id / run id: non-empty, [A-Za-z0-9._-], <= 128 bytes.
bool IsValidId(absl::string_view id);

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_RENDEZVOUS_ROUND_STATE_H_
