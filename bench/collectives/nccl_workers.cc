// The worker for braid's "nccl" backend: the sweep's host buffers are copied
// to device buffers in Prepare and the output back in Finish, so the timed
// loop measures device-to-device collectives only. Built when NCCL is found
// (see nccl_workers_none.cc); needs one GPU per rank.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "bench/collectives/communicator_group.h"
#include "bench/collectives/workers.h"
#include "collectives/factory.h"
#include "collectives/nccl/nccl_communicator.h"
#include "elastic/store/store_client.h"

namespace braid::bench {
namespace {

absl::Status CudaCheck(cudaError_t rc, absl::string_view what) {
  if (rc == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorString(rc)));
}

struct CudaFree {
  void operator()(float* p) const { cudaFree(p); }
};
using DeviceBuffer = std::unique_ptr<float, CudaFree>;

absl::StatusOr<DeviceBuffer> DeviceAlloc(int64_t count) {
  void* p = nullptr;
  if (absl::Status s = CudaCheck(cudaMalloc(&p, static_cast<size_t>(count) * sizeof(float)),
                                 "cudaMalloc");
      !s.ok()) {
    return s;
  }
  return DeviceBuffer(static_cast<float*>(p));
}

class NcclGroup final : public BenchGroup {
 public:
  NcclGroup(collectives::Communicator& comm, int device)
      : comm_(comm), inner_(comm, runtime::Device::Cuda(device)) {}
  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  absl::Status Prepare(BenchOp op, float* in, float* out, int64_t size_elements) override {
    counts_ = OpBufferCounts(op, size_elements, comm_.size());
    host_out_ = out;
    const int64_t need = std::max<int64_t>(size_elements, 2);
    if (need > capacity_) {
      d_in_.reset();
      d_out_.reset();
      absl::StatusOr<DeviceBuffer> a = DeviceAlloc(need);
      if (!a.ok()) return a.status();
      absl::StatusOr<DeviceBuffer> b = DeviceAlloc(need);
      if (!b.ok()) return b.status();
      d_in_ = std::move(*a);
      d_out_ = std::move(*b);
      capacity_ = need;
    }
    if (counts_.input > 0) {
      if (absl::Status s = CudaCheck(cudaMemcpy(d_in_.get(), in, counts_.input * sizeof(float),
                                                cudaMemcpyHostToDevice),
                                     "cudaMemcpy");
          !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = CudaCheck(cudaMemcpy(d_out_.get(), out, counts_.output * sizeof(float),
                                              cudaMemcpyHostToDevice),
                                   "cudaMemcpy");
        !s.ok()) {
      return s;
    }
    return inner_.Prepare(op, d_in_.get(), d_out_.get(), size_elements);
  }
  absl::Status RunOnce() override { return inner_.RunOnce(); }
  absl::Status Barrier() override { return inner_.Barrier(); }
  absl::Status Finish() override {
    return CudaCheck(cudaMemcpy(host_out_, d_out_.get(), counts_.output * sizeof(float),
                                cudaMemcpyDeviceToHost),
                     "cudaMemcpy");
  }

 private:
  collectives::Communicator& comm_;
  CommunicatorGroup inner_;
  BufferCounts counts_;
  float* host_out_ = nullptr;
  DeviceBuffer d_in_;
  DeviceBuffer d_out_;
  int64_t capacity_ = 0;
};

}  // namespace

int NcclDeviceCount(std::string* why_none) {
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) {
    *why_none = absl::StrCat("no usable GPU (cudaGetDeviceCount: ", cudaGetErrorString(rc), ")");
    return 0;
  }
  if (count == 0) *why_none = "no GPU visible";
  return count;
}

absl::Status RunNcclWorker(const WorkerArgs& args) {
  std::string why;
  const int devices = NcclDeviceCount(&why);
  if (devices == 0) return absl::FailedPreconditionError(why);
  const int device = args.rank % devices;
  if (absl::Status s = CudaCheck(cudaSetDevice(device), "cudaSetDevice"); !s.ok()) return s;
  elastic::StoreClientOptions store_options;
  store_options.address = args.store_address;
  absl::StatusOr<std::unique_ptr<elastic::StoreClient>> store =
      elastic::StoreClient::Create(store_options);
  if (!store.ok()) return store.status();
  absl::Status s;
  {
    collectives::CommunicatorFactory factory;
    if (s = collectives::RegisterNcclBackend(factory); !s.ok()) return s;
    collectives::CommunicatorOptions o;
    o.rank = args.rank;
    o.size = args.world_size;
    o.store = store->get();
    o.store_prefix = args.store_prefix;
    o.op_timeout = absl::Seconds(120);
    o.backend_options["device"] = absl::StrCat(device);
    absl::StatusOr<std::unique_ptr<collectives::Communicator>> comm = factory.Create("nccl", o);
    if (!comm.ok()) return comm.status();
    NcclGroup group(**comm, device);
    s = RunSweep(group, args.sweep, args.result_path);
  }
  return s;
}

}  // namespace braid::bench
