#include "collectives/nccl/nccl_communicator.h"

#include <pthread.h>

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collectives/nccl/nccl_checks.h"
#include "collectives/nccl/nccl_core.h"
#include "kernels/reduce.h"
#include "runtime/cuda_memory.h"
#include "runtime/status_macros.h"

namespace braid::collectives {

using nccl_internal::CheckPair;
using nccl_internal::CheckTensor;
using nccl_internal::DivideIfAvg;
using nccl_internal::Failed;
using nccl_internal::FromCuda;
using nccl_internal::NcclOp;
using nccl_internal::NcclType;
using nccl_internal::Unaliased;
using nccl_internal::FromNccl;
using nccl_internal::NcclCore;
using nccl_internal::WaitReady;
using runtime::DType;
using runtime::Tensor;

namespace {

constexpr absl::Duration kWatchdogInterval = absl::Milliseconds(10);

ncclConfig_t NonBlockingConfig() {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  return config;
}

// Creates the stream and barrier buffer of a freshly made NCCL communicator.
absl::Status FinishCore(NcclCore& core) {
  BRAID_RETURN_IF_ERROR(FromCuda(cudaSetDevice(core.device()), "cudaSetDevice"));
  BRAID_RETURN_IF_ERROR(FromCuda(cudaStreamCreateWithFlags(&core.stream, cudaStreamNonBlocking),
                                 "cudaStreamCreateWithFlags"));
  BRAID_RETURN_IF_ERROR(FromCuda(cudaMalloc(&core.barrier_buffer, sizeof(int32_t)), "cudaMalloc"));
  return FromCuda(cudaMemset(core.barrier_buffer, 0, sizeof(int32_t)), "cudaMemset");
}

}  // namespace

// ---- Creation ---------------------------------------------------------------------

NcclCommunicator::NcclCommunicator(std::shared_ptr<NcclCore> core, int64_t epoch)
    : core_(std::move(core)), epoch_(epoch) {
  watchdog_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "braid-nccl-wd");
    WatchdogLoop();
  });
}

NcclCommunicator::~NcclCommunicator() {
  const absl::Duration grace = std::min(core_->op_timeout(), absl::Seconds(10));
  if (!core_->Drain(absl::Now() + grace)) {
    core_->Abort(absl::AbortedError("nccl communicator destroyed with operations pending"));
  }
  {
    absl::MutexLock lock(&watchdog_mu_);
    stop_ = true;
  }
  watchdog_.join();
}

void NcclCommunicator::WatchdogLoop() {
  absl::MutexLock lock(&watchdog_mu_);
  while (!stop_) {
    watchdog_mu_.AwaitWithTimeout(absl::Condition(&stop_), kWatchdogInterval);
    if (stop_) break;
    watchdog_mu_.Unlock();
    core_->Check();
    watchdog_mu_.Lock();
  }
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    const CommunicatorOptions& options) {
  if (!runtime::cuda::Available()) {
    return absl::FailedPreconditionError(
        "nccl backend: no usable GPU (no device, or the driver is missing or too old); use "
        "tcp or mpi for CPU tensors");
  }
  if (options.store == nullptr || options.size <= 0 || options.rank < 0 ||
      options.rank >= options.size) {
    return absl::InvalidArgumentError("nccl backend: needs rank < size and a store");
  }
  int device = options.rank % runtime::cuda::DeviceCount();
  if (auto it = options.backend_options.find("device"); it != options.backend_options.end()) {
    if (!absl::SimpleAtoi(it->second, &device) || device < 0 ||
        device >= runtime::cuda::DeviceCount()) {
      return absl::InvalidArgumentError(absl::StrCat("nccl backend: bad device '", it->second,
                                                     "' (this process sees ",
                                                     runtime::cuda::DeviceCount(), " GPUs)"));
    }
  }
  const absl::Time deadline = absl::Now() + options.connect_timeout;
  BRAID_RETURN_IF_ERROR(FromCuda(cudaSetDevice(device), "cudaSetDevice"));

  // 1. Rank 0 publishes the unique id; 2. the others wait for it.
  ncclUniqueId id;
  const std::string key = absl::StrCat(options.store_prefix, "nccl/unique_id");
  if (options.rank == 0) {
    BRAID_RETURN_IF_ERROR(FromNccl(ncclGetUniqueId(&id), "ncclGetUniqueId"));
    BRAID_RETURN_IF_ERROR(options.store->Set(
        key, absl::string_view(reinterpret_cast<const char*>(&id), sizeof(id)), deadline));
  } else {
    BRAID_RETURN_IF_ERROR(options.store->Wait({key}, deadline));
    BRAID_ASSIGN_OR_RETURN(std::string bytes, options.store->Get(key, deadline));
    if (bytes.size() != sizeof(id)) {
      return absl::DataLossError(absl::StrCat("nccl unique id under '", key, "' has ", bytes.size(),
                                              " bytes, expected ", sizeof(id)));
    }
    std::memcpy(&id, bytes.data(), sizeof(id));
  }
  // 3. Non-blocking init, polled with the deadline.
  auto core = std::make_shared<NcclCore>(options.store_prefix, options.rank, options.size, device,
                                         options.op_timeout);
  ncclConfig_t config = NonBlockingConfig();
  absl::Status s =
      FromNccl(ncclCommInitRankConfig(&core->comm, options.size, id, options.rank, &config),
               "ncclCommInitRankConfig");
  if (s.ok()) s = WaitReady(core->comm, "ncclCommInitRankConfig", deadline);
  if (!s.ok()) {
    if (core->comm != nullptr) core->Abort(absl::AbortedError("init failed"));
    return absl::UnavailableError(
        absl::StrCat("nccl backend: creating the communicator failed: ", s.message()));
  }
  BRAID_RETURN_IF_ERROR(FinishCore(*core));
  return std::unique_ptr<NcclCommunicator>(new NcclCommunicator(std::move(core), 0));
}

