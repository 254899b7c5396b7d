#include "collectives/dispatch/device_dispatch_communicator.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/status_macros.h"

namespace braid::collectives {
namespace {

using runtime::DeviceType;
using runtime::Tensor;

absl::string_view DeviceName(DeviceType type) {
  switch (type) {
    case DeviceType::kCpu:
      return "cpu";
    case DeviceType::kCuda:
      return "cuda";
  }
  return "invalid";
}

// Completes when every inner Work has; Wait returns the first error.
class AllOfWork final : public Work {
 public:
  explicit AllOfWork(std::vector<std::shared_ptr<Work>> works) : works_(std::move(works)) {}

  absl::Status Wait(absl::Time deadline) override {
    absl::Status first;
    for (const auto& w : works_) {
      absl::Status s = w->Wait(deadline);
      if (!s.ok() && first.ok()) first = std::move(s);
    }
    return first;
  }

  bool IsCompleted() override {
    for (const auto& w : works_) {
      if (!w->IsCompleted()) return false;
    }
    return true;
  }

 private:
  const std::vector<std::shared_ptr<Work>> works_;
};

bool Supports(const Communicator& comm, DeviceType type) {
  const Capabilities c = comm.capabilities();
  return type == DeviceType::kCpu ? c.cpu_tensors : c.cuda_tensors;
}

}  // namespace

absl::StatusOr<std::vector<DispatchEntry>> ParseDispatchSpec(absl::string_view spec) {
  std::vector<DispatchEntry> entries;
  bool seen[2] = {false, false};
  for (absl::string_view raw : absl::StrSplit(spec, ',')) {
    absl::string_view item = absl::StripAsciiWhitespace(raw);
    if (item.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("backend spec '", spec,
                                                     "' has an empty entry; write e.g. "
                                                     "\"cpu:tcp,cuda:nccl\""));
    }
    DispatchEntry entry;
    const size_t colon = item.find(':');
    if (colon == absl::string_view::npos) {
      entry.any_device = true;
      entry.backend = std::string(item);
    } else {
      absl::string_view device = absl::StripAsciiWhitespace(item.substr(0, colon));
      entry.backend = std::string(absl::StripAsciiWhitespace(item.substr(colon + 1)));
      if (device == "cpu") {
        entry.device = DeviceType::kCpu;
      } else if (device == "cuda") {
        entry.device = DeviceType::kCuda;
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            "backend spec '", spec, "': unknown device '", device, "' (use cpu or cuda)"));
      }
      if (entry.backend.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("backend spec '", spec, "': no backend named for ", device));
      }
      const int d = static_cast<int>(entry.device);
      if (seen[d]) {
        return absl::InvalidArgumentError(
            absl::StrCat("backend spec '", spec, "' names device ", device, " twice"));
      }
      seen[d] = true;
    }
    entries.push_back(std::move(entry));
  }
  if (entries.empty()) return absl::InvalidArgumentError("empty backend spec");
  return entries;
}

DeviceDispatchCommunicator::DeviceDispatchCommunicator(Parts parts)
    : owned_cpu_(std::move(parts.cpu)), owned_cuda_(std::move(parts.cuda)), name_(parts.name) {
  cpu_ = owned_cpu_.get();
  cuda_ = parts.cuda_same_as_cpu ? cpu_ : owned_cuda_.get();
  if (name_.empty()) {
    if (cpu_ != nullptr) absl::StrAppend(&name_, "cpu:", cpu_->backend());
    if (cuda_ != nullptr) {
      absl::StrAppend(&name_, name_.empty() ? "" : ",", "cuda:", cuda_->backend());
    }
  }
}

absl::StatusOr<std::unique_ptr<DeviceDispatchCommunicator>> DeviceDispatchCommunicator::Create(
    Parts parts) {
  if (parts.cuda_same_as_cpu && parts.cuda != nullptr) {
    return absl::InvalidArgumentError("Parts: cuda must be null when cuda_same_as_cpu is set");
  }
  Communicator* cpu = parts.cpu.get();
  Communicator* cuda = parts.cuda_same_as_cpu ? cpu : parts.cuda.get();
  if (cpu == nullptr && cuda == nullptr) {
    return absl::InvalidArgumentError("DeviceDispatchCommunicator needs at least one backend");
  }
  if (cpu != nullptr && !Supports(*cpu, DeviceType::kCpu)) {
    return absl::InvalidArgumentError(
        absl::StrCat("backend '", cpu->backend(), "' does not take CPU tensors"));
  }
  if (cuda != nullptr && !Supports(*cuda, DeviceType::kCuda)) {
    return absl::InvalidArgumentError(
        absl::StrCat("backend '", cuda->backend(), "' does not take CUDA tensors"));
  }
  if (cpu != nullptr && cuda != nullptr &&
      (cpu->rank() != cuda->rank() || cpu->size() != cuda->size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "backends disagree on the group: ", cpu->backend(), " is rank ", cpu->rank(), "/",
        cpu->size(), ", ", cuda->backend(), " is rank ", cuda->rank(), "/", cuda->size()));
  }
  return std::unique_ptr<DeviceDispatchCommunicator>(
      new DeviceDispatchCommunicator(std::move(parts)));
}

