#include "elastic/rendezvous/rendezvous.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <random>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "elastic/rendezvous/round_state.h"
#include "runtime/status_macros.h"

namespace braid::elastic {

struct Rendezvous::Snapshot {
  bool exists = false;
  std::string raw;  // the state value as stored, for CompareSet
  RoundState state;
  std::set<std::string> alive;
  std::set<std::string> done;
  int64_t revision = 0;  // highest mod_revision under the prefix
  std::string failed;    // value of P failed, if any
  int64_t failed_generation = 0;

  // kAborted when the job was marked failed in the state's generation or
  // later (an older mark is from an earlier job with the same id).
  absl::Status CheckNotFailed(absl::string_view run_id) const {
    if (failed.empty() || !exists || failed_generation < state.generation) {
      return absl::OkStatus();
    }
    return absl::AbortedError(absl::StrCat("job '", run_id, "' failed on another node (", failed,
                                           "); not forming a new round"));
  }
};

namespace {

std::string Prefix(const RendezvousOptions& o) {
  return absl::StrCat(o.key_prefix, "rdzv/", o.run_id, "/");
}

std::string MakeNodeId() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  std::string h(host);
  for (char& c : h) {
    if (!IsValidId(std::string(1, c))) c = '-';
  }
  if (h.empty()) h = "node";
  if (h.size() > 80) h.resize(80);
  std::random_device rd;
  return absl::StrFormat("%s_%d_%08x", h, static_cast<int>(::getpid()), rd());
}

}  // namespace

int RoundResult::world_size() const {
  int n = 0;
  for (const NodeInfo& node : nodes) n += node.local_world_size;
  return n;
}

int RoundResult::first_global_rank(int node_rank) const {
  int n = 0;
  for (int i = 0; i < node_rank && i < num_nodes(); ++i) n += nodes[i].local_world_size;
  return n;
}

absl::StatusOr<std::unique_ptr<Rendezvous>> Rendezvous::Create(const RendezvousOptions& options) {
  if (options.store == nullptr) return absl::InvalidArgumentError("Rendezvous: store is null");
  if (!IsValidId(options.run_id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rendezvous id '", options.run_id, "' must be 1-128 characters of [A-Za-z0-9._-]"));
  }
  if (options.min_nodes < 1 || options.max_nodes < options.min_nodes) {
    return absl::InvalidArgumentError(absl::StrCat("rendezvous: bad node range ",
                                                   options.min_nodes, ":", options.max_nodes));
  }
  if (options.lease_ttl <= absl::ZeroDuration() || options.last_call < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("rendezvous: lease_ttl must be > 0 and last_call >= 0");
  }
  RendezvousOptions o = options;
  if (o.node.node_id.empty()) o.node.node_id = MakeNodeId();
  if (!IsValidId(o.node.node_id) || o.node.host.empty() ||
      o.node.host.find_first_of(" \n\t") != std::string::npos || o.node.local_world_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rendezvous: bad node info (id '", o.node.node_id, "', host '", o.node.host,
        "', local_world_size ", o.node.local_world_size, ")"));
  }
  const absl::Time deadline = absl::Now() + o.call_timeout;
  BRAID_ASSIGN_OR_RETURN(runtime::LeaseId lease, o.store->GrantLease(o.lease_ttl, deadline));
  const std::string alive_key = absl::StrCat(Prefix(o), "alive/", o.node.node_id);
  absl::Status s = o.store->Set(alive_key, o.node.host, lease, deadline);
  if (!s.ok()) {
    (void)o.store->RevokeLease(lease, deadline);
    return s;
  }
  auto r = std::unique_ptr<Rendezvous>(new Rendezvous(o, lease));
  return r;
}

Rendezvous::Rendezvous(const RendezvousOptions& options, runtime::LeaseId lease)
    : options_(options), lease_(lease) {
  heartbeat_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "braid-rdzv-hb");
    HeartbeatLoop();
  });
}

Rendezvous::~Rendezvous() { (void)Leave(absl::Now() + options_.call_timeout); }

std::string Rendezvous::membership_key() const { return Prefix(options_) + "membership"; }

absl::Status Rendezvous::heartbeat_status() const {
  absl::MutexLock lock(&mu_);
  return heartbeat_status_;
}