int NcclCommunicator::rank() const { return core_->rank(); }
int NcclCommunicator::size() const { return core_->size(); }
int NcclCommunicator::device() const { return core_->device(); }

Capabilities NcclCommunicator::capabilities() const {
  Capabilities c;
  c.cuda_tensors = true;
  c.fault_tolerant = true;  // the watchdog aborts instead of hanging
#if NCCL_HAS_COMM_SHRINK
  c.shrink = true;
#endif
  return c;
}

// ---- Operations ---------------------------------------------------------------------

std::shared_ptr<Work> NcclCommunicator::AllReduce(const Tensor& input, const Tensor& output,
                                                  ReduceOp op) {
  NcclCore& c = *core_;
  if (absl::Status s = CheckPair(c, input, output, input.numel()); !s.ok()) {
    return Failed(c, "ncclAllReduce", s);
  }
  return c.Launch(c.OpName(absl::StrCat("ncclAllReduce(", ToString(op), ")")), {input, output},
                  [&](std::vector<Tensor>& keep) -> absl::Status {
                    BRAID_ASSIGN_OR_RETURN(Tensor send, input.raw_data() == output.raw_data()
                                                            ? absl::StatusOr<Tensor>(input)
                                                            : Unaliased(c, input, output, keep));
                    BRAID_RETURN_IF_ERROR(FromNccl(
                        ncclAllReduce(send.raw_data(), output.raw_data(), output.numel(),
                                      NcclType(input.dtype()), NcclOp(op), c.comm, c.stream),
                        "ncclAllReduce", c.comm));
                    return DivideIfAvg(c, op, output);
                  });
}

std::shared_ptr<Work> NcclCommunicator::ReduceScatter(const Tensor& input, const Tensor& output,
                                                      ReduceOp op) {
  NcclCore& c = *core_;
  absl::Status s = input.numel() % size() == 0
                       ? CheckPair(c, input, output, input.numel() / size())
                       : absl::InvalidArgumentError("input numel is not a multiple of size()");
  if (!s.ok()) return Failed(c, "ncclReduceScatter", s);
  return c.Launch(
      c.OpName(absl::StrCat("ncclReduceScatter(", ToString(op), ")")), {input, output},
      [&](std::vector<Tensor>& keep) -> absl::Status {
        const bool in_place =
            static_cast<char*>(input.raw_data()) + rank() * output.nbytes() == output.raw_data();
        BRAID_ASSIGN_OR_RETURN(Tensor send, in_place ? absl::StatusOr<Tensor>(input)
                                                     : Unaliased(c, input, output, keep));
        BRAID_RETURN_IF_ERROR(
            FromNccl(ncclReduceScatter(send.raw_data(), output.raw_data(), output.numel(),
                                       NcclType(input.dtype()), NcclOp(op), c.comm, c.stream),
                     "ncclReduceScatter", c.comm));
        return DivideIfAvg(c, op, output);
      });
}

