#include "collectives/mpi/mpi_session.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kernels/reduce.h"
#include "runtime/status_macros.h"

namespace braid::collectives {
namespace {

using kernels::ReduceKind;
using runtime::DType;

// MPI user-defined reduction: inout[i] = in[i] op inout[i] in f32 (the
// operators are commutative). One instantiation per (dtype, kind), so no
// state is needed to know the element type.
template <DType kDType, ReduceKind kKind>
void HalfReduce(void* in, void* inout, int* len, MPI_Datatype* /*datatype*/) {
  // Arguments are valid by construction; nothing to report from here.
  (void)kernels::ReduceInto(inout, in, *len, kDType, kKind);
}

template <DType kDType>
absl::Status CreateHalfOps(MPI_Op (&ops)[4]) {
  MPI_User_function* fns[4] = {
      &HalfReduce<kDType, ReduceKind::kSum>, &HalfReduce<kDType, ReduceKind::kProd>,
      &HalfReduce<kDType, ReduceKind::kMin>, &HalfReduce<kDType, ReduceKind::kMax>};
  for (int i = 0; i < 4; ++i) {
    if (int rc = MPI_Op_create(fns[i], /*commute=*/1, &ops[i]); rc != MPI_SUCCESS) {
      return MpiError(rc, "MPI_Op_create");
    }
  }
  return absl::OkStatus();
}

MpiThreadLevel LevelOf(int provided) {
  if (provided >= MPI_THREAD_MULTIPLE) return MpiThreadLevel::kMultiple;
  if (provided >= MPI_THREAD_SERIALIZED) return MpiThreadLevel::kSerialized;
  if (provided >= MPI_THREAD_FUNNELED) return MpiThreadLevel::kFunneled;
  return MpiThreadLevel::kSingle;
}

}  // namespace

absl::string_view ToString(MpiThreadLevel level) {
  switch (level) {
    case MpiThreadLevel::kSingle:
      return "single";
    case MpiThreadLevel::kFunneled:
      return "funneled";
    case MpiThreadLevel::kSerialized:
      return "serialized";
    case MpiThreadLevel::kMultiple:
      return "multiple";
  }
  return "invalid";
}

absl::StatusOr<std::unique_ptr<MpiSession>> MpiSession::Create(const Options& options) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) {
    return absl::FailedPreconditionError(
        "MPI was already finalised in this process; create one MpiSession for the process's "
        "lifetime");
  }
  std::unique_ptr<MpiSession> session(new MpiSession());
  session->finalize_timeout_ = options.finalize_timeout;
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = MPI_THREAD_SINGLE;
  if (initialized) {
    MPI_Query_thread(&provided);
  } else {
    const int required =
        options.request_thread_multiple ? MPI_THREAD_MULTIPLE : MPI_THREAD_SERIALIZED;
    if (int rc = MPI_Init_thread(nullptr, nullptr, required, &provided); rc != MPI_SUCCESS) {
      return absl::FailedPreconditionError(
          absl::StrCat("MPI_Init_thread failed (error ", rc, "); run under mpirun/mpiexec"));
    }
    session->owns_mpi_ = true;
  }
  session->thread_level_ = LevelOf(provided);
  if (session->thread_level_ < MpiThreadLevel::kSerialized) {
    // The destructor still finalises what we initialised.
    return absl::FailedPreconditionError(absl::StrCat(
        "MPI granted thread level '", ToString(session->thread_level_),
        "'; braid's mpi backend needs at least 'serialized' (build Open MPI with thread support)"));
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &session->world_rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &session->world_size_);
  void* tag_ub = nullptr;
  int has_tag_ub = 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &tag_ub, &has_tag_ub);
  if (has_tag_ub && tag_ub != nullptr) session->tag_ub_ = *static_cast<int*>(tag_ub);
  BRAID_RETURN_IF_ERROR(CreateHalfOps<DType::kF16>(session->half_ops_[0]));
  BRAID_RETURN_IF_ERROR(CreateHalfOps<DType::kBF16>(session->half_ops_[1]));
  const bool direct =
      session->thread_level_ == MpiThreadLevel::kMultiple && options.request_thread_multiple;
  session->engine_ = std::make_unique<MpiEngine>(direct);

  // The session's own communicator, duplicated without blocking so set-up
  // honours init_timeout.
  auto state =
      std::make_shared<MpiCommState>("session", session->world_rank_, session->world_size_);
  BRAID_RETURN_IF_ERROR(
      DuplicateComm(*session->engine_, MPI_COMM_WORLD, state, options.init_timeout));
  session->session_comm_ = std::move(state);
  return session;
}

