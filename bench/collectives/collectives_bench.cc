// collectives_bench: braid's collectives side by side with Open MPI and Gloo
// on the same machine, in the same invocation (docs/benchmarks.md).
//
// The parent hosts a StoreServer and, for every rank count, repeats
// --repeats times a round in which every implementation runs the same sweep
// (sweep.h) once, in an order rotated each round so that none always runs
// first (a single run here moves by +-30%, PERFORMANCE.md). Implementations:
//   tcp   braid's native backend: N ranks by fork+exec of this binary
//   mpi   braid's mpi backend, under mpirun
//   ompi  peer: Open MPI's MPI_Allreduce & co, under mpirun
//   ompi-nb  peer (--peers mpi-nb): Open MPI's MPI_Iallreduce & co, each
//         followed by MPI_Wait: the same post-then-wait contract as braid's
//         Work handles
//   gloo  peer: Gloo's ring all-reduce over TCP loopback, fork+exec
//   nccl  braid's nccl backend: reported as skipped without a GPU
// It prints, per op and rank count, the median time / algbw / busbw of each
// implementation and the MEDIAN over rounds of the per-round ratio
// braid busbw / peer busbw; then the 8-byte all-reduce latency (p50, p99)
// and the aims of the collectives issue. --csv gets every number.
//
//   collectives_bench                                   # all-reduce, 2,4 ranks, 4K..256M
//   collectives_bench --ops allreduce,allgather --ranks 2,4,8 --max-bytes 64M
//   collectives_bench --backend tcp --peers mpi,gloo --repeats 5 --csv out.csv
//
// Worker mode (--worker) is how the parent starts the ranks; not for users.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/collectives/bench_util.h"
#include "bench/collectives/sweep.h"
#include "bench/collectives/workers.h"
#include "elastic/store/store_server.h"