std::shared_ptr<Work> NcclCommunicator::AllGather(const Tensor& input, const Tensor& output) {
  NcclCore& c = *core_;
  if (absl::Status s = CheckPair(c, input, output, input.numel() * size()); !s.ok()) {
    return Failed(c, "ncclAllGather", s);
  }
  return c.Launch(
      c.OpName("ncclAllGather"), {input, output}, [&](std::vector<Tensor>& keep) -> absl::Status {
        const bool in_place =
            static_cast<char*>(output.raw_data()) + rank() * input.nbytes() == input.raw_data();
        BRAID_ASSIGN_OR_RETURN(Tensor send, in_place ? absl::StatusOr<Tensor>(input)
                                                     : Unaliased(c, input, output, keep));
        return FromNccl(ncclAllGather(send.raw_data(), output.raw_data(), input.numel(),
                                      NcclType(input.dtype()), c.comm, c.stream),
                        "ncclAllGather", c.comm);
      });
}

std::shared_ptr<Work> NcclCommunicator::Broadcast(const Tensor& tensor, int root) {
  NcclCore& c = *core_;
  absl::Status s = CheckTensor(c, tensor, "tensor");
  if (s.ok() && (root < 0 || root >= size())) {
    s = absl::InvalidArgumentError(
        absl::StrCat("root ", root, " is not a rank of a group of ", size()));
  }
  if (!s.ok()) return Failed(c, "ncclBroadcast", s);
  return c.Launch(c.OpName("ncclBroadcast"), {tensor}, [&](std::vector<Tensor>&) {
    return FromNccl(ncclBroadcast(tensor.raw_data(), tensor.raw_data(), tensor.numel(),
                                  NcclType(tensor.dtype()), root, c.comm, c.stream),
                    "ncclBroadcast", c.comm);
  });
}

std::shared_ptr<Work> NcclCommunicator::Reduce(const Tensor& input, const Tensor& output,
                                               ReduceOp op, int root) {
  NcclCore& c = *core_;
  absl::Status s = CheckTensor(c, input, "input");
  if (s.ok() && (root < 0 || root >= size())) {
    s = absl::InvalidArgumentError(
        absl::StrCat("root ", root, " is not a rank of a group of ", size()));
  }
  const bool is_root = rank() == root;
  if (s.ok() && is_root) s = CheckPair(c, input, output, input.numel());
  if (!s.ok()) return Failed(c, "ncclReduce", s);
  Tensor recv = is_root ? output : Tensor();
  return c.Launch(
      c.OpName(absl::StrCat("ncclReduce(", ToString(op), ")")), {input, recv},
      [&](std::vector<Tensor>& keep) -> absl::Status {
        Tensor send = input;
        if (is_root && input.raw_data() != recv.raw_data()) {
          BRAID_ASSIGN_OR_RETURN(send, Unaliased(c, input, recv, keep));
        }
        BRAID_RETURN_IF_ERROR(
            FromNccl(ncclReduce(send.raw_data(), is_root ? recv.raw_data() : nullptr, input.numel(),
                                NcclType(input.dtype()), NcclOp(op), root, c.comm, c.stream),
                     "ncclReduce", c.comm));
        return is_root ? DivideIfAvg(c, op, recv) : absl::OkStatus();
      });
}

std::shared_ptr<Work> NcclCommunicator::AllToAll(const Tensor& input, const Tensor& output) {
  const int n = size();
  if (input.numel() % n != 0) {
    return Failed(*core_, "AllToAll",
                  absl::InvalidArgumentError("input numel is not a multiple of size()"));
  }
  std::vector<int64_t> counts(n, input.numel() / n);
  return AllToAllV(input, counts, output, counts);
}

