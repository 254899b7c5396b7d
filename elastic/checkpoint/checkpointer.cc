#include "elastic/checkpoint/checkpointer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "elastic/checkpoint/file_util.h"
#include "elastic/checkpoint/format.h"
#include "runtime/logging.h"
#include "runtime/status_macros.h"

namespace braid::elastic::checkpoint {
namespace {

using runtime::DType;
using runtime::Tensor;

// The few collectives the protocols need, over a communicator or over a
// world of one process.
class Group {
 public:
  Group(collectives::Communicator* comm, absl::Time deadline) : comm_(comm), deadline_(deadline) {}

  int rank() const { return comm_ == nullptr ? 0 : comm_->rank(); }
  int size() const { return comm_ == nullptr ? 1 : comm_->size(); }

  // Every rank's `mine` (same length on every rank), in rank order.
  absl::StatusOr<std::vector<int64_t>> AllGather(const std::vector<int64_t>& mine,
                                                 absl::string_view what) {
    if (comm_ == nullptr) return mine;
    BRAID_ASSIGN_OR_RETURN(Tensor in,
                           Tensor::FromVector(mine, {static_cast<int64_t>(mine.size())}));
    BRAID_ASSIGN_OR_RETURN(
        Tensor out, Tensor::Empty({static_cast<int64_t>(mine.size()) * size()}, DType::kI64));
    BRAID_RETURN_IF_ERROR(Collective(comm_->AllGather(in, out), what));
    const int64_t* p = out.data<int64_t>();
    return std::vector<int64_t>(p, p + out.numel());
  }

  // Rank 0's `value` on every rank.
  absl::StatusOr<int64_t> Broadcast(int64_t value, absl::string_view what) {
    if (comm_ == nullptr) return value;
    BRAID_ASSIGN_OR_RETURN(Tensor t, Tensor::FromVector(std::vector<int64_t>{value}, {1}));
    BRAID_RETURN_IF_ERROR(Collective(comm_->Broadcast(t, 0), what));
    return *t.data<int64_t>();
  }