namespace braid::bench {
namespace {

struct Flags {
  std::string ops = "allreduce";
  std::string min_bytes = "4K";
  std::string max_bytes = "256M";
  int step_factor = 4;
  std::vector<int> ranks = {2, 4};
  int iters = 200;
  int min_iters = 3;
  int warmup = 5;
  std::string iter_budget = "128M";
  int latency_iters = 1000;
  std::string backends = "tcp,mpi,nccl";
  std::string peers = "mpi,gloo";
  int repeats = 3;
  std::string csv;
  double run_timeout_s = 600;
  std::string mpirun_args = "--bind-to none";
  std::vector<std::string> tcp_options;  // "key=value" for the tcp backend
  // Worker mode.
  std::string worker;
  int rank = -1;
  int world_size = 0;
  std::string store;
  std::string prefix;
  std::string result;
  std::string gloo_dir;
};

// "4096", "4K", "1M", "2G".
absl::StatusOr<int64_t> ParseBytes(absl::string_view text) {
  int64_t scale = 1;
  if (!text.empty()) {
    const char suffix = text.back();
    if (suffix == 'K' || suffix == 'k') scale = int64_t{1} << 10;
    if (suffix == 'M' || suffix == 'm') scale = int64_t{1} << 20;
    if (suffix == 'G' || suffix == 'g') scale = int64_t{1} << 30;
    if (scale != 1) text.remove_suffix(1);
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad byte count '", text, "' (e.g. 4096, 4K, 1M)"));
  }
  return value * scale;
}

absl::StatusOr<SweepOptions> MakeSweep(const Flags& f) {
  SweepOptions s;
  absl::StatusOr<std::vector<BenchOp>> ops = ParseBenchOps(f.ops);
  if (!ops.ok()) return ops.status();
  s.ops = *ops;
  absl::StatusOr<int64_t> lo = ParseBytes(f.min_bytes);
  absl::StatusOr<int64_t> hi = ParseBytes(f.max_bytes);
  absl::StatusOr<int64_t> budget = ParseBytes(f.iter_budget);
  if (!lo.ok()) return lo.status();
  if (!hi.ok()) return hi.status();
  if (!budget.ok()) return budget.status();
  s.sizes = SizeSweep(*lo, *hi, f.step_factor);
  if (s.sizes.empty()) return absl::InvalidArgumentError("--min-bytes is above --max-bytes");
  s.iters = f.iters;
  s.min_iters = f.min_iters;
  s.warmup = f.warmup;
  s.iter_budget_bytes = *budget;
  s.latency_iters = f.latency_iters;
  return s;
}

int RunWorker(const Flags& f) {
  absl::StatusOr<SweepOptions> sweep = MakeSweep(f);
  if (!sweep.ok()) {
    std::fprintf(stderr, "collectives_bench worker: %s\n", std::string(sweep.status().message()).c_str());
    return 2;
  }
  WorkerArgs args;
  args.rank = f.rank;
  args.world_size = f.world_size;
  args.store_address = f.store;
  args.store_prefix = f.prefix;
  args.result_path = f.result;
  args.gloo_dir = f.gloo_dir;
  args.sweep = *sweep;
  for (const std::string& kv : f.tcp_options) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    args.tcp_options[p.first] = p.second;
  }
  absl::Status s;
  if (f.worker == "tcp") {
    s = RunTcpWorker(args);
  } else if (f.worker == "mpi") {
    s = RunMpiWorker(args, MpiWorker::kBraid);
  } else if (f.worker == "ompi") {
    s = RunMpiWorker(args, MpiWorker::kOmpi);
  } else if (f.worker == "ompi-nb") {
    s = RunMpiWorker(args, MpiWorker::kOmpiNonBlocking);
  } else if (f.worker == "gloo") {
    s = RunGlooWorker(args);
  } else if (f.worker == "nccl") {
    s = RunNcclWorker(args);
  } else {
    s = absl::InvalidArgumentError(absl::StrCat("unknown worker '", f.worker, "'"));
  }
  if (!s.ok()) {
    std::fprintf(stderr, "collectives_bench worker %s rank %d: %s\n", f.worker.c_str(), f.rank,
                 s.ToString().c_str());
    return 1;
  }
  return 0;
}

// ---- Parent -------------------------------------------------------------------

// One implementation under test, as the tables name it.
struct Impl {
  std::string name;  // tcp, mpi, nccl, ompi, gloo
  bool braid = false;
  bool under_mpirun = false;
  std::string skip;  // non-empty: not run, this says why
  int max_ranks = 1 << 30;  // nccl: one GPU per rank
};

std::vector<Impl> SelectImpls(const Flags& f) {
  std::vector<Impl> impls;
  for (absl::string_view b : absl::StrSplit(f.backends, ',', absl::SkipEmpty())) {
    Impl impl{std::string(b), true, b == "mpi", ""};
    if (b == "mpi" && !HaveMpi()) impl.skip = "built without MPI";
    if (b == "nccl") {
      std::string why;
      impl.max_ranks = NcclDeviceCount(&why);
      if (impl.max_ranks == 0) impl.skip = why;
    }
    if (b != "tcp" && b != "mpi" && b != "nccl") impl.skip = "unknown backend";
    impls.push_back(impl);
  }
  for (absl::string_view p : absl::StrSplit(f.peers, ',', absl::SkipEmpty())) {
    if (p == "mpi" || p == "ompi") {
      impls.push_back({"ompi", false, true, HaveMpi() ? "" : "built without MPI"});
    } else if (p == "mpi-nb" || p == "ompi-nb") {
      impls.push_back({"ompi-nb", false, true, HaveMpi() ? "" : "built without MPI"});
    } else if (p == "gloo") {
      impls.push_back({"gloo", false, false, HaveGloo() ? "" : "built without Gloo"});
    } else {
      impls.push_back({std::string(p), false, false, "unknown peer"});
    }
  }
  return impls;
}

std::vector<std::string> SweepArgs(const Flags& f) {
  return {"--ops", f.ops, "--min-bytes", f.min_bytes, "--max-bytes", f.max_bytes,
          "--step-factor", absl::StrCat(f.step_factor), "--iters", absl::StrCat(f.iters),
          "--min-iters", absl::StrCat(f.min_iters), "--warmup", absl::StrCat(f.warmup),
          "--iter-budget", f.iter_budget, "--lat-iters", absl::StrCat(f.latency_iters)};
}

// Runs `impl` once at `ranks` and returns its parsed result.
absl::StatusOr<SweepResult> RunImpl(const Flags& f, const Impl& impl, int ranks, int round,
                                    const std::string& store_address, const std::string& dir) {
  const std::string tag = absl::StrCat(impl.name, "_", ranks, "_", round);
  const std::string result_path = absl::StrCat(dir, "/", tag, ".txt");
  const std::string gloo_dir = absl::StrCat(dir, "/gloo_", tag);
  std::vector<std::string> worker = {SelfExe(), "--worker", impl.name, "--result", result_path,
                                     "--store", store_address, "--prefix",
                                     absl::StrCat("bench/", tag, "/"), "--gloo-dir", gloo_dir};
  for (std::string& a : SweepArgs(f)) worker.push_back(std::move(a));
  for (const std::string& kv : f.tcp_options) worker.push_back(absl::StrCat("--tcp-option=", kv));
  if (impl.name == "gloo") {
    std::error_code ec;
    std::filesystem::create_directories(gloo_dir, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot create ", gloo_dir, ": ", ec.message()));
  }
  ProcessGroup group;
  if (impl.under_mpirun) {
    std::vector<std::string> argv = {MpiexecPath(), "--allow-run-as-root", "--oversubscribe"};
    for (absl::string_view a : absl::StrSplit(f.mpirun_args, ' ', absl::SkipEmpty())) {
      argv.emplace_back(a);
    }
    for (const char* a : {"--mca", "btl", "self,vader", "-np"}) argv.emplace_back(a);
    argv.push_back(absl::StrCat(ranks));
    argv.insert(argv.end(), worker.begin(), worker.end());
    absl::StatusOr<pid_t> pid = group.Spawn(argv);
    if (!pid.ok()) return pid.status();
  } else {
    for (int r = 0; r < ranks; ++r) {
      std::vector<std::string> argv = worker;
      for (std::string a : {std::string("--rank"), absl::StrCat(r), std::string("--world-size"),
                            absl::StrCat(ranks)}) {
        argv.push_back(std::move(a));
      }
      absl::StatusOr<pid_t> pid = group.Spawn(argv);
      if (!pid.ok()) return pid.status();
    }
  }
  std::vector<ProcessGroup::Exit> exits =
      group.WaitAll(absl::Now() + absl::Seconds(f.run_timeout_s));
  if (!AllOk(exits)) {
    return absl::AbortedError(
        absl::StrCat(impl.name, " at ", ranks, " ranks (round ", round, ") failed:\n", Summarize(exits)));
  }
  return ReadSweepResult(result_path);
}

struct Cell {  // one (impl, ranks) over the rounds
  std::vector<bool> ok;
  std::vector<SweepResult> results;
};

// The cell of `name`, or an empty one when it did not run at these ranks.
const Cell& CellOf(const std::map<std::string, Cell>& by_impl, const std::string& name) {
  static const Cell* const kEmpty = new Cell();
  auto it = by_impl.find(name);
  return it == by_impl.end() ? *kEmpty : it->second;
}

double GBps(int64_t bytes, double us) { return us > 0 ? bytes / (us * 1e-6) / 1e9 : 0; }

// The per-round ratio braid/peer of busbw at (op, bytes), median over rounds
// where both succeeded; < 0 when none.
double MedianRatio(const Cell& braid, const Cell& peer, BenchOp op, int64_t bytes) {
  std::vector<double> ratios;
  for (size_t r = 0; r < braid.results.size() && r < peer.results.size(); ++r) {
    if (!braid.ok[r] || !peer.ok[r]) continue;
    auto b = braid.results[r].time_us.find({op, bytes});
    auto p = peer.results[r].time_us.find({op, bytes});
    if (b == braid.results[r].time_us.end() || p == peer.results[r].time_us.end()) continue;
    ratios.push_back(p->second / b->second);  // busbw ratio = inverse time ratio
  }
  return ratios.empty() ? -1 : Median(ratios);
}

double MedianTime(const Cell& cell, BenchOp op, int64_t bytes) {
  std::vector<double> t;
  for (size_t r = 0; r < cell.results.size(); ++r) {
    if (!cell.ok[r]) continue;
    auto it = cell.results[r].time_us.find({op, bytes});
    if (it != cell.results[r].time_us.end()) t.push_back(it->second);
  }
  return t.empty() ? -1 : Median(t);
}

std::string Fmt(double v, const char* format) {
  return v < 0 ? std::string("-") : absl::StrFormat(format, v);
}

int RunParent(const Flags& f) {
  absl::StatusOr<SweepOptions> sweep = MakeSweep(f);
  if (!sweep.ok()) {
    std::fprintf(stderr, "collectives_bench: %s\n", std::string(sweep.status().message()).c_str());
    return 2;
  }
  std::vector<Impl> impls = SelectImpls(f);
  for (const Impl& impl : impls) {
    if (!impl.skip.empty()) std::printf("# %s: skipped: %s\n", impl.name.c_str(), impl.skip.c_str());
  }
  std::fflush(stdout);
  std::vector<Impl> active;
  for (const Impl& impl : impls) {
    if (impl.skip.empty()) active.push_back(impl);
  }
  elastic::StoreServerOptions store_options;
  store_options.allow_no_token = true;
  absl::StatusOr<std::unique_ptr<elastic::StoreServer>> server =
      elastic::StoreServer::Create(store_options);
  if (!server.ok()) {
    std::fprintf(stderr, "collectives_bench: store: %s\n", server.status().ToString().c_str());
    return 1;
  }
  char dir_template[] = "/tmp/braid_collectives_bench.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    std::fprintf(stderr, "collectives_bench: mkdtemp failed\n");
    return 1;
  }
  const std::string dir = dir_template;
  bool all_ok = true;

  // cells[ranks][impl name]
  std::map<int, std::map<std::string, Cell>> cells;
  for (int n : f.ranks) {
    for (int round = 0; round < f.repeats; ++round) {
      for (size_t k = 0; k < active.size(); ++k) {
        const Impl& impl = active[(k + static_cast<size_t>(round)) % active.size()];
        if (n > impl.max_ranks) {
          if (round == 0) {
            std::printf("# %s: skipped at %d ranks: only %d GPUs (one per rank)\n",
                        impl.name.c_str(), n, impl.max_ranks);
            std::fflush(stdout);
          }
          continue;
        }
        const absl::Time start = absl::Now();
        absl::StatusOr<SweepResult> r = RunImpl(f, impl, n, round, (*server)->address(), dir);
        Cell& cell = cells[n][impl.name];
        cell.ok.push_back(r.ok());
        cell.results.push_back(r.ok() ? *r : SweepResult{});
        std::fprintf(stderr, "# ranks %d round %d %-5s %s (%.1f s)\n", n, round, impl.name.c_str(),
                     r.ok() ? "ok" : "FAILED", absl::ToDoubleSeconds(absl::Now() - start));
        if (!r.ok()) {
          all_ok = false;
          std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
        }
      }
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);

  std::vector<std::string> braids, peers;
  for (const Impl& impl : active) (impl.braid ? braids : peers).push_back(impl.name);

  std::string csv =
      "kind,op,ranks,impl,peer,bytes,round,iters,time_us,p99_us,algbw_gbps,busbw_gbps,ratio\n";
  for (const auto& [n, by_impl] : cells) {
    for (BenchOp op : sweep->ops) {
      std::printf("\n# %s, %d ranks: time (us), algbw and busbw (GB/s) are medians of %d "
                  "rounds; ratio = median of per-round busbw ratios braid/peer\n",
                  ToString(op).data(), n, f.repeats);
      std::string header = absl::StrFormat("%10s %11s", "size", "count");
      for (const Impl& impl : active) {
        header += absl::StrFormat(" | %-5s %9s %7s %7s", impl.name, "time", "algbw", "busbw");
      }
      header += " |";
      for (const std::string& b : braids) {
        for (const std::string& p : peers) header += absl::StrFormat(" %9s", b + "/" + p);
      }
      std::printf("%s\n", header.c_str());
      for (int64_t nominal : sweep->sizes) {
        const int64_t bytes = SizeElements(op, nominal, n) * 4;
        std::string line = absl::StrFormat("%10s %11d", FormatBytes(bytes), bytes / 4);
        for (const Impl& impl : active) {
          const Cell& cell = CellOf(by_impl, impl.name);
          const double us = MedianTime(cell, op, bytes);
          const double algbw = us < 0 ? -1 : GBps(bytes, us);
          const double busbw = us < 0 ? -1 : algbw * BusBwFactor(op, n);
          line += absl::StrFormat(" | %-5s %9s %7s %7s", "", Fmt(us, "%.1f"), Fmt(algbw, "%.3f"),
                                  Fmt(busbw, "%.3f"));
          for (size_t r = 0; r < cell.results.size(); ++r) {
            auto it = cell.results[r].time_us.find({op, bytes});
            if (!cell.ok[r] || it == cell.results[r].time_us.end()) continue;
            const double a = GBps(bytes, it->second);
            absl::StrAppendFormat(&csv, "run,%s,%d,%s,,%d,%d,%d,%.3f,,%.4f,%.4f,\n", ToString(op), n,
                                  impl.name, bytes, r, cell.results[r].iters.at({op, bytes}),
                                  it->second, a, a * BusBwFactor(op, n));
          }
          if (us >= 0) {
            absl::StrAppendFormat(&csv, "median,%s,%d,%s,,%d,,,%.3f,,%.4f,%.4f,\n", ToString(op), n,
                                  impl.name, bytes, us, algbw, busbw);
          }
        }
        line += " |";
        for (const std::string& b : braids) {
          for (const std::string& p : peers) {
            const double ratio = MedianRatio(CellOf(by_impl, b), CellOf(by_impl, p), op, bytes);
            line += absl::StrFormat(" %9s", ratio < 0 ? "-" : absl::StrFormat("%.2fx", ratio));
            if (ratio >= 0) {
              absl::StrAppendFormat(&csv, "ratio,%s,%d,%s,%s,%d,,,,,,,%.4f\n", ToString(op), n, b,
                                    p, bytes, ratio);
            }
          }
        }
        std::printf("%s\n", line.c_str());
      }
      for (const Impl& impl : active) {
        const Cell& cell = CellOf(by_impl, impl.name);
        for (size_t r = 0; r < cell.results.size(); ++r) {
          auto it = cell.results[r].skipped.find(op);
          if (cell.ok[r] && it != cell.results[r].skipped.end()) {
            std::printf("# %s: %s skipped: %s\n", impl.name.c_str(), ToString(op).data(),
                        it->second.c_str());
            break;
          }
        }
      }
    }
  }

  if (f.latency_iters > 0) {
    std::printf("\n# 8-byte all-reduce latency (us): medians over rounds of each run's p50 / p99 "
                "(%d single ops per run); ratio = median of per-round p50 ratios braid/peer "
                "(lower is better)\n", f.latency_iters);
    for (const auto& [n, by_impl] : cells) {
      std::string line = absl::StrFormat("ranks %d:", n);
      for (const Impl& impl : active) {
        const Cell& cell = CellOf(by_impl, impl.name);
        std::vector<double> p50, p99;
        for (size_t r = 0; r < cell.results.size(); ++r) {
          if (!cell.ok[r] || cell.results[r].latency_p50_us < 0) continue;
          p50.push_back(cell.results[r].latency_p50_us);
          p99.push_back(cell.results[r].latency_p99_us);
          absl::StrAppendFormat(&csv, "latency,allreduce,%d,%s,,8,%d,%d,%.3f,%.3f,,,\n", n,
                                impl.name, r, f.latency_iters, cell.results[r].latency_p50_us,
                                cell.results[r].latency_p99_us);
        }
        line += absl::StrFormat("  %s p50 %s p99 %s", impl.name, Fmt(p50.empty() ? -1 : Median(p50), "%.1f"),
                                Fmt(p99.empty() ? -1 : Median(p99), "%.1f"));
      }
      for (const std::string& b : braids) {
        for (const char* peer : {"ompi", "ompi-nb"}) {
          std::vector<double> ratios;
          const Cell& bc = CellOf(by_impl, b);
          const Cell& pc = CellOf(by_impl, peer);
          for (size_t r = 0; r < bc.results.size() && r < pc.results.size(); ++r) {
            if (bc.ok[r] && pc.ok[r] && bc.results[r].latency_p50_us > 0 &&
                pc.results[r].latency_p50_us > 0) {
              ratios.push_back(bc.results[r].latency_p50_us / pc.results[r].latency_p50_us);
            }
          }
          if (!ratios.empty()) {
            line += absl::StrFormat("  %s/%s %.2fx", b, peer, Median(ratios));
            absl::StrAppendFormat(&csv, "latency_ratio,allreduce,%d,%s,%s,8,,,,,,,%.4f\n", n, b,
                                  peer, Median(ratios));
          }
        }
      }
      std::printf("%s\n", line.c_str());
    }
  }

  // The aims of the collectives issue, checked on what was measured.
  if (std::find(sweep->ops.begin(), sweep->ops.end(), BenchOp::kAllReduce) != sweep->ops.end()) {
    std::printf("\n# aims (all-reduce, sizes >= 1M): busbw >= 1.0x ompi, >= 3x gloo; "
                "8-byte p50 <= 1.5x ompi\n");
    for (const auto& [n, by_impl] : cells) {
      for (const std::string& b : braids) {
        for (const std::string& p : peers) {
          double worst = -1;
          int64_t worst_bytes = 0;
          for (int64_t nominal : sweep->sizes) {
            const int64_t bytes = SizeElements(BenchOp::kAllReduce, nominal, n) * 4;
            if (bytes < (1 << 20)) continue;
            const double r = MedianRatio(CellOf(by_impl, b), CellOf(by_impl, p), BenchOp::kAllReduce, bytes);
            if (r >= 0 && (worst < 0 || r < worst)) {
              worst = r;
              worst_bytes = bytes;
            }
          }
          if (worst < 0) continue;
          const double aim = p == "gloo" ? 3.0 : 1.0;
          std::printf("ranks %d %s/%s: lowest ratio %.2fx at %s (aim %.1fx): %s\n", n, b.c_str(),
                      p.c_str(), worst, FormatBytes(worst_bytes).c_str(), aim,
                      worst >= aim ? "met" : "missed");
        }
      }
    }
  }

  if (!f.csv.empty()) {
    std::ofstream out(f.csv);
    out << csv;
    if (!out) {
      std::fprintf(stderr, "collectives_bench: cannot write %s\n", f.csv.c_str());
      all_ok = false;
    } else {
      std::printf("\n# wrote %s\n", f.csv.c_str());
    }
  }
  if (!all_ok) std::printf("# some runs FAILED (see stderr)\n");
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace braid::bench

int main(int argc, char** argv) {
  braid::bench::Flags f;
  CLI::App app{"collectives_bench: braid's collectives vs Open MPI and Gloo (docs/benchmarks.md)"};
  app.add_option("--ops", f.ops, "allreduce,reducescatter,allgather,broadcast,alltoall");
  app.add_option("--min-bytes", f.min_bytes, "smallest size (4096, 4K, 1M)");
  app.add_option("--max-bytes", f.max_bytes, "largest size");
  app.add_option("--step-factor", f.step_factor, "size multiplier between steps")
      ->check(CLI::Range(2, 1 << 20));
  app.add_option("--ranks", f.ranks, "rank counts, e.g. 2,4,8")->delimiter(',');
  app.add_option("--iters", f.iters, "timed iterations per size (fewer for large sizes)")
      ->check(CLI::Range(1, 1 << 24));
  app.add_option("--min-iters", f.min_iters, "timed iterations at least")->check(CLI::Range(1, 1 << 20));
  app.add_option("--warmup", f.warmup, "untimed iterations per size")->check(CLI::Range(0, 1 << 20));
  app.add_option("--iter-budget", f.iter_budget,
                 "iterations per size = clamp(budget / size, min-iters, iters)");
  app.add_option("--lat-iters", f.latency_iters, "8-byte all-reduce latency samples (0: none)")
      ->check(CLI::Range(0, 1 << 24));
  app.add_option("--backend", f.backends, "braid backends: tcp,mpi,nccl");
  app.add_option("--peers", f.peers,
                 "peers: mpi (Open MPI, blocking), mpi-nb (Open MPI, non-blocking + MPI_Wait), "
                 "gloo; empty for none");
  app.add_option("--repeats", f.repeats, "interleaved rounds")->check(CLI::Range(1, 1000));
  app.add_option("--csv", f.csv, "write every number to this CSV file");
  app.add_option("--run-timeout", f.run_timeout_s, "seconds one run of one implementation may take");
  app.add_option("--mpirun-args", f.mpirun_args, "extra mpirun arguments");
  app.add_option("--tcp-option", f.tcp_options,
                 "key=value for the tcp backend (collectives/tcp/tcp_options.h); repeatable");
  app.add_option("--worker", f.worker, "(internal) run as a rank: tcp, mpi, ompi, ompi-nb, gloo");
  app.add_option("--rank", f.rank, "(internal)");
  app.add_option("--world-size", f.world_size, "(internal)");
  app.add_option("--store", f.store, "(internal)");
  app.add_option("--prefix", f.prefix, "(internal)");
  app.add_option("--result", f.result, "(internal)");
  app.add_option("--gloo-dir", f.gloo_dir, "(internal)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!f.worker.empty()) return braid::bench::RunWorker(f);
  return braid::bench::RunParent(f);
}