std::shared_ptr<Work> NcclCommunicator::AllToAllV(const Tensor& input,
                                                  absl::Span<const int64_t> send_counts,
                                                  const Tensor& output,
                                                  absl::Span<const int64_t> recv_counts) {
  NcclCore& c = *core_;
  const int n = size();
  absl::Status s = CheckPair(c, input, output, output.numel());
  int64_t send_total = 0, recv_total = 0;
  if (s.ok() &&
      (static_cast<int>(send_counts.size()) != n || static_cast<int>(recv_counts.size()) != n)) {
    s = absl::InvalidArgumentError("send_counts and recv_counts need one entry per rank");
  }
  for (int j = 0; s.ok() && j < n; ++j) {
    if (send_counts[j] < 0 || recv_counts[j] < 0) s = absl::InvalidArgumentError("negative count");
    send_total += send_counts[j];
    recv_total += recv_counts[j];
  }
  if (s.ok() && (send_total > input.numel() || recv_total > output.numel())) {
    s = absl::InvalidArgumentError(absl::StrCat("counts sum to ", send_total, " / ", recv_total,
                                                " but the tensors hold ", input.numel(), " / ",
                                                output.numel()));
  }
  if (!s.ok()) return Failed(c, "AllToAllV", s);
  std::vector<int64_t> sends(send_counts.begin(), send_counts.end());
  std::vector<int64_t> recvs(recv_counts.begin(), recv_counts.end());
  return c.Launch(c.OpName("AllToAllV (grouped ncclSend/ncclRecv)"), {input, output},
                  [&](std::vector<Tensor>& keep) -> absl::Status {
                    BRAID_ASSIGN_OR_RETURN(Tensor send, Unaliased(c, input, output, keep));
                    const size_t es = input.element_size();
                    const ncclDataType_t type = NcclType(input.dtype());
                    BRAID_RETURN_IF_ERROR(FromNccl(ncclGroupStart(), "ncclGroupStart", c.comm));
                    absl::Status st;
                    size_t so = 0, ro = 0;
                    for (int j = 0; j < n && st.ok(); ++j) {
                      if (sends[j] > 0) {
                        st = FromNccl(ncclSend(static_cast<char*>(send.raw_data()) + so * es,
                                               sends[j], type, j, c.comm, c.stream),
                                      "ncclSend", c.comm);
                      }
                      if (st.ok() && recvs[j] > 0) {
                        st = FromNccl(ncclRecv(static_cast<char*>(output.raw_data()) + ro * es,
                                               recvs[j], type, j, c.comm, c.stream),
                                      "ncclRecv", c.comm);
                      }
                      so += sends[j];
                      ro += recvs[j];
                    }
                    absl::Status end = FromNccl(ncclGroupEnd(), "ncclGroupEnd", c.comm);
                    return st.ok() ? end : st;
                  });
}

std::shared_ptr<Work> NcclCommunicator::Send(const Tensor& tensor, int peer, int tag) {
  NcclCore& c = *core_;
  absl::Status s = CheckTensor(c, tensor, "tensor");
  if (s.ok() && (peer < 0 || peer >= size())) {
    s = absl::InvalidArgumentError(
        absl::StrCat("peer ", peer, " is not a rank of a group of ", size()));
  }
  if (!s.ok()) return Failed(c, "ncclSend", s);
  return c.QueueP2P(c.OpName(absl::StrCat("ncclSend(to ", peer, ", tag ", tag, ")")), true, tensor,
                    peer);
}

std::shared_ptr<Work> NcclCommunicator::Recv(const Tensor& tensor, int peer, int tag) {
  NcclCore& c = *core_;
  absl::Status s = CheckTensor(c, tensor, "tensor");
  if (s.ok() && (peer < 0 || peer >= size())) {
    s = absl::InvalidArgumentError(
        absl::StrCat("peer ", peer, " is not a rank of a group of ", size()));
  }
  if (!s.ok()) return Failed(c, "ncclRecv", s);
  return c.QueueP2P(c.OpName(absl::StrCat("ncclRecv(from ", peer, ", tag ", tag, ")")), false,
                    tensor, peer);
}

std::shared_ptr<Work> NcclCommunicator::Barrier() {
  NcclCore& c = *core_;
  return c.Launch(c.OpName("Barrier (1-element ncclAllReduce)"), {}, [&c](std::vector<Tensor>&) {
    return FromNccl(
        ncclAllReduce(c.barrier_buffer, c.barrier_buffer, 1, ncclInt32, ncclSum, c.comm, c.stream),
        "ncclAllReduce", c.comm);
  });
}