void Rendezvous::HeartbeatLoop() {
  const absl::Duration interval = options_.lease_ttl / 3;
  const std::string alive_key = absl::StrCat(Prefix(options_), "alive/", options_.node.node_id);
  for (;;) {
    runtime::LeaseId lease;
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), interval)) return;
      lease = lease_;
    }
    const absl::Time deadline = absl::Now() + interval;
    absl::Status s = options_.store->KeepAlive(lease, deadline);
    if (absl::IsNotFound(s)) {
      // The lease expired (this agent stalled longer than the TTL, or the
      // store restarted): the others saw this node die and start a new round;
      // come back with a fresh lease so that the next Join can succeed.
      absl::StatusOr<runtime::LeaseId> fresh = options_.store->GrantLease(options_.lease_ttl, deadline);
      if (fresh.ok()) {
        s = options_.store->Set(alive_key, options_.node.host, *fresh, deadline);
        absl::MutexLock lock(&mu_);
        lease_ = *fresh;
      } else {
        s = fresh.status();
      }
    }
    absl::MutexLock lock(&mu_);
    heartbeat_status_ = s;
  }
}

absl::Status Rendezvous::StopHeartbeat() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return absl::OkStatus();
    stop_ = true;
  }
  heartbeat_.join();
  return absl::OkStatus();
}

absl::Status Rendezvous::Leave(absl::Time deadline) {
  BRAID_RETURN_IF_ERROR(StopHeartbeat());
  runtime::LeaseId lease;
  {
    absl::MutexLock lock(&mu_);
    if (left_) return absl::OkStatus();
    left_ = true;
    lease = lease_;
  }
  return options_.store->RevokeLease(lease, deadline);
}

absl::Status Rendezvous::MarkDone(absl::Time deadline) {
  return options_.store->Set(absl::StrCat(Prefix(options_), "done/", options_.node.node_id),
                             absl::StrCat(generation_), deadline);
}

absl::StatusOr<Rendezvous::Snapshot> Rendezvous::Read(absl::Time deadline) {
  const std::string prefix = Prefix(options_);
  BRAID_ASSIGN_OR_RETURN(std::vector<runtime::KeyValue> kvs,
                         options_.store->ListPrefix(prefix, deadline));
  Snapshot snap;
  for (const runtime::KeyValue& kv : kvs) {
    snap.revision = std::max(snap.revision, kv.mod_revision);
    absl::string_view rest = kv.key;
    if (!absl::ConsumePrefix(&rest, prefix)) continue;
    if (rest == "state") {
      snap.exists = true;
      snap.raw = kv.value;
      BRAID_ASSIGN_OR_RETURN(snap.state, DecodeRoundState(kv.value));
    } else if (absl::ConsumePrefix(&rest, "alive/")) {
      snap.alive.emplace(rest);
    } else if (absl::ConsumePrefix(&rest, "done/")) {
      snap.done.emplace(rest);
    } else if (rest == "failed") {
      snap.failed = kv.value;
      absl::string_view v = kv.value;
      if (!absl::SimpleAtoi(v.substr(0, v.find(' ')), &snap.failed_generation)) {
        snap.failed_generation = 0;
      }
    }
  }
  if (snap.exists && (snap.state.min_nodes != options_.min_nodes ||
                      snap.state.max_nodes != options_.max_nodes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rendezvous '", options_.run_id, "': this agent has --nnodes ", options_.min_nodes, ":",
        options_.max_nodes, " but the job was started with ", snap.state.min_nodes, ":",
        snap.state.max_nodes, "; give every agent the same --nnodes"));
  }
  return snap;
}

absl::StatusOr<bool> Rendezvous::Swap(const Snapshot& expected, const RoundState& next,
                                      absl::Time deadline) {
  std::optional<absl::string_view> want;
  if (expected.exists) want = expected.raw;
  BRAID_ASSIGN_OR_RETURN(runtime::CompareSetResult r,
                         options_.store->CompareSet(Prefix(options_) + "state", want,
                                                    EncodeRoundState(next), deadline));
  return r.swapped;
}

absl::Status Rendezvous::WaitForChange(const Snapshot& seen, absl::Time until,
                                       absl::Time deadline) {
  const absl::Time end = std::min(until, deadline);
  if (end <= absl::Now()) return absl::OkStatus();
  const int64_t after = std::max(seen.revision, watch_revision_);
  absl::StatusOr<runtime::WatchResult> r = options_.store->Watch(Prefix(options_), after, end);
  if (r.ok()) {
    watch_revision_ = std::max(watch_revision_, r->revision);
    return absl::OkStatus();
  }
  if (absl::IsDeadlineExceeded(r.status())) return absl::OkStatus();
  if (absl::IsOutOfRange(r.status())) {
    // History compacted past `after`: watch from now on for a short while,
    // then re-read (a change between the read and this watch is then seen by
    // the re-read).
    r = options_.store->Watch(Prefix(options_), 0, std::min(end, absl::Now() + absl::Milliseconds(200)));
    if (r.ok()) watch_revision_ = std::max(watch_revision_, r->revision);
    if (r.ok() || absl::IsDeadlineExceeded(r.status())) return absl::OkStatus();
  }
  return r.status();
}

