// MpiSession: MPI's lifetime in one process (MPI_Init_thread ...
// MPI_Finalize), owned by the caller, plus the progress engine and the
// f16/bf16 reduction operators every mpi communicator shares.
//
//   BRAID_ASSIGN_OR_RETURN(std::unique_ptr<MpiSession> mpi, MpiSession::Create({}));
//   CommunicatorFactory factory;
//   BRAID_RETURN_IF_ERROR(RegisterMpiBackend(factory, *mpi));
//   ... communicators ...            // destroy them before the session
//
// MPI can be initialised once per process, so create one session, early in
// main, and keep it until the end. Under plain `mpirun` the world (rank,
// size) comes from the session (world_rank(), world_size()), which matches
// Open MPI's OMPI_COMM_WORLD_RANK / _SIZE.
//
// Threading (docs/mpi.md): MPI_THREAD_MULTIPLE is requested; when granted,
// threads post MPI calls directly and one progress thread tests requests;
// when only MPI_THREAD_SERIALIZED is granted, the progress thread makes every
// MPI call. Less than SERIALIZED fails Create with kFailedPrecondition.
//
// Ending: the destructor waits up to Options::finalize_timeout for every
// outstanding request and then calls MPI_Finalize. If a request is still
// outstanding (an operation timed out because a peer died or hung; Open MPI
// 4.1 cannot cancel it), MPI_Finalize would hang, so the destructor calls
// MPI_Abort(MPI_COMM_WORLD, 1) instead: the whole job ends and the launcher
// restarts it from the last checkpoint. AbortJob does the same on demand.
//
// Thread-safety: all methods are thread-safe; destroy the session only after
// every communicator created from it.
#ifndef BRAID_COLLECTIVES_MPI_MPI_SESSION_H_
#define BRAID_COLLECTIVES_MPI_MPI_SESSION_H_

#include <mpi.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "collectives/mpi/mpi_engine.h"
#include "runtime/dtype.h"

namespace braid::collectives {

// The thread support MPI granted.
enum class MpiThreadLevel : uint8_t { kSingle = 0, kFunneled = 1, kSerialized = 2, kMultiple = 3 };

// "single", "funneled", "serialized", "multiple".
absl::string_view ToString(MpiThreadLevel level);

class MpiSession {
 public:
  struct Options {
    // Ask for MPI_THREAD_MULTIPLE (direct posts); false asks for SERIALIZED
    // (every MPI call on the progress thread). Default true.
    bool request_thread_multiple = true;
    // Session set-up (the collective duplicate of MPI_COMM_WORLD) must end by
    // then. Default 60 s.
    absl::Duration init_timeout = absl::Seconds(60);
    // How long the destructor waits for outstanding requests before it ends
    // the job with MPI_Abort. Default 30 s.
    absl::Duration finalize_timeout = absl::Seconds(30);
  };

  // Initialises MPI (or adopts an MPI someone else initialised; it is then
  // not finalised here). kFailedPrecondition if MPI was already finalised or
  // grants less than MPI_THREAD_SERIALIZED. Collective over MPI_COMM_WORLD.
  static absl::StatusOr<std::unique_ptr<MpiSession>> Create(const Options& options);

  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }
  MpiThreadLevel thread_level() const { return thread_level_; }
  // True when Create called MPI_Init_thread (and the destructor finalises).
  bool owns_mpi() const { return owns_mpi_; }
  // The largest tag MPI accepts (MPI_TAG_UB, at least 32767).
  int tag_ub() const { return tag_ub_; }

  // Ends the whole job now: MPI_Abort(MPI_COMM_WORLD, exit_code) after
  // printing `reason`. Does not return.
  [[noreturn]] void AbortJob(const absl::Status& reason, int exit_code = 1);

  // ---- For the mpi backend (collectives/mpi) ----
  MpiEngine& engine() { return *engine_; }
  // A duplicate of MPI_COMM_WORLD owned by the session (BroadcastString).
  const std::shared_ptr<MpiCommState>& session_comm() const { return session_comm_; }
  // The MPI datatype of `dtype` (f16 and bf16 travel as MPI_UINT16_T).
  static MPI_Datatype Datatype(runtime::DType dtype);
  // The MPI operator reducing `dtype` with `op` (avg: sum; the caller
  // divides). f16/bf16 use user-defined operators that compute in f32.
  MPI_Op Operator(runtime::DType dtype, ReduceOp op) const;

 private:
  MpiSession() = default;

  bool owns_mpi_ = false;
  int world_rank_ = 0;
  int world_size_ = 0;
  int tag_ub_ = 32767;
  MpiThreadLevel thread_level_ = MpiThreadLevel::kSingle;
  absl::Duration finalize_timeout_;
  std::unique_ptr<MpiEngine> engine_;
  std::shared_ptr<MpiCommState> session_comm_;
  // [0]: f16, [1]: bf16; by kernels::ReduceKind (sum, prod, min, max).
  MPI_Op half_ops_[2][4] = {};
};

// Sends `value_on_root` from world rank `root` to every rank of the session's
// world (rank 0 hosting the store under plain mpirun sends its address this
// way). Collective over MPI_COMM_WORLD; other ranks' `value_on_root` is
// ignored. Returns the root's string on every rank; kDeadlineExceeded /
// kAborted when a rank does not take part by `deadline`; kInvalidArgument for
// a bad root.
absl::StatusOr<std::string> BroadcastString(MpiSession& session, std::string value_on_root,
                                            int root, absl::Time deadline);

}  // namespace braid::collectives

#endif  // BRAID_COLLECTIVES_MPI_MPI_SESSION_H_
