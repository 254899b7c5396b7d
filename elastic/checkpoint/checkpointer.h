// Checkpointer: saves and resumes training state in a directory, atomically,
// from one process or from every rank of a communicator.
//
//   BRAID_ASSIGN_OR_RETURN(auto ckptr, checkpoint::Checkpointer::Create(
//       {.directory = "/ckpt/run1", .keep_last = 3}));
//   // resume (every rank):
//   absl::StatusOr<LoadedCheckpoint> loaded = ckptr->LoadLatest(world, absl::Now() + timeout);
//   if (loaded.ok()) { ... AssignTensors(...), start at loaded->checkpoint.step ... }
//   else if (!absl::IsNotFound(loaded.status())) return loaded.status();   // corrupt: stop
//   // every N steps (every rank, same step):
//   BRAID_RETURN_IF_ERROR(ckptr->Save(ckpt, world, absl::Now() + timeout));
//
// Layout (docs/checkpoint.md has the byte formats):
//   D/step-<N>/rank-<r>.bin   one shard file per rank
//   D/step-<N>/MANIFEST       written last, by rank 0: commits step N
//   D/latest                  "<N>\n", the newest committed step (for people
//                             and tools; loading scans the step directories)
//
// Save protocol (collective; every rank calls Save with the same step):
//   1. every rank writes rank-<r>.bin.tmp, fsyncs it, renames it to
//      rank-<r>.bin and fsyncs the step directory;
//   2. an AllGather of (ok, step, size, header CRC) -- the barrier: after it
//      every rank knows that every shard is durable, or who failed;
//   3. rank 0 writes MANIFEST (binding each shard's size and header CRC) and
//      then `latest`, each atomically (temporary name, fsync, rename, fsync
//      of the directory);
//   4. rank 0 applies retention: it keeps the `keep_last` newest committed
//      steps <= N and deletes older step directories (committed or not) and
//      every step directory > N (a timeline abandoned by a resume); this
//      happens before step 5, so no rank is writing a later step yet;
//   5. rank 0 broadcasts whether the commit succeeded, so every rank returns
//      the same verdict.
// A crash anywhere before the MANIFEST rename leaves the previous step as
// the newest committed one.
//
// Load protocol (collective over the loaders; one process needs no
// communicator): rank 0 proposes the newest step directory not yet refused
// (a Broadcast); every rank reads its MANIFEST, checks every shard file's
// size and header CRC against it, and reads and CRC-checks the shard it
// loads; an AllGather of verdicts accepts the step only if every rank
// accepted it. A refused step is logged (which and why) and the next older
// one is tried. So every rank resumes from the same step.
//
// Failures:
//   Save: kInvalidArgument for a bad checkpoint (duplicate or empty name,
//     undefined tensor, negative or differing step); kInternal for I/O on
//     this rank (path and errno's text); kAborted when another rank failed
//     or died, or the communicator broke (the step is then not committed,
//     except that a failure in step 5 leaves it unknown: LoadLatest decides).
//   LoadLatest: kNotFound when no step was ever committed in the directory
//     (start from scratch); kDataLoss when committed steps exist but every
//     one is corrupt (refuse to silently restart: inspect or delete D);
//     kAborted / kDeadlineExceeded from the communicator.
// Disk I/O is not interruptible: deadlines bound the collective waits only.
//
// Thread-safety: Save and LoadLatest are collective and run on one thread
// per rank; a Checkpointer holds only its options (const methods).
#ifndef BRAID_ELASTIC_CHECKPOINT_CHECKPOINTER_H_
#define BRAID_ELASTIC_CHECKPOINT_CHECKPOINTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "elastic/checkpoint/checkpoint.h"

namespace braid::elastic::checkpoint {

struct CheckpointerOptions {
  // The checkpoint directory D; created if missing. REQUIRED. Every rank
  // must see the same directory (a shared file system for several hosts).
  std::string directory;
  // Committed steps kept after a successful Save (older ones are deleted).
  // >= 1; 0 keeps every step. Default 3.
  int keep_last = 3;
  // fsync files and directories. Turning it off only makes sense for tests
  // and tmpfs: a power loss may then lose a "committed" step. Default true.
  bool sync = true;
  // Fault injection for tests: called at "shard_partial" (first tensor
  // written, file incomplete), "shard_durable", and on rank 0
  // "manifest_before" and "manifest_durable". Empty in production.
  FaultHook fault_hook;
};

struct LoadOptions {
  // Whose shard to read into LoadedCheckpoint::checkpoint: -1 (default) is
  // the loader's own rank (none when it is >= the saved world size);
  // otherwise that rank of the saved world (e.g. shard_rank = 0 to give
  // every rank the replicated state rank 0 saved).
  int shard_rank = -1;
  // Also read and CRC-check every other shard (default: their sizes and
  // header CRCs are checked; their tensor bytes by whoever loads them).
  bool verify_all_shards = false;
};

class Checkpointer {
 public:
  // kInvalidArgument for an empty directory or keep_last < 0; kInternal when
  // the directory cannot be created.
  static absl::StatusOr<std::unique_ptr<Checkpointer>> Create(const CheckpointerOptions& options);

  const CheckpointerOptions& options() const { return options_; }

  // Saves this rank's part of step `checkpoint.step` (protocol above).
  // Collective over `comm`; every wait ends by `deadline`.
  absl::Status Save(const Checkpoint& checkpoint, collectives::Communicator& comm,
                    absl::Time deadline) const;
  // The same for a world of one process (no communicator).
  absl::Status Save(const Checkpoint& checkpoint) const;

  // Loads the newest step that verifies (protocol above). Collective over
  // `comm`; the loaders' world may differ from the saved one.
  absl::StatusOr<LoadedCheckpoint> LoadLatest(collectives::Communicator& comm, absl::Time deadline,
                                              const LoadOptions& options = {}) const;
  // The same for one process (loads shard 0 unless options.shard_rank says).
  absl::StatusOr<LoadedCheckpoint> LoadLatest(const LoadOptions& options = {}) const;

  // Reads and verifies shard `shard_rank` of committed step `step` (any
  // process, no communicator; e.g. to reshard). kNotFound when the step is
  // not committed; kInvalidArgument when shard_rank is outside its world.
  absl::StatusOr<LoadedCheckpoint> ReadShard(int64_t step, int shard_rank) const;

  // Steps with a MANIFEST that parses, ascending (shards not verified).
  absl::StatusOr<std::vector<int64_t>> CommittedSteps() const;

 private:
  explicit Checkpointer(CheckpointerOptions options) : options_(std::move(options)) {}

  CheckpointerOptions options_;
};

}  // namespace braid::elastic::checkpoint

#endif  // BRAID_ELASTIC_CHECKPOINT_CHECKPOINTER_H_
