#include "elastic/rendezvous/round_state.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace braid::elastic {
namespace {

constexpr char kMagic[] = "braid-rdzv 1";

absl::Status BadLine(absl::string_view line, absl::string_view why) {
  return absl::DataLossError(absl::StrCat("rendezvous state: bad line '", line, "': ", why,
                                          "; delete the state key or use a new --rdzv-id"));
}

}  // namespace

std::string ToString(RoundPhase phase) {
  switch (phase) {
    case RoundPhase::kOpen:
      return "open";
    case RoundPhase::kClosed:
      return "closed";
  }
  return "unknown";
}

bool IsValidId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

int RoundState::IndexOf(absl::string_view node_id) const {
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i].node_id == node_id) return static_cast<int>(i);
  }
  return -1;
}

std::string RoundState::MemberList() const {
  return absl::StrJoin(members, ",", [](std::string* out, const NodeInfo& n) {
    out->append(n.node_id);
  });
}

std::string EncodeRoundState(const RoundState& s) {
  std::string out = absl::StrCat(kMagic, "\ngeneration ", s.generation, "\nphase ",
                                 ToString(s.phase), "\nnodes ", s.min_nodes, " ", s.max_nodes,
                                 "\n");
  for (const NodeInfo& n : s.members) {
    absl::StrAppend(&out, "member ", n.node_id, " ", n.host, " ", n.local_world_size, " ", n.port,
                    " ", n.requested_rank, " ", n.first_generation, " ", n.first_rank, "\n");
  }
  return out;
}

absl::StatusOr<RoundState> DecodeRoundState(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kMagic) {
    return absl::DataLossError(absl::StrCat(
        "rendezvous state does not start with '", kMagic,
        "': another program or braid version uses this key; use a new --rdzv-id"));
  }
  RoundState s;
  bool have_gen = false, have_phase = false, have_nodes = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const absl::string_view line = lines[i];
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.empty()) continue;
    if (f[0] == "generation" && f.size() == 2) {
      if (!absl::SimpleAtoi(f[1], &s.generation) || s.generation < 1) {
        return BadLine(line, "generation must be >= 1");
      }
      have_gen = true;
    } else if (f[0] == "phase" && f.size() == 2) {
      if (f[1] == "open") {
        s.phase = RoundPhase::kOpen;
      } else if (f[1] == "closed") {
        s.phase = RoundPhase::kClosed;
      } else {
        return BadLine(line, "phase must be open or closed");
      }
      have_phase = true;
    } else if (f[0] == "nodes" && f.size() == 3) {
      if (!absl::SimpleAtoi(f[1], &s.min_nodes) || !absl::SimpleAtoi(f[2], &s.max_nodes) ||
          s.min_nodes < 1 || s.max_nodes < s.min_nodes) {
        return BadLine(line, "needs 1 <= MIN <= MAX");
      }
      have_nodes = true;
    } else if (f[0] == "member" && f.size() == 8) {
      NodeInfo n;
      n.node_id = std::string(f[1]);
      n.host = std::string(f[2]);
      if (!IsValidId(n.node_id) || !absl::SimpleAtoi(f[3], &n.local_world_size) ||
          n.local_world_size < 1 || !absl::SimpleAtoi(f[4], &n.port) ||
          !absl::SimpleAtoi(f[5], &n.requested_rank) ||
          !absl::SimpleAtoi(f[6], &n.first_generation) || n.first_generation < 0 ||
          !absl::SimpleAtoi(f[7], &n.first_rank)) {
        return BadLine(line,
                       "expected member <id> <host> <local_world_size> <port> <requested_rank> "
                       "<first_generation> <first_rank>");
      }
      if (s.IndexOf(n.node_id) >= 0) return BadLine(line, "duplicate member");
      s.members.push_back(std::move(n));
    } else {
      return BadLine(line, "unknown field");
    }
  }
  if (!have_gen || !have_phase || !have_nodes) {
    return absl::DataLossError("rendezvous state lacks generation, phase or nodes");
  }
  return s;
}

absl::Status OrderForClose(RoundState* s) {
  const size_t n = s->members.size();
  const bool all_requested =
      n > 0 && std::all_of(s->members.begin(), s->members.end(),
                           [](const NodeInfo& m) { return m.requested_rank >= 0; });
  if (all_requested) {
    std::stable_sort(s->members.begin(), s->members.end(),
                     [](const NodeInfo& a, const NodeInfo& b) {
                       return a.requested_rank < b.requested_rank;
                     });
    for (size_t i = 0; i < n; ++i) {
      if (s->members[i].requested_rank != static_cast<int>(i)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "static rendezvous: node ranks must be exactly 0..", n - 1, " but node '",
            s->members[i].node_id, "' asked for ", s->members[i].requested_rank,
            " at position ", i, "; check every node's --node-rank"));
      }
    }
    return absl::OkStatus();
  }
  // Seniority: (generation of the node's first round, its rank there);
  // nodes without a round yet come last, in join order.
  auto seniority = [](const NodeInfo& m) {
    return m.first_generation == 0
               ? std::pair<int64_t, int>(std::numeric_limits<int64_t>::max(), 0)
               : std::pair<int64_t, int>(m.first_generation, m.first_rank);
  };
  std::stable_sort(s->members.begin(), s->members.end(),
                   [&](const NodeInfo& a, const NodeInfo& b) {
                     return seniority(a) < seniority(b);
                   });
  return absl::OkStatus();
}

}  // namespace braid::elastic