absl::StatusOr<RoundResult> Rendezvous::Join(absl::Time deadline) {
  // last_members_/last_change_ persist across calls, so that a caller that
  // joins in slices (to check for signals in between) keeps its timer.
  const std::string& me_id = options_.node.node_id;
  std::optional<RoundState> last_seen;
  auto timed_out = [&](const RoundState& st) {
    return absl::DeadlineExceededError(absl::StrFormat(
        "rendezvous '%s' timed out in generation %d (round %s): %d of min %d nodes joined "
        "(%s); check that every agent uses the same --rdzv-endpoint and --rdzv-id and that "
        "enough nodes were started, or raise --rdzv-timeout",
        options_.run_id, st.generation, ToString(st.phase), st.members.size(),
        options_.min_nodes, st.MemberList()));
  };
  for (;;) {
    if (last_seen.has_value() && absl::Now() >= deadline) return timed_out(*last_seen);
    absl::StatusOr<Snapshot> read = Read(deadline);
    if (!read.ok() && absl::IsDeadlineExceeded(read.status()) && last_seen.has_value()) {
      return timed_out(*last_seen);
    }
    if (!read.ok()) return read.status();
    Snapshot& snap = *read;
    const absl::Time now = absl::Now();
    if (!snap.exists) {  // step 1
      RoundState init;
      init.generation = generation_ + 1;
      init.min_nodes = options_.min_nodes;
      init.max_nodes = options_.max_nodes;
      BRAID_RETURN_IF_ERROR(Swap(snap, init, deadline).status());
      continue;
    }
    BRAID_RETURN_IF_ERROR(snap.CheckNotFailed(options_.run_id));
    const RoundState& st = snap.state;
    last_seen = st;
    if (now >= deadline) return timed_out(st);
    const int me = st.IndexOf(me_id);
    auto is_dead = [&](const NodeInfo& m) {
      return snap.alive.count(m.node_id) == 0 && snap.done.count(m.node_id) == 0;
    };
    auto open_next = [&]() -> absl::Status {
      RoundState next;
      next.generation = st.generation + 1;
      next.min_nodes = st.min_nodes;
      next.max_nodes = st.max_nodes;
      return Swap(snap, next, deadline).status();
    };
    if (st.phase == RoundPhase::kOpen) {
      RoundState next = st;
      next.members.erase(std::remove_if(next.members.begin(), next.members.end(),
                                        [&](const NodeInfo& m) {
                                          return snap.alive.count(m.node_id) == 0;
                                        }),
                         next.members.end());
      if (next.members.size() != st.members.size()) {  // step 2
        BRAID_RETURN_IF_ERROR(Swap(snap, next, deadline).status());
        continue;
      }
      if (me < 0) {  // step 3
        if (static_cast<int>(st.members.size()) < options_.max_nodes) {
          next.members.push_back(options_.node);
          BRAID_RETURN_IF_ERROR(Swap(snap, next, deadline).status());
        } else {
          BRAID_RETURN_IF_ERROR(WaitForChange(snap, deadline, deadline));
        }
        continue;
      }
      const std::string signature = absl::StrCat(st.generation, "#", st.MemberList());
      if (signature != last_members_) {
        last_members_ = signature;
        last_change_ = now;
      }
      const int count = static_cast<int>(st.members.size());
      if (count == options_.max_nodes ||
          (count >= options_.min_nodes && now - last_change_ >= options_.last_call)) {  // step 4
        next.phase = RoundPhase::kClosed;
        BRAID_RETURN_IF_ERROR(OrderForClose(&next));
        BRAID_RETURN_IF_ERROR(Swap(snap, next, deadline).status());
        continue;
      }
      const absl::Time timer =
          count >= options_.min_nodes ? last_change_ + options_.last_call : deadline;
      BRAID_RETURN_IF_ERROR(WaitForChange(snap, timer, deadline));
      continue;
    }
    const bool any_dead = std::any_of(st.members.begin(), st.members.end(), is_dead);
    if (me >= 0) {  // step 5
      if (any_dead) {
        BRAID_RETURN_IF_ERROR(open_next());
        continue;
      }
      RoundResult round;
      round.generation = st.generation;
      round.node_rank = me;
      round.nodes = st.members;
      generation_ = st.generation;
      if (options_.node.first_generation == 0) {
        // This node's seniority, kept for every later round (step 4).
        options_.node.first_generation = st.generation;
        options_.node.first_rank = me;
      }
      BRAID_RETURN_IF_ERROR(WriteMembership(round, deadline));
      return round;
    }
    const bool all_done = std::all_of(st.members.begin(), st.members.end(), [&](const NodeInfo& m) {
      return snap.done.count(m.node_id) > 0;
    });
    if (static_cast<int>(st.members.size()) < options_.max_nodes || any_dead || all_done) {
      BRAID_RETURN_IF_ERROR(open_next());  // step 6
    } else {
      BRAID_RETURN_IF_ERROR(WaitForChange(snap, deadline, deadline));
    }
  }
}

