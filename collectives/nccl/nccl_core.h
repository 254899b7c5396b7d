// Internal to collectives/nccl: the state one NcclCommunicator shares with
// its Works and watchdog (NCCL handle, stream, pending operations), and the
// event-backed Work. Users see only nccl_communicator.h.
#ifndef BRAID_COLLECTIVES_NCCL_NCCL_CORE_H_
#define BRAID_COLLECTIVES_NCCL_NCCL_CORE_H_

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "collectives/work.h"
#include "runtime/tensor.h"

namespace braid::collectives::nccl_internal {

// NCCL / CUDA results as Status, naming the call.
absl::Status FromNccl(ncclResult_t result, absl::string_view what, ncclComm_t comm = nullptr);
absl::Status FromCuda(cudaError_t error, absl::string_view what);

// Polls ncclCommGetAsyncError until the communicator is no longer
// ncclInProgress (non-blocking config) or `deadline` passes.
absl::Status WaitReady(ncclComm_t comm, absl::string_view what, absl::Time deadline);

class NcclCore;

// A Work completed by a CUDA event (or failed by the watchdog / Abort).
class NcclWork final : public Work {
 public:
  NcclWork(std::string name, std::weak_ptr<NcclCore> core)
      : name_(std::move(name)), core_(std::move(core)) {}
  ~NcclWork() override;

  // The event recorded after the operation on the stream; the work owns it.
  void SetEvent(cudaEvent_t event) ABSL_LOCKS_EXCLUDED(mu_);
  // Completes with `status` unless already complete.
  void Complete(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);

  absl::Status Wait(absl::Time deadline) override ABSL_LOCKS_EXCLUDED(mu_);
  bool IsCompleted() override ABSL_LOCKS_EXCLUDED(mu_);
  // True once the GPU is done with the buffers (event reached), even if the
  // work was failed earlier.
  bool DeviceDone() ABSL_LOCKS_EXCLUDED(mu_);
  const std::string& name() const { return name_; }

 private:
  bool PollLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const std::weak_ptr<NcclCore> core_;  // to launch queued p2p on Wait
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool device_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  cudaEvent_t event_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// One launched operation the watchdog tracks until its event completes.
struct Pending {
  std::shared_ptr<NcclWork> work;
  absl::Time deadline;
  std::vector<runtime::Tensor> keep_alive;  // buffers in use by the GPU
};

// A Send/Recv posted but not yet launched (see the p2p note in the header).
struct QueuedP2P {
  bool is_send = false;
  runtime::Tensor tensor;
  int peer = 0;
  std::shared_ptr<NcclWork> work;
  absl::Time deadline;
};

class NcclCore : public std::enable_shared_from_this<NcclCore> {
 public:
  NcclCore(std::string name, int rank, int size, int device, absl::Duration op_timeout)
      : name_(std::move(name)),
        rank_(rank),
        size_(size),
        device_(device),
        op_timeout_(op_timeout) {}
  ~NcclCore();

  // Set once by the creator before use.
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  void* barrier_buffer = nullptr;  // one int32 on the device

  const std::string& name() const { return name_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  int device() const { return device_; }
  absl::Duration op_timeout() const { return op_timeout_; }
  std::string OpName(absl::string_view op);

  // Launches `enqueue` (NCCL/CUDA calls on `stream`) after any queued p2p,
  // records the completion event and tracks the op. `enqueue` appends any
  // temporary device buffer it uses to its argument, which stays alive until
  // the GPU is done. Fails the Work with kFailedPrecondition when broken.
  std::shared_ptr<Work> Launch(
      std::string name, std::vector<runtime::Tensor> keep_alive,
      const std::function<absl::Status(std::vector<runtime::Tensor>&)>& enqueue)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Queues a Send/Recv (launched by FlushP2P).
  std::shared_ptr<Work> QueueP2P(std::string name, bool is_send, const runtime::Tensor& tensor,
                                 int peer) ABSL_LOCKS_EXCLUDED(mu_);
  // Launches every queued Send/Recv as one NCCL group.
  void FlushP2P() ABSL_LOCKS_EXCLUDED(mu_);

  // Watchdog step: async errors, deadlines, reaping. Returns quickly.
  void Check() ABSL_LOCKS_EXCLUDED(mu_);
  // ncclCommAbort + fail everything pending with `status` (kAborted).
  void Abort(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status broken() ABSL_LOCKS_EXCLUDED(mu_);
  // Serialises NCCL calls that take the communicator (Split, Shrink).
  absl::Mutex& mu() ABSL_LOCK_RETURNED(mu_) { return mu_; }
  // Waits until no op is pending (or `deadline`); true when drained.
  bool Drain(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void FlushP2PLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AbortLocked(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RecordLocked(const std::shared_ptr<NcclWork>& work, absl::Time deadline,
                            std::vector<runtime::Tensor> keep_alive)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const int rank_;
  const int size_;
  const int device_;
  const absl::Duration op_timeout_;
  std::atomic<int64_t> seq_{0};
  absl::Mutex mu_;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
  std::list<Pending> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<QueuedP2P> queued_ ABSL_GUARDED_BY(mu_);
};

}  // namespace braid::collectives::nccl_internal

#endif  // BRAID_COLLECTIVES_NCCL_NCCL_CORE_H_