absl::StatusOr<std::unique_ptr<DeviceDispatchCommunicator>>
DeviceDispatchCommunicator::CreateFromSpec(absl::string_view spec,
                                           const CommunicatorFactory& factory,
                                           const CommunicatorOptions& options) {
  BRAID_ASSIGN_OR_RETURN(std::vector<DispatchEntry> entries, ParseDispatchSpec(spec));
  // Create each distinct backend once, in spec order.
  std::vector<std::pair<std::string, std::unique_ptr<Communicator>>> created;
  auto get = [&](const std::string& backend) -> absl::StatusOr<Communicator*> {
    for (auto& [name, comm] : created) {
      if (name == backend) return comm.get();
    }
    CommunicatorOptions o = options;
    o.store_prefix = absl::StrCat(options.store_prefix, backend, "/");
    BRAID_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> comm, factory.Create(backend, o));
    created.emplace_back(backend, std::move(comm));
    return created.back().second.get();
  };
  Communicator* for_device[2] = {nullptr, nullptr};
  for (const DispatchEntry& e : entries) {  // explicit device entries first
    if (e.any_device) continue;
    BRAID_ASSIGN_OR_RETURN(for_device[static_cast<int>(e.device)], get(e.backend));
  }
  for (const DispatchEntry& e : entries) {  // then bare backends fill the gaps they support
    if (!e.any_device) continue;
    BRAID_ASSIGN_OR_RETURN(Communicator * comm, get(e.backend));
    for (DeviceType d : {DeviceType::kCpu, DeviceType::kCuda}) {
      if (for_device[static_cast<int>(d)] == nullptr && Supports(*comm, d)) {
        for_device[static_cast<int>(d)] = comm;
      }
    }
  }
  Parts parts;
  parts.name = std::string(spec);
  for (auto& [name, comm] : created) {
    if (comm.get() == for_device[0]) parts.cpu = std::move(comm);
  }
  if (for_device[1] != nullptr && for_device[1] == for_device[0]) {
    parts.cuda_same_as_cpu = true;
  } else {
    for (auto& [name, comm] : created) {
      if (comm != nullptr && comm.get() == for_device[1]) parts.cuda = std::move(comm);
    }
  }
  return Create(std::move(parts));
}

Communicator* DeviceDispatchCommunicator::ForDevice(DeviceType device) const {
  return device == DeviceType::kCpu ? cpu_ : cuda_;
}

std::vector<Communicator*> DeviceDispatchCommunicator::Distinct() const {
  std::vector<Communicator*> out;
  if (cpu_ != nullptr) out.push_back(cpu_);
  if (cuda_ != nullptr && cuda_ != cpu_) out.push_back(cuda_);
  return out;
}

Capabilities DeviceDispatchCommunicator::capabilities() const {
  Capabilities c;
  c.cpu_tensors = cpu_ != nullptr;
  c.cuda_tensors = cuda_ != nullptr;
  c.shrink = true;
  c.fault_tolerant = true;
  for (Communicator* comm : Distinct()) {
    c.shrink = c.shrink && comm->capabilities().shrink;
    c.fault_tolerant = c.fault_tolerant && comm->capabilities().fault_tolerant;
  }
  return c;
}

absl::StatusOr<Communicator*> DeviceDispatchCommunicator::Route(
    absl::string_view op, std::initializer_list<const Tensor*> tensors) const {
  bool have = false;
  DeviceType type = DeviceType::kCpu;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (have && t->device().type != type) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, " on '", name_, "': tensors on different device types (", DeviceName(type), " and ",
          DeviceName(t->device().type), "); copy them to one device first"));
    }
    have = true;
    type = t->device().type;
  }
  Communicator* comm = ForDevice(type);
  if (comm == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(op, " on '", name_, "': no backend for ",
                                                   DeviceName(type),
                                                   " tensors; add one to the spec"));
  }
  return comm;
}

