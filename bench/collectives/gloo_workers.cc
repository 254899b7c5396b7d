// The Gloo peer: Gloo's ring all-reduce (and all-gather, broadcast,
// all-to-all) over its TCP transport on loopback, rendezvous through a
// FileStore in a directory the parent made. Gloo reports failures by
// throwing; every call into it is wrapped here and becomes a Status.
// Built when Gloo is found (see gloo_workers_none.cc).
#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "bench/collectives/workers.h"
#include "gloo/allgather.h"
#include "gloo/allreduce.h"
#include "gloo/alltoall.h"
#include "gloo/barrier.h"
#include "gloo/broadcast.h"
#include "gloo/math.h"
#include "gloo/rendezvous/context.h"
#include "gloo/rendezvous/file_store.h"
#include "gloo/transport/tcp/device.h"

namespace braid::bench {
namespace {

constexpr std::chrono::milliseconds kGlooTimeout(120000);

// Runs `fn`, turning any exception into kAborted naming `what`.
template <typename Fn>
absl::Status Guard(absl::string_view what, Fn&& fn) {
  try {
    fn();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::AbortedError(absl::StrCat("gloo ", what, ": ", e.what()));
  } catch (...) {
    return absl::AbortedError(absl::StrCat("gloo ", what, ": unknown exception"));
  }
}

class GlooGroup final : public BenchGroup {
 public:
  GlooGroup(std::shared_ptr<gloo::Context> context, int rank, int size)
      : context_(std::move(context)), rank_(rank), size_(size) {}

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string Unsupported(BenchOp op) const override {
    return op == BenchOp::kReduceScatter
               ? "gloo's options API has no reduce-scatter"
               : "";
  }
  absl::Status Prepare(BenchOp op, float* in, float* out, int64_t size_elements) override {
    op_ = op;
    in_ = in;
    out_ = out;
    counts_ = OpBufferCounts(op, size_elements, size_);
    return absl::OkStatus();
  }
  absl::Status RunOnce() override {
    const uint32_t tag = next_tag_++;
    return Guard(ToString(op_), [&] {
      const size_t in_n = static_cast<size_t>(counts_.input);
      const size_t out_n = static_cast<size_t>(counts_.output);
      switch (op_) {
        case BenchOp::kAllReduce: {
          gloo::AllreduceOptions o(context_);
          o.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
          o.setInput(in_, in_n);
          o.setOutput(out_, out_n);
          o.setReduceFunction(
              static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
          o.setTag(tag);
          o.setTimeout(kGlooTimeout);
          gloo::allreduce(o);
          break;
        }
        case BenchOp::kReduceScatter:
          throw std::runtime_error("reduce-scatter is not benchmarked for gloo");
        case BenchOp::kAllGather: {
          gloo::AllgatherOptions o(context_);
          o.setInput(in_, in_n);
          o.setOutput(out_, out_n);
          o.setTag(tag);
          o.setTimeout(kGlooTimeout);
          gloo::allgather(o);
          break;
        }
        case BenchOp::kBroadcast: {
          gloo::BroadcastOptions o(context_);
          o.setOutput(out_, out_n);
          o.setRoot(0);
          o.setTag(tag);
          o.setTimeout(kGlooTimeout);
          gloo::broadcast(o);
          break;
        }
        case BenchOp::kAllToAll: {
          gloo::AlltoallOptions o(context_);
          o.setInput(in_, in_n);
          o.setOutput(out_, out_n);
          o.setTag(tag);
          o.setTimeout(kGlooTimeout);
          gloo::alltoall(o);
          break;
        }
      }
    });
  }
  absl::Status Barrier() override {
    const uint32_t tag = next_tag_++;
    return Guard("barrier", [&] {
      gloo::BarrierOptions o(context_);
      o.setTag(tag);
      o.setTimeout(kGlooTimeout);
      gloo::barrier(o);
    });
  }

 private:
  std::shared_ptr<gloo::Context> context_;
  const int rank_;
  const int size_;
  uint32_t next_tag_ = 1;
  BenchOp op_ = BenchOp::kAllReduce;
  float* in_ = nullptr;
  float* out_ = nullptr;
  BufferCounts counts_;
};

}  // namespace

absl::Status RunGlooWorker(const WorkerArgs& args) {
  std::shared_ptr<gloo::rendezvous::Context> context;
  absl::Status s = Guard("rendezvous", [&] {
    gloo::transport::tcp::attr attr;
    attr.hostname = "127.0.0.1";
    std::shared_ptr<gloo::transport::Device> device = gloo::transport::tcp::CreateDevice(attr);
    gloo::rendezvous::FileStore store(args.gloo_dir);
    context = std::make_shared<gloo::rendezvous::Context>(args.rank, args.world_size);
    context->setTimeout(kGlooTimeout);
    context->connectFullMesh(store, device);
  });
  if (!s.ok()) return s;
  GlooGroup group(context, args.rank, args.world_size);
  return RunSweep(group, args.sweep, args.result_path);
}

bool HaveGloo() { return true; }

}  // namespace braid::bench
