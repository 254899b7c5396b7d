// kernels_bench: how fast the kernels the collectives and models lean on run.
//
// - memcpy at 1, 16, 64 MB: the bandwidth reference.
// - ReduceInto / ReduceTo, f32 and bf16 sum, at the same sizes. Each reports
//   `bytes_per_second` (buffer bytes per second, as memcpy: one buffer's size
//   per call) and `vs_memcpy`: the median memcpy time over the median
//   reduction time, memcpy being timed (same size) right after each
//   reduction, interleaved, so the ratio does not drift with the machine's
//   load. Times are the thread's CPU time. The aim for f32 sum at 64 MB is
//   vs_memcpy >= 0.7.
// - Gemm f32 at 512, 1024, 2048 (and bf16 at 1024): GFLOP/s (2 n^3 per call),
//   over wall-clock time and over the calling thread's CPU time.
//
// Run: OPENBLAS_NUM_THREADS=1 build/<dir>/bench/kernels/kernels_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "kernels/cpu/reduce.h"
#include "kernels/gemm.h"
#include "kernels/reduce.h"
#include "runtime/dtype.h"
#include "runtime/tensor.h"

namespace braid::kernels {
namespace {

using runtime::DType;
using runtime::Tensor;

constexpr int64_t kMiB = 1 << 20;

// Three 64-byte-aligned buffers of `bytes`, filled with small values so sums
// never overflow into special values.
struct Buffers {
  explicit Buffers(int64_t bytes)
      : a(Tensor::Full({bytes / 4}, DType::kF32, 1.0).value()),
        b(Tensor::Full({bytes / 4}, DType::kF32, 0.5).value()),
        dst(Tensor::Full({bytes / 4}, DType::kF32, 0.25).value()) {}
  Tensor a, b, dst;
};

// Seconds of CPU time this thread has used: a benchmark on a shared, loaded
// machine is then not charged for time other processes held the core.
double ThreadSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double Median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

void BM_Memcpy(benchmark::State& state) {
  const int64_t bytes = state.range(0);
  Buffers buf(bytes);
  for (auto _ : state) {
    std::memcpy(buf.dst.raw_data(), buf.a.raw_data(), static_cast<size_t>(bytes));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}

enum class Form { kInto, kTo };

void ReduceBench(benchmark::State& state, Form form, DType dtype) {
  const int64_t bytes = state.range(0);
  const int64_t count = bytes / static_cast<int64_t>(runtime::SizeOf(dtype));
  Buffers buf(bytes);
  if (dtype == DType::kBF16) {
    // 1.0 and 0.5 as bf16 pairs, so values stay finite.
    std::memset(buf.a.raw_data(), 0x3f, static_cast<size_t>(bytes));
    std::memset(buf.b.raw_data(), 0x3e, static_cast<size_t>(bytes));
    std::memset(buf.dst.raw_data(), 0x3d, static_cast<size_t>(bytes));
  }
  auto run = [&] {
    absl::Status s =
        form == Form::kInto
            ? ReduceInto(buf.dst.raw_data(), buf.b.raw_data(), count, dtype, ReduceKind::kSum)
            : ReduceTo(buf.dst.raw_data(), buf.a.raw_data(), buf.b.raw_data(), count, dtype,
                       ReduceKind::kSum);
    if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
    benchmark::ClobberMemory();
  };
  // Each iteration times one reduction, then (outside the timed region) one
  // memcpy of the same size, so both see the same machine state; the ratio
  // of the medians is reported.
  std::vector<double> reduce_s, memcpy_s;
  for (auto _ : state) {
    const double t0 = ThreadSeconds();
    run();
    reduce_s.push_back(ThreadSeconds() - t0);
    state.PauseTiming();
    const double t1 = ThreadSeconds();
    std::memcpy(buf.a.raw_data(), buf.b.raw_data(), static_cast<size_t>(bytes));
    benchmark::ClobberMemory();
    memcpy_s.push_back(ThreadSeconds() - t1);
    if (dtype == DType::kF32 && form == Form::kInto && buf.dst.data<float>()[0] > 1e6f) {
      std::memset(buf.dst.raw_data(), 0, static_cast<size_t>(bytes));  // keep values small
    }
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["vs_memcpy"] = Median(memcpy_s) / Median(reduce_s);
  state.counters["memcpy_GBps"] = static_cast<double>(bytes) / Median(memcpy_s) / 1e9;
  state.SetLabel(cpu::UsesAvx2() ? "avx2" : "baseline");
}

void BM_ReduceInto_F32Sum(benchmark::State& s) { ReduceBench(s, Form::kInto, DType::kF32); }
void BM_ReduceTo_F32Sum(benchmark::State& s) { ReduceBench(s, Form::kTo, DType::kF32); }
void BM_ReduceInto_BF16Sum(benchmark::State& s) { ReduceBench(s, Form::kInto, DType::kBF16); }
void BM_ReduceTo_BF16Sum(benchmark::State& s) { ReduceBench(s, Form::kTo, DType::kBF16); }

void GemmBench(benchmark::State& state, DType dtype) {
  const int64_t n = state.range(0);
  Tensor a = Tensor::Full({n, n}, dtype, 0.5).value();
  Tensor b = Tensor::Full({n, n}, dtype, 0.25).value();
  Tensor c = Tensor::Zeros({n, n}, dtype).value();
  double thread_s = 0;
  for (auto _ : state) {
    const double t0 = ThreadSeconds();
    absl::Status s = Gemm(a, b, c);
    thread_s += ThreadSeconds() - t0;
    if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
  }
  const double flop = 2.0 * static_cast<double>(n) * n * n;
  // Wall-clock rate (the real figure when OpenBLAS runs several threads).
  state.counters["GFLOPs"] =
      benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  // Rate over this thread's CPU time: the single-core figure with
  // OPENBLAS_NUM_THREADS=1, unaffected by other processes on a loaded machine
  // (meaningless with several OpenBLAS threads).
  state.counters["GFLOPs_thread_cpu"] =
      flop * 1e-9 * static_cast<double>(state.iterations()) / thread_s;
}

void BM_Gemm_F32(benchmark::State& s) { GemmBench(s, DType::kF32); }
void BM_Gemm_BF16(benchmark::State& s) { GemmBench(s, DType::kBF16); }

#define BRAID_SIZES ->Arg(1 * kMiB)->Arg(16 * kMiB)->Arg(64 * kMiB)->Unit(benchmark::kMicrosecond)
BENCHMARK(BM_Memcpy) BRAID_SIZES;
BENCHMARK(BM_ReduceInto_F32Sum) BRAID_SIZES;
BENCHMARK(BM_ReduceTo_F32Sum) BRAID_SIZES;
BENCHMARK(BM_ReduceInto_BF16Sum) BRAID_SIZES;
BENCHMARK(BM_ReduceTo_BF16Sum) BRAID_SIZES;
#undef BRAID_SIZES
BENCHMARK(BM_Gemm_F32)
    ->Arg(512)
    ->Arg(1024)
    ->Arg(2048)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Gemm_BF16)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace braid::kernels

BENCHMARK_MAIN();
