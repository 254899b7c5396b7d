#include "collectives/debug/debug_communicator.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/status_macros.h"
#include "runtime/tensor.h"

namespace braid::collectives {
namespace {

using runtime::Device;
using runtime::DType;
using runtime::Tensor;

constexpr int64_t kMagic = 0x4252414944444247;  // "BRAIDDBG"
constexpr int kWords = 8;

int DTypeOf(const Tensor& t) { return t.defined() ? static_cast<int>(t.dtype()) : -1; }
int64_t NumelOf(const Tensor& t) { return t.defined() ? t.numel() : -1; }

// FNV-1a over the counts.
uint64_t HashCounts(absl::Span<const int64_t> counts) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v) {
    for (int b = 0; b < 8; ++b) {
      h ^= (v >> (8 * b)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  mix(counts.size());
  for (int64_t c : counts) mix(static_cast<uint64_t>(c));
  return h;
}

std::shared_ptr<Work> Failed(absl::Status s) { return SettableWork::Done(std::move(s)); }

}  // namespace

absl::string_view ToString(CollectiveKind kind) {
  switch (kind) {
    case CollectiveKind::kAllReduce: return "AllReduce";
    case CollectiveKind::kReduceScatter: return "ReduceScatter";
    case CollectiveKind::kAllGather: return "AllGather";
    case CollectiveKind::kBroadcast: return "Broadcast";
    case CollectiveKind::kReduce: return "Reduce";
    case CollectiveKind::kAllToAll: return "AllToAll";
    case CollectiveKind::kAllToAllV: return "AllToAllV";
    case CollectiveKind::kBarrier: return "Barrier";
    case CollectiveKind::kAllGatherV: return "AllGatherV";
    case CollectiveKind::kReduceScatterV: return "ReduceScatterV";
    case CollectiveKind::kGather: return "Gather";
    case CollectiveKind::kScatter: return "Scatter";
    case CollectiveKind::kAllReducePreMulSum: return "AllReducePreMulSum";
    case CollectiveKind::kReduceScatterPreMulSum: return "ReduceScatterPreMulSum";
    case CollectiveKind::kSplit: return "Split";
  }
  return "unknown";
}

std::array<int64_t, 8> CallFingerprint::ToWords() const {
  std::array<int64_t, kWords> w{};
  w[0] = kMagic;
  w[1] = seq;
  w[2] = static_cast<int64_t>(kind) | (static_cast<int64_t>(dtype + 1) << 8) |
         (static_cast<int64_t>(reduce_op + 1) << 16);
  w[3] = root;
  w[4] = count;
  w[5] = static_cast<int64_t>(counts_hash);
  std::memcpy(&w[6], &scale, sizeof(double));
  return w;
}

absl::StatusOr<CallFingerprint> CallFingerprint::FromWords(const int64_t* w) {
  if (w[0] != kMagic) {
    return absl::DataLossError(
        absl::StrCat("debug-mode fingerprint has magic ", w[0], ", expected ", kMagic));
  }
  CallFingerprint fp;
  fp.seq = w[1];
  fp.kind = static_cast<CollectiveKind>(w[2] & 0xff);
  fp.dtype = static_cast<int>((w[2] >> 8) & 0xff) - 1;
  fp.reduce_op = static_cast<int>((w[2] >> 16) & 0xff) - 1;
  fp.root = w[3];
  fp.count = w[4];
  fp.counts_hash = static_cast<uint64_t>(w[5]);
  std::memcpy(&fp.scale, &w[6], sizeof(double));
  return fp;
}

bool CallFingerprint::Matches(const CallFingerprint& o) const {
  return kind == o.kind && seq == o.seq && dtype == o.dtype && reduce_op == o.reduce_op &&
         root == o.root && count == o.count && counts_hash == o.counts_hash && scale == o.scale;
}

std::string CallFingerprint::ToString() const {
  std::vector<std::string> parts;
  if (dtype >= 0 && dtype <= static_cast<int>(DType::kU8)) {
    parts.emplace_back(runtime::ToString(static_cast<DType>(dtype)));
  }
  if (count >= 0) parts.push_back(absl::StrCat("count=", count));
  if (counts_hash != 0) parts.push_back(absl::StrCat("counts#", absl::Hex(counts_hash)));
  if (reduce_op >= 0 && reduce_op <= static_cast<int>(ReduceOp::kAvg)) {
    parts.emplace_back(collectives::ToString(static_cast<ReduceOp>(reduce_op)));
  }
  if (root >= 0) {
    parts.push_back(absl::StrCat(kind == CollectiveKind::kSplit ? "color=" : "root=", root));
  }
  if (kind == CollectiveKind::kAllReducePreMulSum ||
      kind == CollectiveKind::kReduceScatterPreMulSum) {
    parts.push_back(absl::StrCat("scale=", scale));
  }
  return absl::StrCat(collectives::ToString(kind), "(", absl::StrJoin(parts, ", "), ") #", seq);
}

std::unique_ptr<DebugCommunicator> DebugCommunicator::Wrap(std::unique_ptr<Communicator> inner,
                                                           const Options& options) {
  return std::unique_ptr<DebugCommunicator>(new DebugCommunicator(std::move(inner), options));
}

absl::Status DebugCommunicator::Check(CallFingerprint fp, const Tensor* like) {
  fp.seq = seq_.fetch_add(1);
  const absl::Time deadline = absl::Now() + options_.check_timeout;
  const int n = size();
  Device device = Device::Cpu();
  if (like != nullptr && like->defined() && like->device().is_cuda()) {
    device = like->device();
    last_cuda_ordinal_.store(device.index);
  } else if ((like == nullptr || !like->defined()) && !inner_->capabilities().cpu_tensors) {
    device = Device::Cuda(last_cuda_ordinal_.load());
  }
  const std::array<int64_t, kWords> words = fp.ToWords();
  // Built only on failure: the happy path stays cheap.
  auto annotate = [&](const absl::Status& s) {
    return absl::Status(s.code(),
                        absl::StrCat("debug-mode consistency check before ", fp.ToString(), " on '",
                                     backend(), "' rank ", rank(), "/", n, ": ", s.message()));
  };
  absl::StatusOr<Tensor> mine =
      Tensor::FromVector(std::vector<int64_t>(words.begin(), words.end()), {kWords});
  absl::StatusOr<Tensor> all = Tensor::Empty({kWords * n}, DType::kI64, device);
  if (!mine.ok()) return annotate(mine.status());
  if (!all.ok()) return annotate(all.status());
  if (device.is_cuda()) {
    mine = mine->To(device);
    if (!mine.ok()) return annotate(mine.status());
  }
  if (absl::Status s = inner_->AllGather(*mine, *all)->Wait(deadline); !s.ok()) {
    return annotate(s);
  }
  if (device.is_cuda()) {
    all = all->To(Device::Cpu());
    if (!all.ok()) return annotate(all.status());
  }
  const int64_t* table = all->data<int64_t>();
  std::vector<CallFingerprint> fps;
  fps.reserve(n);
  for (int r = 0; r < n; ++r) {
    absl::StatusOr<CallFingerprint> f = CallFingerprint::FromWords(table + kWords * r);
    if (!f.ok()) return annotate(f.status());
    fps.push_back(*f);
  }
  std::vector<int> differ;
  for (int r = 1; r < n; ++r) {
    if (!fps[r].Matches(fps[0])) differ.push_back(r);
  }
  if (differ.empty()) return absl::OkStatus();
  // The same message on every rank: rank 0's call and the first that differs.
  return absl::InvalidArgumentError(absl::StrCat(
      "collective mismatch on '", backend(), "' (debug mode, seen by rank ", rank(), "/", n,
      "): rank 0 posted ", fps[0].ToString(), ", rank ", differ[0], " posted ",
      fps[differ[0]].ToString(), "; ranks differing from rank 0: ", absl::StrJoin(differ, ", "),
      ". Every rank must post the same collectives, with the same dtype, counts and root, in "
      "the same order; the call was not run on any rank"));
}

std::shared_ptr<Work> DebugCommunicator::AllReduce(const Tensor& input, const Tensor& output,
                                                   ReduceOp op) {
  CallFingerprint fp{.kind = CollectiveKind::kAllReduce, .dtype = DTypeOf(input),
                     .reduce_op = static_cast<int>(op), .count = NumelOf(input)};
  if (absl::Status s = Check(fp, &input); !s.ok()) return Failed(s);
  return inner_->AllReduce(input, output, op);
}

std::shared_ptr<Work> DebugCommunicator::ReduceScatter(const Tensor& input, const Tensor& output,
                                                       ReduceOp op) {
  CallFingerprint fp{.kind = CollectiveKind::kReduceScatter, .dtype = DTypeOf(input),
                     .reduce_op = static_cast<int>(op), .count = NumelOf(input)};
  if (absl::Status s = Check(fp, &input); !s.ok()) return Failed(s);
  return inner_->ReduceScatter(input, output, op);
}

std::shared_ptr<Work> DebugCommunicator::AllGather(const Tensor& input, const Tensor& output) {
  CallFingerprint fp{.kind = CollectiveKind::kAllGather, .dtype = DTypeOf(input),
                     .count = NumelOf(input)};
  if (absl::Status s = Check(fp, &input); !s.ok()) return Failed(s);
  return inner_->AllGather(input, output);
}

std::shared_ptr<Work> DebugCommunicator::Broadcast(const Tensor& tensor, int root) {
  CallFingerprint fp{.kind = CollectiveKind::kBroadcast, .dtype = DTypeOf(tensor), .root = root,
                     .count = NumelOf(tensor)};
  if (absl::Status s = Check(fp, &tensor); !s.ok()) return Failed(s);
  return inner_->Broadcast(tensor, root);
}

std::shared_ptr<Work> DebugCommunicator::Reduce(const Tensor& input, const Tensor& output,
                                                ReduceOp op, int root) {
  CallFingerprint fp{.kind = CollectiveKind::kReduce, .dtype = DTypeOf(input),
                     .reduce_op = static_cast<int>(op), .root = root, .count = NumelOf(input)};
  if (absl::Status s = Check(fp, &input); !s.ok()) return Failed(s);
  return inner_->Reduce(input, output, op, root);
}

std::shared_ptr<Work> DebugCommunicator::AllToAll(const Tensor& input, const Tensor& output) {
  CallFingerprint fp{.kind = CollectiveKind::kAllToAll, .dtype = DTypeOf(input),
                     .count = NumelOf(input)};
  if (absl::Status s = Check(fp, &input); !s.ok()) return Failed(s);
  return inner_->AllToAll(input, output);
}

std::shared_ptr<Work> DebugCommunicator::AllToAllV(const Tensor& input,
                                                   absl::Span<const int64_t> send_counts,
                                                   const Tensor& output,
                                                   absl::Span<const int64_t> recv_counts) {
  // Per-rank counts legitimately differ: compare the dtype and the table size.
  CallFingerprint fp{.kind = CollectiveKind::kAllToAllV, .dtype = DTypeOf(input),
                     .count = static_cast<int64_t>(send_counts.size())};
  if (absl::Status s = Check(fp, &input); !s.ok()) return Failed(s);
  return inner_->AllToAllV(input, send_counts, output, recv_counts);
}

std::shared_ptr<Work> DebugCommunicator::AllGatherV(const Tensor& input, const Tensor& output,
                                                    absl::Span<const int64_t> counts) {
  CallFingerprint fp{.kind = CollectiveKind::kAllGatherV, .dtype = DTypeOf(input),
                     .count = NumelOf(output), .counts_hash = HashCounts(counts)};
  if (absl::Status s = Check(fp, &input); !s.ok()) return Failed(s);
  return inner_->AllGatherV(input, output, counts);
}

std::shared_ptr<Work> DebugCommunicator::ReduceScatterV(const Tensor& input, const Tensor& output,
                                                        absl::Span<const int64_t> counts,
                                                        ReduceOp op) {
  CallFingerprint fp{.kind = CollectiveKind::kReduceScatterV, .dtype = DTypeOf(input),
                     .reduce_op = static_cast<int>(op), .count = NumelOf(input),
                     .counts_hash = HashCounts(counts)};
  if (absl::Status s = Check(fp, &input); !s.ok()) return Failed(s);
  return inner_->ReduceScatterV(input, output, counts, op);
}

std::shared_ptr<Work> DebugCommunicator::Gather(const Tensor& input, const Tensor& output,
                                                int root) {
  CallFingerprint fp{.kind = CollectiveKind::kGather, .dtype = DTypeOf(input), .root = root,
                     .count = NumelOf(input)};
  if (absl::Status s = Check(fp, &input); !s.ok()) return Failed(s);
  return inner_->Gather(input, output, root);
}

std::shared_ptr<Work> DebugCommunicator::Scatter(const Tensor& input, const Tensor& output,
                                                 int root) {
  CallFingerprint fp{.kind = CollectiveKind::kScatter, .dtype = DTypeOf(output), .root = root,
                     .count = NumelOf(output)};
  if (absl::Status s = Check(fp, &output); !s.ok()) return Failed(s);
  return inner_->Scatter(input, output, root);
}

std::shared_ptr<Work> DebugCommunicator::AllReducePreMulSum(const Tensor& input,
                                                            const Tensor& output, double scale) {
  CallFingerprint fp{.kind = CollectiveKind::kAllReducePreMulSum, .dtype = DTypeOf(input),
                     .count = NumelOf(input), .scale = scale};
  if (absl::Status s = Check(fp, &input); !s.ok()) return Failed(s);
  return inner_->AllReducePreMulSum(input, output, scale);
}

std::shared_ptr<Work> DebugCommunicator::ReduceScatterPreMulSum(const Tensor& input,
                                                                const Tensor& output,
                                                                double scale) {
  CallFingerprint fp{.kind = CollectiveKind::kReduceScatterPreMulSum, .dtype = DTypeOf(input),
                     .count = NumelOf(input), .scale = scale};
  if (absl::Status s = Check(fp, &input); !s.ok()) return Failed(s);
  return inner_->ReduceScatterPreMulSum(input, output, scale);
}

std::shared_ptr<Work> DebugCommunicator::Send(const Tensor& tensor, int peer, int tag) {
  return inner_->Send(tensor, peer, tag);
}

std::shared_ptr<Work> DebugCommunicator::Recv(const Tensor& tensor, int peer, int tag) {
  return inner_->Recv(tensor, peer, tag);
}

std::shared_ptr<Work> DebugCommunicator::Barrier() {
  if (absl::Status s = Check(CallFingerprint{.kind = CollectiveKind::kBarrier}, nullptr);
      !s.ok()) {
    return Failed(s);
  }
  return inner_->Barrier();
}

absl::StatusOr<std::unique_ptr<Communicator>> DebugCommunicator::Split(int color, int key,
                                                                       absl::Time deadline) {
  // The color differs between groups by design; only the call itself is compared.
  BRAID_RETURN_IF_ERROR(Check(CallFingerprint{.kind = CollectiveKind::kSplit}, nullptr));
  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> sub, inner_->Split(color, key, deadline));
  if (sub == nullptr) return sub;
  return std::unique_ptr<Communicator>(Wrap(std::move(sub), options_));
}

absl::StatusOr<std::unique_ptr<Communicator>> DebugCommunicator::Shrink(
    absl::Span<const int> excluded_ranks, absl::Time deadline) {
  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> sub,
                         inner_->Shrink(excluded_ranks, deadline));
  return std::unique_ptr<Communicator>(Wrap(std::move(sub), options_));
}

void DebugCommunicator::Abort(absl::Status reason) { inner_->Abort(std::move(reason)); }

}  // namespace braid::collectives