 private:
  // A failed collective means the group is broken: the operation is
  // abandoned (kAborted), keeping the backend's payloads (failed ranks).
  absl::Status Collective(std::shared_ptr<collectives::Work> work, absl::string_view what) {
    absl::Status s = work->Wait(deadline_);
    if (s.ok()) return s;
    absl::Status out = absl::AbortedError(
        absl::StrCat("checkpoint: ", what, " failed on rank ", rank(), " of ", size(), ": ",
                     s.ToString(), "; recover the group (a peer died or hung), then retry"));
    if (absl::IsDeadlineExceeded(s)) out = absl::DeadlineExceededError(out.message());
    s.ForEachPayload(
        [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
    return out;
  }

  collectives::Communicator* comm_;
  absl::Time deadline_;
};

// Verdicts of one rank on one candidate step, gathered by the load protocol
// (numbers, since they travel in an i64 tensor).
constexpr int64_t kAccepted = 0;
constexpr int64_t kUncommitted = 1;
constexpr int64_t kCorrupt = 2;

struct Candidate {
  int64_t verdict = kAccepted;
  std::string why;
  checkpointpb::Manifest manifest;
  ShardContents shard;  // the loaded shard, when one was read
  int shard_rank = -1;
};

Candidate Examine(const std::string& step_dir, int64_t step, int my_rank,
                  const LoadOptions& options) {
  Candidate c;
  absl::StatusOr<checkpointpb::Manifest> manifest = ReadManifest(step_dir);
  if (manifest.ok() && manifest->step() != step) {
    manifest = absl::DataLossError(
        absl::StrCat("MANIFEST of ", step_dir, " names step ", manifest->step()));
  }
  if (!manifest.ok()) {
    c.verdict = absl::IsNotFound(manifest.status()) ? kUncommitted : kCorrupt;
    c.why = absl::IsNotFound(manifest.status()) ? "no MANIFEST (a save that did not commit)"
                                                : std::string(manifest.status().message());
    return c;
  }
  c.manifest = *std::move(manifest);
  c.shard_rank = options.shard_rank >= 0             ? options.shard_rank
                 : my_rank < c.manifest.world_size() ? my_rank
                                                     : -1;
  if (c.shard_rank >= c.manifest.world_size()) c.shard_rank = -1;  // reported after agreement
  for (const checkpointpb::ShardEntry& entry : c.manifest.shards()) {
    const bool mine = entry.rank() == c.shard_rank;
    absl::StatusOr<ShardContents> shard = ReadShardFile(absl::StrCat(step_dir, "/", entry.file()),
                                                        &entry, mine || options.verify_all_shards);
    if (!shard.ok()) {
      c.verdict = kCorrupt;
      c.why = std::string(shard.status().message());
      return c;
    }
    if (shard->header.step() != c.manifest.step() || shard->header.rank() != entry.rank()) {
      c.verdict = kCorrupt;
      c.why = absl::StrCat(entry.file(), " holds step ", shard->header.step(), " rank ",
                           shard->header.rank(), ", the manifest says step ", c.manifest.step());
      return c;
    }
    if (mine) c.shard = *std::move(shard);
  }
  return c;
}

absl::Status Retain(const std::string& directory, int64_t committed, int keep_last) {
  BRAID_ASSIGN_OR_RETURN(std::vector<int64_t> steps, ListStepDirectories(directory));
  int kept = 0;
  absl::Status first_error;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    const int64_t step = *it;
    bool keep = false;
    if (step == committed) {
      keep = true;
      ++kept;
    } else if (step < committed && (keep_last == 0 || kept < keep_last) &&
               ReadManifest(StepDirectory(directory, step)).ok()) {
      keep = true;
      ++kept;
    }
    if (keep) continue;
    absl::Status s = RemoveTree(StepDirectory(directory, step));
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

absl::Status SaveIn(const CheckpointerOptions& options, const Checkpoint& checkpoint,
                    Group& group) {
  const int rank = group.rank();
  const std::string step_dir = StepDirectory(options.directory, checkpoint.step);
  // 1. This rank's shard, durable under its final name.
  absl::StatusOr<ShardWriteResult> written = [&]() -> absl::StatusOr<ShardWriteResult> {
    if (checkpoint.step < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint: step ", checkpoint.step, " is negative"));
    }
    BRAID_RETURN_IF_ERROR(MakeDirectories(step_dir));
    return WriteShardFile(absl::StrCat(step_dir, "/", ShardFileName(rank)), checkpoint.step, rank,
                          group.size(), checkpoint.tensors, checkpoint.values, options.sync,
                          options.fault_hook);
  }();
  // 2. Barrier and vote.
  const std::vector<int64_t> mine = {
      written.ok() ? 1 : 0, checkpoint.step,
      written.ok() ? static_cast<int64_t>(written->file_bytes) : 0,
      written.ok() ? static_cast<int64_t>(written->header_crc32c) : 0,
      written.ok() ? static_cast<int64_t>(written->num_tensors) : 0};
  constexpr size_t kFields = 5;
  absl::StatusOr<std::vector<int64_t>> all =
      group.AllGather(mine, absl::StrCat("the shard barrier of step ", checkpoint.step));
  if (!written.ok()) return written.status();
  if (!all.ok()) return all.status();
  std::vector<int> failed;
  for (int r = 0; r < group.size(); ++r) {
    if ((*all)[r * kFields] != 1) failed.push_back(r);
  }
  if (!failed.empty()) {
    return absl::AbortedError(
        absl::StrCat("checkpoint: rank(s) ", absl::StrJoin(failed, ", "),
                     " could not write their shard of step ", checkpoint.step,
                     " (see their logs); the step is not committed, the previous one stays"));
  }
  for (int r = 0; r < group.size(); ++r) {
    if ((*all)[r * kFields + 1] != checkpoint.step) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint: rank ", r, " saved step ", (*all)[r * kFields + 1], " while rank ", rank,
          " saved step ", checkpoint.step, "; every rank must save the same step"));
    }
  }
  // 3. Rank 0 commits.
  absl::Status commit;
  if (rank == 0) {
    checkpointpb::Manifest manifest;
    manifest.set_format_version(kFormatVersion);
    manifest.set_step(checkpoint.step);
    manifest.set_world_size(group.size());
    manifest.set_created_unix_micros(absl::ToUnixMicros(absl::Now()));
    for (const auto& [key, value] : checkpoint.config) (*manifest.mutable_config())[key] = value;
    for (int r = 0; r < group.size(); ++r) {
      checkpointpb::ShardEntry* e = manifest.add_shards();
      e->set_rank(r);
      e->set_file(ShardFileName(r));
      e->set_file_bytes(static_cast<uint64_t>((*all)[r * kFields + 2]));
      e->set_header_crc32c(static_cast<uint32_t>((*all)[r * kFields + 3]));
      e->set_num_tensors(static_cast<uint64_t>((*all)[r * kFields + 4]));
    }
    if (options.fault_hook) options.fault_hook("manifest_before");
    commit = WriteManifest(step_dir, manifest, options.sync);
    if (commit.ok()) {
      if (options.fault_hook) options.fault_hook("manifest_durable");
      commit = WriteFileDurably(absl::StrCat(options.directory, "/", kLatestFileName),
                                absl::StrCat(checkpoint.step, "\n"), options.sync);
    }
  }
  // 4. Retention, before anyone moves on to write a later step (a failure
  // here loses nothing: the step is committed).
  if (rank == 0 && commit.ok()) {
    absl::Status s = Retain(options.directory, checkpoint.step, options.keep_last);
    if (!s.ok())
      BRAID_LOG(WARNING) << "checkpoint: retention after step " << checkpoint.step
                         << " incomplete: " << s;
  }
  // 5. Everyone learns the verdict.
  absl::StatusOr<int64_t> committed =
      group.Broadcast(commit.ok() ? 1 : 0, absl::StrCat("the commit of step ", checkpoint.step));
  if (!commit.ok()) return commit;
  if (!committed.ok()) return committed.status();
  if (*committed != 1) {
    return absl::AbortedError(absl::StrCat("checkpoint: rank 0 could not commit step ",
                                           checkpoint.step,
                                           " (see its log); the previous step stays the latest"));
  }
  return absl::OkStatus();
}

absl::StatusOr<LoadedCheckpoint> LoadIn(const CheckpointerOptions& options, Group& group,
                                        const LoadOptions& load) {
  std::vector<int64_t> steps;
  if (group.rank() == 0) {
    absl::StatusOr<std::vector<int64_t>> listed = ListStepDirectories(options.directory);
    if (listed.ok()) {
      steps = *std::move(listed);
    } else {
      BRAID_LOG(ERROR) << "checkpoint: " << listed.status();
    }
  }
  std::vector<std::string> refused;
  bool any_corrupt = false;
  size_t next = steps.size();
  while (true) {
    // Rank 0 proposes the newest step not yet tried (-1: none left).
    const int64_t proposal = next == 0 ? -1 : steps[next - 1];
    if (next > 0) --next;
    BRAID_ASSIGN_OR_RETURN(int64_t step, group.Broadcast(proposal, "the load proposal"));
    if (step < 0) break;
    const std::string step_dir = StepDirectory(options.directory, step);
    Candidate c = Examine(step_dir, step, group.rank(), load);
    BRAID_ASSIGN_OR_RETURN(std::vector<int64_t> verdicts,
                           group.AllGather({c.verdict}, "the load verdict"));
    std::vector<int> corrupt_at;
    bool uncommitted = false;
    for (int r = 0; r < group.size(); ++r) {
      if (verdicts[r] == kCorrupt) corrupt_at.push_back(r);
      if (verdicts[r] == kUncommitted) uncommitted = true;
    }
    if (corrupt_at.empty() && !uncommitted) {
      if (load.shard_rank >= c.manifest.world_size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("checkpoint: shard_rank ", load.shard_rank, " asked for, but step ", step,
                         " was saved by ", c.manifest.world_size(), " ranks"));
      }
      LoadedCheckpoint out;
      out.checkpoint.step = c.manifest.step();
      out.checkpoint.config.insert(c.manifest.config().begin(), c.manifest.config().end());
      out.checkpoint.tensors = std::move(c.shard.tensors);
      out.checkpoint.values.insert(c.shard.header.values().begin(), c.shard.header.values().end());
      out.world_size = c.manifest.world_size();
      out.shard_rank = c.shard_rank;
      out.step_directory = step_dir;
      out.refused = std::move(refused);
      if (!out.refused.empty()) {
        BRAID_LOG(WARNING) << "checkpoint: resuming from " << step_dir << " after refusing "
                           << absl::StrJoin(out.refused, "; ");
      }
      return out;
    }
    std::string why = c.why;
    if (c.verdict == kAccepted) {
      why = corrupt_at.empty()
                ? std::string("its MANIFEST is missing on some ranks (not committed)")
                : absl::StrCat("refused by rank(s) ", absl::StrJoin(corrupt_at, ", "),
                               ", see their logs");
    }
    if (!corrupt_at.empty()) {
      any_corrupt = true;
      BRAID_LOG(WARNING) << "checkpoint: refusing " << step_dir << ": " << why
                         << "; trying the previous step";
    }
    refused.push_back(absl::StrCat("step-", step, ": ", why));
  }
  if (any_corrupt) {
    return absl::DataLossError(
        absl::StrCat("checkpoint: every committed step in ", options.directory, " is corrupt (",
                     absl::StrJoin(refused, "; "),
                     "); not starting from scratch silently: inspect or remove the directory"));
  }
  return absl::NotFoundError(absl::StrCat("checkpoint: no committed step in ", options.directory,
                                          refused.empty() ? "" : " (", absl::StrJoin(refused, "; "),
                                          refused.empty() ? "" : ")"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Checkpointer>> Checkpointer::Create(
    const CheckpointerOptions& options) {
  if (options.directory.empty()) {
    return absl::InvalidArgumentError("Checkpointer: options.directory is empty; name a directory");
  }
  if (options.keep_last < 0) {
    return absl::InvalidArgumentError(absl::StrCat("Checkpointer: keep_last is ", options.keep_last,
                                                   "; use >= 1, or 0 to keep every step"));
  }
  BRAID_RETURN_IF_ERROR(MakeDirectories(options.directory));
  return std::unique_ptr<Checkpointer>(new Checkpointer(options));
}

absl::Status Checkpointer::Save(const Checkpoint& checkpoint, collectives::Communicator& comm,
                                absl::Time deadline) const {
  Group group(&comm, deadline);
  return SaveIn(options_, checkpoint, group);
}

absl::Status Checkpointer::Save(const Checkpoint& checkpoint) const {
  Group group(nullptr, absl::InfiniteFuture());
  return SaveIn(options_, checkpoint, group);
}

absl::StatusOr<LoadedCheckpoint> Checkpointer::LoadLatest(collectives::Communicator& comm,
                                                          absl::Time deadline,
                                                          const LoadOptions& options) const {
  Group group(&comm, deadline);
  return LoadIn(options_, group, options);
}

absl::StatusOr<LoadedCheckpoint> Checkpointer::LoadLatest(const LoadOptions& options) const {
  Group group(nullptr, absl::InfiniteFuture());
  return LoadIn(options_, group, options);
}

absl::StatusOr<LoadedCheckpoint> Checkpointer::ReadShard(int64_t step, int shard_rank) const {
  const std::string step_dir = StepDirectory(options_.directory, step);
  BRAID_ASSIGN_OR_RETURN(checkpointpb::Manifest manifest, ReadManifest(step_dir));
  if (shard_rank < 0 || shard_rank >= manifest.world_size()) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint: shard ", shard_rank,
                                                   " asked for, but step ", step, " was saved by ",
                                                   manifest.world_size(), " ranks"));
  }
  const checkpointpb::ShardEntry& entry = manifest.shards(shard_rank);
  BRAID_ASSIGN_OR_RETURN(ShardContents shard,
                         ReadShardFile(absl::StrCat(step_dir, "/", entry.file()), &entry, true));
  LoadedCheckpoint out;
  out.checkpoint.step = manifest.step();
  out.checkpoint.config.insert(manifest.config().begin(), manifest.config().end());
  out.checkpoint.tensors = std::move(shard.tensors);
  out.checkpoint.values.insert(shard.header.values().begin(), shard.header.values().end());
  out.world_size = manifest.world_size();
  out.shard_rank = shard_rank;
  out.step_directory = step_dir;
  return out;
}

absl::StatusOr<std::vector<int64_t>> Checkpointer::CommittedSteps() const {
  BRAID_ASSIGN_OR_RETURN(std::vector<int64_t> steps, ListStepDirectories(options_.directory));
  std::vector<int64_t> committed;
  for (int64_t step : steps) {
    if (ReadManifest(StepDirectory(options_.directory, step)).ok()) committed.push_back(step);
  }
  return committed;
}

}  // namespace braid::elastic::checkpoint
