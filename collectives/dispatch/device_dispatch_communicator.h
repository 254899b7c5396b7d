// DeviceDispatchCommunicator: one Communicator over several backends, each
// serving one device type, chosen per call by the tensors' device, as
// PyTorch's "cpu:gloo,cuda:nccl" process groups do.
//
//   // CPU tensors over tcp (or mpi), CUDA tensors over nccl:
//   BRAID_ASSIGN_OR_RETURN(auto comm, DeviceDispatchCommunicator::CreateFromSpec(
//                                         "cpu:tcp,cuda:nccl", factory, options));
//   comm->AllReduce(cpu_grads, cpu_grads, ReduceOp::kSum);    // runs on tcp
//   comm->AllReduce(gpu_grads, gpu_grads, ReduceOp::kSum);    // runs on nccl
//
// Spec: comma-separated "device:backend" entries (device "cpu" or "cuda"); a
// bare "backend" entry serves every device type its capabilities() list.
// The same backend named for both devices is created once and serves both.
// Each backend gets the caller's CommunicatorOptions with store_prefix
// extended by "<backend>/" so their keys never collide.
//
// Dispatch rules: all tensors of one call must be on the same device type
// (an undefined Reduce output off the root is ignored); mixed devices, or a
// device with no backend, fail the Work with kInvalidArgument. Barrier,
// Split, Shrink and Abort apply to every distinct backend (in the order cpu,
// cuda); the Barrier's Work completes when all have, with the first error.
// Ordering: operations on different backends are independent streams; only
// operations on the same device type keep the posting order.
//
// Thread-safety: as Communicator; the composite adds no state after creation.
#ifndef BRAID_COLLECTIVES_DISPATCH_DEVICE_DISPATCH_COMMUNICATOR_H_
#define BRAID_COLLECTIVES_DISPATCH_DEVICE_DISPATCH_COMMUNICATOR_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "collectives/communicator.h"
#include "collectives/factory.h"
#include "runtime/device.h"

namespace braid::collectives {

// One "device:backend" entry of a spec; `any_device` for a bare "backend".
struct DispatchEntry {
  runtime::DeviceType device = runtime::DeviceType::kCpu;
  bool any_device = false;
  std::string backend;
  friend bool operator==(const DispatchEntry&, const DispatchEntry&) = default;
};

// Parses "cpu:tcp,cuda:nccl" (spaces around entries allowed). kInvalidArgument
// for an empty spec, an unknown device, an empty backend, or a device named
// twice.
absl::StatusOr<std::vector<DispatchEntry>> ParseDispatchSpec(absl::string_view spec);

class DeviceDispatchCommunicator final : public Communicator {
 public:
  // Takes ownership of `cpu` and `cuda` (either may be null, not both; they
  // may be the same object, passed once as `cpu` with `cuda_same_as_cpu`).
  // kInvalidArgument when they disagree on rank or size, or a backend does
  // not support the device it is given.
  struct Parts {
    std::unique_ptr<Communicator> cpu;
    std::unique_ptr<Communicator> cuda;
    bool cuda_same_as_cpu = false;
    // Shown by backend(); default: built from the parts' backend names.
    std::string name;
  };
  static absl::StatusOr<std::unique_ptr<DeviceDispatchCommunicator>> Create(Parts parts);

  // Parses `spec` and creates each backend with `factory` (see the file
  // comment). Collective: every rank calls it with the same spec.
  static absl::StatusOr<std::unique_ptr<DeviceDispatchCommunicator>> CreateFromSpec(
      absl::string_view spec, const CommunicatorFactory& factory,
      const CommunicatorOptions& options);

  // The communicator serving `device`, or nullptr.
  Communicator* ForDevice(runtime::DeviceType device) const;

  int rank() const override { return primary().rank(); }
  int size() const override { return primary().size(); }
  int64_t epoch() const override { return primary().epoch(); }
  // "cpu:mpi,cuda:nccl".
  absl::string_view backend() const override { return name_; }
  Capabilities capabilities() const override;

  std::shared_ptr<Work> AllReduce(const runtime::Tensor& input, const runtime::Tensor& output,
                                  ReduceOp op) override;
  std::shared_ptr<Work> ReduceScatter(const runtime::Tensor& input, const runtime::Tensor& output,
                                      ReduceOp op) override;
  std::shared_ptr<Work> AllGather(const runtime::Tensor& input,
                                  const runtime::Tensor& output) override;
  std::shared_ptr<Work> Broadcast(const runtime::Tensor& tensor, int root) override;
  std::shared_ptr<Work> Reduce(const runtime::Tensor& input, const runtime::Tensor& output,
                               ReduceOp op, int root) override;
  std::shared_ptr<Work> AllToAll(const runtime::Tensor& input,
                                 const runtime::Tensor& output) override;
  std::shared_ptr<Work> AllToAllV(const runtime::Tensor& input,
                                  absl::Span<const int64_t> send_counts,
                                  const runtime::Tensor& output,
                                  absl::Span<const int64_t> recv_counts) override;
  std::shared_ptr<Work> AllGatherV(const runtime::Tensor& input, const runtime::Tensor& output,
                                   absl::Span<const int64_t> counts) override;
  std::shared_ptr<Work> ReduceScatterV(const runtime::Tensor& input,
                                       const runtime::Tensor& output,
                                       absl::Span<const int64_t> counts, ReduceOp op) override;
  // Gather's output and Scatter's input may be undefined off the root; the
  // defined tensors pick the backend.
  std::shared_ptr<Work> Gather(const runtime::Tensor& input, const runtime::Tensor& output,
                               int root) override;
  std::shared_ptr<Work> Scatter(const runtime::Tensor& input, const runtime::Tensor& output,
                                int root) override;
  std::shared_ptr<Work> AllReducePreMulSum(const runtime::Tensor& input,
                                           const runtime::Tensor& output, double scale) override;
  std::shared_ptr<Work> ReduceScatterPreMulSum(const runtime::Tensor& input,
                                               const runtime::Tensor& output,
                                               double scale) override;
  std::shared_ptr<Work> Send(const runtime::Tensor& tensor, int peer, int tag) override;
  std::shared_ptr<Work> Recv(const runtime::Tensor& tensor, int peer, int tag) override;
  std::shared_ptr<Work> Barrier() override;
  absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key,
                                                      absl::Time deadline) override;
  absl::StatusOr<std::unique_ptr<Communicator>> Shrink(absl::Span<const int> excluded_ranks,
                                                       absl::Time deadline) override;
  void Abort(absl::Status reason) override;

 private:
  explicit DeviceDispatchCommunicator(Parts parts);

  Communicator& primary() const { return cpu_ != nullptr ? *cpu_ : *cuda_; }
  // The distinct backends, cpu first.
  std::vector<Communicator*> Distinct() const;
  // The backend for the device of `tensors` (undefined ones skipped), or an
  // error naming `op`.
  absl::StatusOr<Communicator*> Route(absl::string_view op,
                                      std::initializer_list<const runtime::Tensor*> tensors) const;

  std::unique_ptr<Communicator> owned_cpu_;
  std::unique_ptr<Communicator> owned_cuda_;
  Communicator* cpu_ = nullptr;
  Communicator* cuda_ = nullptr;
  std::string name_;
};

}  // namespace braid::collectives

#endif  // BRAID_COLLECTIVES_DISPATCH_DEVICE_DISPATCH_COMMUNICATOR_H_
