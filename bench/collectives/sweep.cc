#include "bench/collectives/sweep.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace braid::bench {
namespace {

// Fills the inputs with rank + 1 (and the broadcast buffer, which only the
// root's value must survive) and clears the outputs.
void FillBuffers(BenchOp op, int rank, float* in, float* out, const BufferCounts& counts) {
  const float value = static_cast<float>(rank + 1);
  std::fill(in, in + counts.input, value);
  std::fill(out, out + counts.output, op == BenchOp::kBroadcast ? value : 0.0f);
}

absl::Status Expect(BenchOp op, int rank, const float* out, int64_t index, float want) {
  if (out[index] == want) return absl::OkStatus();
  return absl::DataLossError(absl::StrFormat(
      "%s gave a wrong result on rank %d: output[%d] = %g, want %g", ToString(op), rank, index,
      out[index], want));
}

// Checks the first and last element of every chunk the op defines.
absl::Status CheckOutput(BenchOp op, int rank, int n, const float* out,
                         const BufferCounts& counts) {
  const float sum = static_cast<float>(n) * static_cast<float>(n + 1) / 2.0f;
  switch (op) {
    case BenchOp::kAllReduce:
    case BenchOp::kReduceScatter: {
      absl::Status s = Expect(op, rank, out, 0, sum);
      if (s.ok()) s = Expect(op, rank, out, counts.output - 1, sum);
      return s;
    }
    case BenchOp::kBroadcast: {
      absl::Status s = Expect(op, rank, out, 0, 1.0f);
      if (s.ok()) s = Expect(op, rank, out, counts.output - 1, 1.0f);
      return s;
    }
    case BenchOp::kAllGather:
    case BenchOp::kAllToAll: {
      const int64_t chunk = counts.output / n;
      for (int j = 0; j < n; ++j) {
        absl::Status s = Expect(op, rank, out, j * chunk, static_cast<float>(j + 1));
        if (s.ok()) s = Expect(op, rank, out, (j + 1) * chunk - 1, static_cast<float>(j + 1));
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

// 64-byte aligned f32 buffer whose pages are touched before timing.
struct AlignedDelete {
  void operator()(float* p) const { ::operator delete[](p, std::align_val_t(64)); }
};
using Buffer = std::unique_ptr<float[], AlignedDelete>;
Buffer Allocate(int64_t count) {
  float* p = static_cast<float*>(::operator new[](static_cast<size_t>(count) * sizeof(float),
                                                  std::align_val_t(64)));
  std::fill(p, p + count, 0.0f);
  return Buffer(p);
}

}  // namespace

int ItersFor(const SweepOptions& options, int64_t bytes) {
  const int64_t budget = options.iter_budget_bytes / std::max<int64_t>(bytes, 1);
  return static_cast<int>(std::clamp<int64_t>(budget, options.min_iters,
                                              std::max(options.iters, options.min_iters)));
}

int WarmupFor(const SweepOptions& options, int64_t bytes) {
  const int64_t budget = options.iter_budget_bytes / std::max<int64_t>(bytes, 1) / 4;
  return static_cast<int>(std::clamp<int64_t>(budget, std::min(options.warmup, 1),
                                              std::max(options.warmup, 0)));
}

absl::Status RunSweep(BenchGroup& group, const SweepOptions& options,
                      const std::string& result_path) {
  const int rank = group.rank();
  const int n = group.size();
  std::FILE* out_file = nullptr;
  if (rank == 0) {
    out_file = std::fopen(result_path.c_str(), "w");
    if (out_file == nullptr) {
      return absl::InternalError(absl::StrCat("cannot write the result file ", result_path));
    }
  }
  struct Closer {
    std::FILE* f;
    ~Closer() {
      if (f != nullptr) std::fclose(f);
    }
  } closer{out_file};

  int64_t max_elements = 2;
  for (BenchOp op : options.ops) {
    for (int64_t bytes : options.sizes) {
      max_elements = std::max(max_elements, SizeElements(op, bytes, n));
    }
  }
  Buffer in = Allocate(max_elements);
  Buffer out = Allocate(max_elements);

  for (BenchOp op : options.ops) {
    const std::string why = group.Unsupported(op);
    if (!why.empty()) {
      if (out_file != nullptr) std::fprintf(out_file, "skip %s %s\n", ToString(op).data(), why.c_str());
      continue;
    }
    for (int64_t nominal : options.sizes) {
      const int64_t elements = SizeElements(op, nominal, n);
      const int64_t bytes = elements * 4;
      const BufferCounts counts = OpBufferCounts(op, elements, n);
      FillBuffers(op, rank, in.get(), out.get(), counts);
      if (absl::Status s = group.Prepare(op, in.get(), out.get(), elements); !s.ok()) return s;
      for (int i = 0; i < WarmupFor(options, bytes); ++i) {
        if (absl::Status s = group.RunOnce(); !s.ok()) return s;
      }
      const int iters = ItersFor(options, bytes);
      if (absl::Status s = group.Barrier(); !s.ok()) return s;
      const int64_t start = MonotonicNanos();
      for (int i = 0; i < iters; ++i) {
        if (absl::Status s = group.RunOnce(); !s.ok()) return s;
      }
      const double us = static_cast<double>(MonotonicNanos() - start) / 1e3 / iters;
      if (absl::Status s = group.Finish(); !s.ok()) return s;
      if (absl::Status s = CheckOutput(op, rank, n, out.get(), counts); !s.ok()) {
        return absl::DataLossError(absl::StrCat(s.message(), " (", bytes, " bytes)"));
      }
      if (out_file != nullptr) {
        std::fprintf(out_file, "op %s %lld %d %.3f\n", ToString(op).data(),
                     static_cast<long long>(bytes), iters, us);
        std::fflush(out_file);
      }
    }
  }

  if (options.latency_iters > 0) {
    const BufferCounts counts{2, 2};
    FillBuffers(BenchOp::kAllReduce, rank, in.get(), out.get(), counts);
    if (absl::Status s = group.Prepare(BenchOp::kAllReduce, in.get(), out.get(), 2); !s.ok()) {
      return s;
    }
    for (int i = 0; i < 20; ++i) {
      if (absl::Status s = group.RunOnce(); !s.ok()) return s;
    }
    if (absl::Status s = group.Barrier(); !s.ok()) return s;
    std::vector<double> us;
    us.reserve(static_cast<size_t>(options.latency_iters));
    for (int i = 0; i < options.latency_iters; ++i) {
      const int64_t start = MonotonicNanos();
      if (absl::Status s = group.RunOnce(); !s.ok()) return s;
      us.push_back(static_cast<double>(MonotonicNanos() - start) / 1e3);
    }
    if (absl::Status s = group.Finish(); !s.ok()) return s;
    if (absl::Status s = CheckOutput(BenchOp::kAllReduce, rank, n, out.get(), counts); !s.ok()) {
      return s;
    }
    if (out_file != nullptr) {
      std::fprintf(out_file, "lat allreduce 8 %.3f %.3f %d\n", Percentile(us, 50),
                   Percentile(us, 99), options.latency_iters);
    }
  }
  return group.Barrier();
}

absl::StatusOr<SweepResult> ReadSweepResult(const std::string& path) {
  std::ifstream file(path);
  if (!file) return absl::NotFoundError(absl::StrCat("no result file ", path));
  SweepResult result;
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    const auto bad = [&] { return absl::DataLossError(absl::StrCat(path, ": bad line '", line, "'")); };
    if (f[0] == "op" && f.size() == 5) {
      absl::StatusOr<BenchOp> op = ParseBenchOp(f[1]);
      int64_t bytes = 0;
      int iters = 0;
      double us = 0;
      if (!op.ok() || !absl::SimpleAtoi(f[2], &bytes) || !absl::SimpleAtoi(f[3], &iters) ||
          !absl::SimpleAtod(f[4], &us)) {
        return bad();
      }
      result.time_us[{*op, bytes}] = us;
      result.iters[{*op, bytes}] = iters;
    } else if (f[0] == "skip" && f.size() >= 2) {
      absl::StatusOr<BenchOp> op = ParseBenchOp(f[1]);
      if (!op.ok()) return bad();
      result.skipped[*op] = absl::StrJoin(f.begin() + 2, f.end(), " ");
    } else if (f[0] == "lat" && f.size() == 6) {
      if (!absl::SimpleAtod(f[3], &result.latency_p50_us) ||
          !absl::SimpleAtod(f[4], &result.latency_p99_us)) {
        return bad();
      }
    } else {
      return bad();
    }
  }
  return result;
}

}  // namespace braid::bench