MpiSession::~MpiSession() {
  int outstanding = 0;
  if (engine_ != nullptr) {
    outstanding = engine_->Drain(absl::Now() + finalize_timeout_);
    if (outstanding == 0 && session_comm_ != nullptr) {
      std::shared_ptr<MpiCommState> comm = session_comm_;
      (void)engine_->Run(
          [comm] {
            MPI_Comm_free(&comm->comm);
            return absl::OkStatus();
          },
          absl::Now() + finalize_timeout_);
    }
    engine_->Stop();
  }
  if (!owns_mpi_) return;
  if (outstanding > 0) {
    AbortJob(absl::AbortedError(absl::StrCat(
                 outstanding, " MPI operation(s) still outstanding after ",
                 absl::FormatDuration(finalize_timeout_),
                 " at MpiSession end (a peer died or hangs); MPI_Finalize would hang")),
             1);
  }
  for (auto& row : half_ops_) {
    for (MPI_Op& op : row) {
      if (op != MPI_OP_NULL && op != MPI_Op{}) MPI_Op_free(&op);
    }
  }
  MPI_Finalize();
}

void MpiSession::AbortJob(const absl::Status& reason, int exit_code) {
  std::fprintf(stderr, "[braid mpi rank %d] ending the job with MPI_Abort(%d): %s\n", world_rank_,
               exit_code, reason.ToString().c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; belt and braces
}

MPI_Datatype MpiSession::Datatype(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return MPI_FLOAT;
    case DType::kF16:
      return MPI_UINT16_T;
    case DType::kBF16:
      return MPI_UINT16_T;
    case DType::kI32:
      return MPI_INT32_T;
    case DType::kI64:
      return MPI_INT64_T;
    case DType::kU8:
      return MPI_UINT8_T;
  }
  return MPI_BYTE;
}

MPI_Op MpiSession::Operator(DType dtype, ReduceOp op) const {
  int kind = 0;
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      kind = 0;
      break;
    case ReduceOp::kProd:
      kind = 1;
      break;
    case ReduceOp::kMin:
      kind = 2;
      break;
    case ReduceOp::kMax:
      kind = 3;
      break;
  }
  if (dtype == DType::kF16) return half_ops_[0][kind];
  if (dtype == DType::kBF16) return half_ops_[1][kind];
  const MPI_Op kBuiltin[4] = {MPI_SUM, MPI_PROD, MPI_MIN, MPI_MAX};
  return kBuiltin[kind];
}

absl::StatusOr<std::string> BroadcastString(MpiSession& session, std::string value_on_root,
                                            int root, absl::Time deadline) {
  if (root < 0 || root >= session.world_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "BroadcastString: root ", root, " is not a rank of a world of ", session.world_size()));
  }
  const std::shared_ptr<MpiCommState>& comm = session.session_comm();
  auto length = std::make_shared<int64_t>(static_cast<int64_t>(value_on_root.size()));
  // `keep` owns `data` until the request is done, even if the caller gives up.
  auto broadcast = [&](std::shared_ptr<void> keep, void* data, int count, MPI_Datatype type,
                       absl::string_view what) {
    auto op = std::make_shared<MpiOp>();
    op->name = absl::StrCat("BroadcastString ", what, " (MPI_Ibcast from root ", root,
                            ") on world rank ", session.world_rank(), "/", session.world_size());
    op->comm = comm;
    op->deadline = deadline;
    op->timeout = deadline - absl::Now();
    op->start = [comm, keep, data, count, type, root](std::vector<MPI_Request>& requests) {
      requests.emplace_back();
      if (int rc = MPI_Ibcast(data, count, type, root, comm->comm, &requests.back());
          rc != MPI_SUCCESS) {
        requests.pop_back();
        return MpiError(rc, "MPI_Ibcast");
      }
      return absl::OkStatus();
    };
    return session.engine().Submit(op)->Wait(deadline + absl::Seconds(1));
  };
  BRAID_RETURN_IF_ERROR(broadcast(length, length.get(), 1, MPI_INT64_T, "length"));
  if (*length < 0 || *length > (int64_t{1} << 30)) {
    return absl::DataLossError(absl::StrCat("BroadcastString: bad length ", *length));
  }
  std::string value = session.world_rank() == root ? std::move(value_on_root) : std::string();
  value.resize(static_cast<size_t>(*length));
  auto buffer = std::make_shared<std::string>(std::move(value));
  BRAID_RETURN_IF_ERROR(
      broadcast(buffer, buffer->data(), static_cast<int>(buffer->size()), MPI_CHAR, "value"));
  return *buffer;
}

}  // namespace braid::collectives