absl::StatusOr<bool> Rendezvous::CheckMembership(absl::Time deadline) {
  BRAID_ASSIGN_OR_RETURN(Snapshot snap, Read(deadline));
  if (!snap.exists) return true;
  BRAID_RETURN_IF_ERROR(snap.CheckNotFailed(options_.run_id));
  const RoundState& st = snap.state;
  if (st.generation != generation_ || st.phase != RoundPhase::kClosed) return true;
  const bool any_dead = std::any_of(st.members.begin(), st.members.end(), [&](const NodeInfo& m) {
    return snap.alive.count(m.node_id) == 0 && snap.done.count(m.node_id) == 0;
  });
  if (!any_dead) return false;
  RoundState next;
  next.generation = st.generation + 1;
  next.min_nodes = st.min_nodes;
  next.max_nodes = st.max_nodes;
  BRAID_RETURN_IF_ERROR(Swap(snap, next, deadline).status());
  return true;
}

absl::Status Rendezvous::MarkFailed(absl::string_view reason, absl::Time deadline) {
  std::string value = absl::StrCat(generation_, " ", options_.node.node_id, " ", reason);
  for (char& ch : value) {
    if (ch == '\n') ch = ' ';
  }
  return options_.store->Set(Prefix(options_) + "failed", value, deadline);
}

absl::StatusOr<bool> Rendezvous::AllDone(absl::Time deadline) {
  BRAID_ASSIGN_OR_RETURN(Snapshot snap, Read(deadline));
  if (!snap.exists || snap.state.generation != generation_) return true;
  return std::all_of(snap.state.members.begin(), snap.state.members.end(),
                     [&](const NodeInfo& m) {
                       return snap.done.count(m.node_id) > 0 || snap.alive.count(m.node_id) == 0;
                     });
}

absl::Status Rendezvous::RequestNextRound(absl::Time deadline) {
  for (;;) {
    BRAID_ASSIGN_OR_RETURN(Snapshot snap, Read(deadline));
    if (!snap.exists || snap.state.generation != generation_) return absl::OkStatus();
    RoundState next;
    next.generation = snap.state.generation + 1;
    next.min_nodes = snap.state.min_nodes;
    next.max_nodes = snap.state.max_nodes;
    BRAID_ASSIGN_OR_RETURN(bool swapped, Swap(snap, next, deadline));
    if (swapped) return absl::OkStatus();
  }
}

absl::Status Rendezvous::WriteMembership(const RoundResult& round, absl::Time deadline) {
  std::string value = absl::StrCat("generation ", round.generation, "\nworld_size ",
                                   round.world_size(), "\n");
  for (int i = 0; i < round.num_nodes(); ++i) {
    const NodeInfo& n = round.nodes[i];
    absl::StrAppend(&value, "node ", i, " ", n.node_id, " ", n.host, " ", n.local_world_size, " ",
                    round.first_global_rank(i), "\n");
  }
  const std::string key = membership_key();
  for (;;) {
    absl::StatusOr<std::string> cur = options_.store->Get(key, deadline);
    std::optional<absl::string_view> expected;
    if (cur.ok()) {
      expected = *cur;
      int64_t cur_gen = 0;
      absl::string_view first = absl::string_view(*cur).substr(0, cur->find('\n'));
      if (absl::ConsumePrefix(&first, "generation ") && absl::SimpleAtoi(first, &cur_gen) &&
          cur_gen >= round.generation) {
        return absl::OkStatus();  // written by another member, or a newer round exists
      }
    } else if (!absl::IsNotFound(cur.status())) {
      return cur.status();
    }
    BRAID_ASSIGN_OR_RETURN(runtime::CompareSetResult r,
                           options_.store->CompareSet(key, expected, value, deadline));
    if (r.swapped) return absl::OkStatus();
  }
}

}  // namespace braid::elastic