std::shared_ptr<Work> DeviceDispatchCommunicator::AllReduce(const Tensor& input,
                                                            const Tensor& output, ReduceOp op) {
  absl::StatusOr<Communicator*> c = Route("AllReduce", {&input, &output});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->AllReduce(input, output, op);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::ReduceScatter(const Tensor& input,
                                                                const Tensor& output, ReduceOp op) {
  absl::StatusOr<Communicator*> c = Route("ReduceScatter", {&input, &output});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->ReduceScatter(input, output, op);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::AllGather(const Tensor& input,
                                                            const Tensor& output) {
  absl::StatusOr<Communicator*> c = Route("AllGather", {&input, &output});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->AllGather(input, output);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::Broadcast(const Tensor& tensor, int root) {
  absl::StatusOr<Communicator*> c = Route("Broadcast", {&tensor});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->Broadcast(tensor, root);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::Reduce(const Tensor& input, const Tensor& output,
                                                         ReduceOp op, int root) {
  absl::StatusOr<Communicator*> c = Route("Reduce", {&input, &output});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->Reduce(input, output, op, root);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::AllToAll(const Tensor& input,
                                                           const Tensor& output) {
  absl::StatusOr<Communicator*> c = Route("AllToAll", {&input, &output});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->AllToAll(input, output);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::AllToAllV(const Tensor& input,
                                                            absl::Span<const int64_t> send_counts,
                                                            const Tensor& output,
                                                            absl::Span<const int64_t> recv_counts) {
  absl::StatusOr<Communicator*> c = Route("AllToAllV", {&input, &output});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->AllToAllV(input, send_counts, output, recv_counts);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::AllGatherV(const Tensor& input,
                                                             const Tensor& output,
                                                             absl::Span<const int64_t> counts) {
  absl::StatusOr<Communicator*> c = Route("AllGatherV", {&input, &output});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->AllGatherV(input, output, counts);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::ReduceScatterV(const Tensor& input,
                                                                 const Tensor& output,
                                                                 absl::Span<const int64_t> counts,
                                                                 ReduceOp op) {
  absl::StatusOr<Communicator*> c = Route("ReduceScatterV", {&input, &output});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->ReduceScatterV(input, output, counts, op);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::Gather(const Tensor& input, const Tensor& output,
                                                         int root) {
  absl::StatusOr<Communicator*> c = Route("Gather", {&input, &output});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->Gather(input, output, root);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::Scatter(const Tensor& input,
                                                          const Tensor& output, int root) {
  absl::StatusOr<Communicator*> c = Route("Scatter", {&input, &output});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->Scatter(input, output, root);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::AllReducePreMulSum(const Tensor& input,
                                                                     const Tensor& output,
                                                                     double scale) {
  absl::StatusOr<Communicator*> c = Route("AllReducePreMulSum", {&input, &output});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->AllReducePreMulSum(input, output, scale);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::ReduceScatterPreMulSum(const Tensor& input,
                                                                         const Tensor& output,
                                                                         double scale) {
  absl::StatusOr<Communicator*> c = Route("ReduceScatterPreMulSum", {&input, &output});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->ReduceScatterPreMulSum(input, output, scale);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::Send(const Tensor& tensor, int peer, int tag) {
  absl::StatusOr<Communicator*> c = Route("Send", {&tensor});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->Send(tensor, peer, tag);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::Recv(const Tensor& tensor, int peer, int tag) {
  absl::StatusOr<Communicator*> c = Route("Recv", {&tensor});
  if (!c.ok()) return SettableWork::Done(c.status());
  return (*c)->Recv(tensor, peer, tag);
}

std::shared_ptr<Work> DeviceDispatchCommunicator::Barrier() {
  std::vector<std::shared_ptr<Work>> works;
  for (Communicator* comm : Distinct()) works.push_back(comm->Barrier());
  return std::make_shared<AllOfWork>(std::move(works));
}

absl::StatusOr<std::unique_ptr<Communicator>> DeviceDispatchCommunicator::Split(
    int color, int key, absl::Time deadline) {
  Parts parts;
  parts.name = name_;
  parts.cuda_same_as_cpu = cpu_ != nullptr && cuda_ == cpu_;
  if (cpu_ != nullptr) {
    BRAID_ASSIGN_OR_RETURN(parts.cpu, cpu_->Split(color, key, deadline));
  }
  if (cuda_ != nullptr && !parts.cuda_same_as_cpu) {
    BRAID_ASSIGN_OR_RETURN(parts.cuda, cuda_->Split(color, key, deadline));
  }
  if (parts.cpu == nullptr && parts.cuda == nullptr) return std::unique_ptr<Communicator>();
  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<DeviceDispatchCommunicator> out, Create(std::move(parts)));
  return std::unique_ptr<Communicator>(std::move(out));
}

absl::StatusOr<std::unique_ptr<Communicator>> DeviceDispatchCommunicator::Shrink(
    absl::Span<const int> excluded_ranks, absl::Time deadline) {
  Parts parts;
  parts.name = name_;
  parts.cuda_same_as_cpu = cpu_ != nullptr && cuda_ == cpu_;
  if (cpu_ != nullptr) {
    BRAID_ASSIGN_OR_RETURN(parts.cpu, cpu_->Shrink(excluded_ranks, deadline));
  }
  if (cuda_ != nullptr && !parts.cuda_same_as_cpu) {
    BRAID_ASSIGN_OR_RETURN(parts.cuda, cuda_->Shrink(excluded_ranks, deadline));
  }
  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<DeviceDispatchCommunicator> out, Create(std::move(parts)));
  return std::unique_ptr<Communicator>(std::move(out));
}

void DeviceDispatchCommunicator::Abort(absl::Status reason) {
  for (Communicator* comm : Distinct()) comm->Abort(reason);
}

}  // namespace braid::collectives