// ---- Group changes ------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Communicator>> NcclCommunicator::Split(int color, int key,
                                                                      absl::Time deadline) {
  BRAID_RETURN_IF_ERROR(core_->broken());
  core_->FlushP2P();
  ncclComm_t child = nullptr;
  {
    absl::MutexLock lock(&core_->mu());
    BRAID_RETURN_IF_ERROR(FromCuda(cudaSetDevice(core_->device()), "cudaSetDevice"));
    ncclConfig_t config = NonBlockingConfig();
    BRAID_RETURN_IF_ERROR(FromNccl(
        ncclCommSplit(core_->comm, color < 0 ? NCCL_SPLIT_NOCOLOR : color, key, &child, &config),
        "ncclCommSplit", core_->comm));
    BRAID_RETURN_IF_ERROR(WaitReady(core_->comm, "ncclCommSplit", deadline));
  }
  if (child == nullptr) return std::unique_ptr<Communicator>();
  BRAID_RETURN_IF_ERROR(WaitReady(child, "ncclCommSplit (new communicator)", deadline));
  int new_rank = 0, new_size = 0;
  BRAID_RETURN_IF_ERROR(FromNccl(ncclCommUserRank(child, &new_rank), "ncclCommUserRank"));
  BRAID_RETURN_IF_ERROR(FromNccl(ncclCommCount(child, &new_size), "ncclCommCount"));
  auto core = std::make_shared<NcclCore>(absl::StrCat(core_->name(), "split(", color, ")"),
                                         new_rank, new_size, core_->device(), core_->op_timeout());
  core->comm = child;
  BRAID_RETURN_IF_ERROR(FinishCore(*core));
  return std::unique_ptr<Communicator>(new NcclCommunicator(std::move(core), epoch_));
}

absl::StatusOr<std::unique_ptr<Communicator>> NcclCommunicator::Shrink(
    absl::Span<const int> excluded_ranks, absl::Time deadline) {
#if NCCL_HAS_COMM_SHRINK
  std::vector<int> excluded(excluded_ranks.begin(), excluded_ranks.end());
  const bool after_fault = !core_->broken().ok();
  ncclComm_t child = nullptr;
  {
    absl::MutexLock lock(&core_->mu());
    BRAID_RETURN_IF_ERROR(FromCuda(cudaSetDevice(core_->device()), "cudaSetDevice"));
    ncclConfig_t config = NonBlockingConfig();
    BRAID_RETURN_IF_ERROR(FromNccl(
        ncclCommShrink(core_->comm, excluded.data(), static_cast<int>(excluded.size()), &child,
                       &config, after_fault ? NCCL_SHRINK_ABORT : NCCL_SHRINK_DEFAULT),
        "ncclCommShrink", core_->comm));
  }
  if (child == nullptr) return absl::InternalError("ncclCommShrink returned no communicator");
  BRAID_RETURN_IF_ERROR(WaitReady(child, "ncclCommShrink", deadline));
  int new_rank = 0, new_size = 0;
  BRAID_RETURN_IF_ERROR(FromNccl(ncclCommUserRank(child, &new_rank), "ncclCommUserRank"));
  BRAID_RETURN_IF_ERROR(FromNccl(ncclCommCount(child, &new_size), "ncclCommCount"));
  auto core = std::make_shared<NcclCore>(core_->name(), new_rank, new_size, core_->device(),
                                         core_->op_timeout());
  core->comm = child;
  BRAID_RETURN_IF_ERROR(FinishCore(*core));
  return std::unique_ptr<Communicator>(new NcclCommunicator(std::move(core), epoch_ + 1));
#else
  return absl::UnimplementedError(
      "nccl Shrink: this NCCL has no ncclCommShrink (added in NCCL 2.27); rebuild braid against "
      "a newer NCCL, or create a new communicator over the survivors");
#endif
}

void NcclCommunicator::Abort(absl::Status reason) {
  core_->Abort(
      absl::AbortedError(absl::StrCat("nccl '", core_->name(), "' aborted: ", reason.message())));
}

absl::Status RegisterNcclBackend(CommunicatorFactory& factory) {
  return factory.Register(
      "nccl",
      [](const CommunicatorOptions& options) -> absl::StatusOr<std::unique_ptr<Communicator>> {
        BRAID_ASSIGN_OR_RETURN(std::unique_ptr<NcclCommunicator> comm,
                               NcclCommunicator::Create(options));
        return std::unique_ptr<Communicator>(std::move(comm));
      });
}

}  // namespace braid::collectives
