// fault_bench: how fast braid's tcp backend turns a dead peer into an error,
// how fast the survivors Shrink to a working communicator, and how fast
// Abort() from another thread releases a waiting operation
// (docs/benchmarks.md).
//
// Kill trials (--ranks 4,8, --trials 20): the parent hosts a StoreServer
// and starts N ranks (fork+exec of this binary). Every rank loops blocking
// all-reduces of --bytes; after a few it reports "ready". The parent waits
// for all, lets a pseudo-random 0-20 ms pass (fixed seed) so the kill lands
// at any phase of an all-reduce, takes CLOCK_MONOTONIC and kill -9's the
// victim (rank t mod N in trial t, so every position dies). Each survivor
// takes CLOCK_MONOTONIC when its Work completes with an error, checks it is
// kAborted (kFailedPrecondition when the death was noticed between two
// operations, so the next post failed at once) naming the victim, times
// Shrink({victim}) and then verifies an all-reduce on the shrunk
// communicator. Detection = survivor's error time - kill time.
// Abort trials (--abort-trials, --abort-ranks ranks): rank 0 posts an
// all-reduce the others never join; a second thread takes the time and
// calls Abort(); latency = when Wait returned kAborted - that time.
//
//   fault_bench                                 # 4 and 8 ranks, 20 trials each
//   fault_bench --ranks 3 --trials 2 --abort-trials 3     # smoke
//
// Exit 1 if any trial went wrong (a survivor saw no error, the wrong code, a
// failed Shrink or a wrong all-reduce afterwards, a hang past the timeout).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/collectives/bench_util.h"
#include "collectives/factory.h"
#include "collectives/status_payload.h"
#include "collectives/tcp/tcp_backend.h"
#include "elastic/store/store_client.h"
#include "elastic/store/store_server.h"
#include "runtime/tensor.h"

namespace braid::bench {
namespace {

using collectives::Communicator;
using collectives::ReduceOp;
using runtime::DType;
using runtime::Tensor;

struct Flags {
  std::vector<int> ranks = {4, 8};
  int trials = 20;
  int abort_trials = 20;
  int abort_ranks = 2;
  int64_t bytes = 1 << 20;
  double trial_timeout_s = 60;
  std::string csv;
  // Worker mode.
  std::string worker;  // "kill" or "abort"
  int rank = -1;
  int world_size = 0;
  int victim = -1;
  std::string store;
  std::string prefix;
};

const absl::Duration kWait = absl::Seconds(60);

absl::StatusOr<std::unique_ptr<elastic::StoreClient>> ConnectStore(const std::string& address) {
  elastic::StoreClientOptions o;
  o.address = address;
  return elastic::StoreClient::Create(o);
}

absl::StatusOr<std::unique_ptr<Communicator>> MakeComm(runtime::Store* store, int rank, int size,
                                                       const std::string& prefix) {
  collectives::CommunicatorFactory factory;
  if (absl::Status s = collectives::tcp::RegisterTcpBackend(factory); !s.ok()) return s;
  collectives::CommunicatorOptions o;
  o.rank = rank;
  o.size = size;
  o.store = store;
  o.store_prefix = prefix;
  o.connect_timeout = absl::Seconds(60);
  o.op_timeout = absl::Seconds(60);
  o.backend_options["host"] = "127.0.0.1";
  return factory.Create("tcp", o);
}

// ---- Workers ------------------------------------------------------------------

absl::Status KillWorker(const Flags& f) {
  absl::StatusOr<std::unique_ptr<elastic::StoreClient>> store = ConnectStore(f.store);
  if (!store.ok()) return store.status();
  runtime::Store& s = **store;
  absl::StatusOr<std::unique_ptr<Communicator>> comm =
      MakeComm(&s, f.rank, f.world_size, f.prefix + "comm/");
  if (!comm.ok()) return comm.status();
  absl::StatusOr<Tensor> in = Tensor::Full({std::max<int64_t>(f.bytes / 4, 1)}, DType::kF32, 1.0);
  absl::StatusOr<Tensor> out = Tensor::Zeros({std::max<int64_t>(f.bytes / 4, 1)}, DType::kF32);
  if (!in.ok()) return in.status();
  if (!out.ok()) return out.status();
  absl::Status failed;
  const absl::Time give_up = absl::Now() + absl::Seconds(f.trial_timeout_s);
  for (int i = 0; failed.ok(); ++i) {
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError("no error seen: the victim's death went unnoticed");
    }
    failed = (*comm)->AllReduce(*in, *out, ReduceOp::kSum)->Wait(absl::Now() + kWait);
    if (failed.ok() && i == 3) {
      if (absl::Status st = s.Set(absl::StrCat(f.prefix, "ready/", f.rank), "1", absl::Now() + kWait);
          !st.ok()) {
        return absl::Status(st.code(), absl::StrCat("store Set ready: ", st.ToString()));
      }
    }
  }
  const int64_t error_ns = MonotonicNanos();
  if (absl::Status st = s.Set(absl::StrCat(f.prefix, "err/", f.rank),
                              absl::StrCat(error_ns, " ", absl::StatusCodeToString(failed.code())),
                              absl::Now() + kWait);
      !st.ok()) {
    return absl::Status(st.code(), absl::StrCat("store Set err: ", st.ToString()));
  }
  // kAborted when the death broke the op in flight; kFailedPrecondition when
  // it was noticed between two ops (the next post then fails at once). Both
  // must name the victim.
  if (!absl::IsAborted(failed) && !absl::IsFailedPrecondition(failed)) {
    return absl::InternalError(
        absl::StrCat("expected kAborted or kFailedPrecondition, got ", failed.ToString()));
  }
  if (collectives::FailedRanks(failed) != std::vector<int>{f.victim}) {
    return absl::InternalError(
        absl::StrCat("the error does not name the victim rank ", f.victim, ": ", failed.ToString()));
  }
  const int victims[] = {f.victim};
  const int64_t shrink_start = MonotonicNanos();
  absl::StatusOr<std::unique_ptr<Communicator>> shrunk = (*comm)->Shrink(victims, absl::Now() + kWait);
  const int64_t shrink_ns = MonotonicNanos() - shrink_start;
  if (!shrunk.ok()) {
    return absl::Status(shrunk.status().code(), absl::StrCat("Shrink: ", shrunk.status().ToString()));
  }
  absl::StatusOr<Tensor> v = Tensor::Full({1001}, DType::kI64, static_cast<double>(f.rank));
  if (!v.ok()) return v.status();
  absl::Status verify = (*shrunk)->AllReduce(*v, *v, ReduceOp::kSum)->Wait(absl::Now() + kWait);
  const int64_t verify_ns = MonotonicNanos() - shrink_start - shrink_ns;
  const int n = f.world_size;
  const int64_t want = int64_t{n} * (n - 1) / 2 - f.victim;
  if (verify.ok() && v->data<int64_t>()[1000] != want) {
    verify = absl::DataLossError(absl::StrCat("all-reduce after Shrink gave ",
                                              v->data<int64_t>()[1000], ", want ", want));
  }
  if (absl::Status st = s.Set(absl::StrCat(f.prefix, "shrink/", f.rank),
                              absl::StrCat(shrink_ns, " ", verify_ns), absl::Now() + kWait);
      !st.ok()) {
    return absl::Status(st.code(), absl::StrCat("store Set shrink: ", st.ToString()));
  }
  if (!verify.ok()) {
    return absl::Status(verify.code(), absl::StrCat("all-reduce after Shrink: ", verify.ToString()));
  }
  return verify;
}

absl::Status AbortWorker(const Flags& f) {
  absl::StatusOr<std::unique_ptr<elastic::StoreClient>> store = ConnectStore(f.store);
  if (!store.ok()) return store.status();
  runtime::Store& s = **store;
  std::string latencies;
  for (int trial = 0; trial < f.trials; ++trial) {
    const std::string prefix = absl::StrCat(f.prefix, trial, "/");
    absl::StatusOr<std::unique_ptr<Communicator>> comm =
        MakeComm(&s, f.rank, f.world_size, prefix + "comm/");
    if (!comm.ok()) return comm.status();
    if (f.rank != 0) {
      // Never joins rank 0's all-reduce; waits until rank 0 has aborted it.
      if (absl::Status st = s.Wait({prefix + "done"}, absl::Now() + kWait); !st.ok()) return st;
      continue;
    }
    absl::StatusOr<Tensor> t = Tensor::Full({1024}, DType::kF32, 1.0);
    if (!t.ok()) return t.status();
    std::shared_ptr<collectives::Work> work = (*comm)->AllReduce(*t, *t, ReduceOp::kSum);
    int64_t abort_ns = 0;
    Communicator* c = comm->get();
    std::thread aborter([c, &abort_ns] {
      // Lets the all-reduce get under way; not synchronisation.
      absl::SleepFor(absl::Milliseconds(10));
      abort_ns = MonotonicNanos();
      c->Abort(absl::AbortedError("fault_bench: Abort() latency trial"));
    });
    pthread_setname_np(aborter.native_handle(), "fault-bench-abrt");
    absl::Status st = work->Wait(absl::Now() + kWait);
    const int64_t done_ns = MonotonicNanos();
    aborter.join();
    if (!absl::IsAborted(st)) {
      return absl::InternalError(absl::StrCat("Abort() trial ", trial, ": expected kAborted, got ",
                                              st.ToString()));
    }
    absl::StrAppend(&latencies, latencies.empty() ? "" : " ", done_ns - abort_ns);
    if (absl::Status d = s.Set(prefix + "done", "1", absl::Now() + kWait); !d.ok()) return d;
  }
  if (f.rank == 0) return s.Set(f.prefix + "latencies", latencies, absl::Now() + kWait);
  return absl::OkStatus();
}

int RunWorker(const Flags& f) {
  absl::Status s = f.worker == "kill"    ? KillWorker(f)
                   : f.worker == "abort" ? AbortWorker(f)
                                         : absl::InvalidArgumentError("unknown worker");
  if (!s.ok()) {
    std::fprintf(stderr, "fault_bench %s rank %d: %s\n", f.worker.c_str(), f.rank,
                 s.ToString().c_str());
    return 1;
  }
  return 0;
}

// ---- Parent -------------------------------------------------------------------

std::vector<std::string> WorkerArgv(const Flags& f, const std::string& worker, int rank, int n,
                                    const std::string& store, const std::string& prefix) {
  return {SelfExe(), "--worker", worker, "--rank", absl::StrCat(rank), "--world-size",
          absl::StrCat(n), "--store", store, "--prefix", prefix,
          absl::StrCat("--victim=", f.victim), "--bytes", absl::StrCat(f.bytes), "--trials",
          absl::StrCat(f.trials), "--trial-timeout", absl::StrCat(f.trial_timeout_s)};
}

struct KillStats {
  std::vector<double> detect_ms;        // every survivor of every trial
  std::vector<double> detect_worst_ms;  // the slowest survivor per trial
  std::vector<double> shrink_ms;
  std::vector<double> verify_ms;
  int trials_ok = 0;
  int trials = 0;
  std::map<std::string, int> codes;  // the survivors' error codes
};

std::string Pct(const std::vector<double>& v) {
  if (v.empty()) return "p50 - p99 - (no samples)";
  return absl::StrFormat("p50 %.2f p99 %.2f max %.2f (%d samples)", Percentile(v, 50),
                         Percentile(v, 99), Percentile(v, 100), v.size());
}

// One kill trial at `n` ranks; adds to `stats`; false if it went wrong.
bool KillTrial(const Flags& f, int n, int trial, elastic::StoreServer& server,
               runtime::Store& store, KillStats& stats) {
  Flags wf = f;
  wf.victim = trial % n;
  const std::string prefix = absl::StrCat("fault/kill/", n, "/", trial, "/");
  ProcessGroup group;
  for (int r = 0; r < n; ++r) {
    absl::StatusOr<pid_t> pid = group.Spawn(WorkerArgv(wf, "kill", r, n, server.address(), prefix));
    if (!pid.ok()) {
      std::fprintf(stderr, "%s\n", pid.status().ToString().c_str());
      return false;
    }
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(f.trial_timeout_s);
  std::vector<std::string> ready;
  for (int r = 0; r < n; ++r) ready.push_back(absl::StrCat(prefix, "ready/", r));
  if (absl::Status s = store.Wait(ready, deadline); !s.ok()) {
    std::fprintf(stderr, "kill trial %d at %d ranks: ranks not ready: %s\n%s", trial, n,
                 s.ToString().c_str(), Summarize(group.WaitAll(absl::Now())).c_str());
    return false;
  }
  std::mt19937 rng(static_cast<uint32_t>(1000 * n + trial));
  absl::SleepFor(absl::Microseconds(std::uniform_int_distribution<int>(0, 20000)(rng)));
  const int64_t kill_ns = MonotonicNanos();
  group.Kill(group.pids()[static_cast<size_t>(wf.victim)]);
  std::vector<ProcessGroup::Exit> exits = group.WaitAll(deadline);
  bool ok = true;
  std::vector<double> detect;
  for (int r = 0; r < n; ++r) {
    const ProcessGroup::Exit& e = exits[static_cast<size_t>(r)];
    if (r == wf.victim) {
      if (e.signal != SIGKILL) ok = false;
      continue;
    }
    if (!e.ok()) ok = false;
    absl::StatusOr<std::string> err = store.Get(absl::StrCat(prefix, "err/", r), absl::Now() + kWait);
    absl::StatusOr<std::string> shrink =
        store.Get(absl::StrCat(prefix, "shrink/", r), absl::Now() + kWait);
    if (!err.ok() || !shrink.ok()) {
      ok = false;
      continue;
    }
    std::vector<std::string> ef = absl::StrSplit(*err, ' ');
    std::vector<std::string> sf = absl::StrSplit(*shrink, ' ');
    int64_t err_ns = 0, shrink_ns = 0, verify_ns = 0;
    if (ef.size() != 2 || sf.size() != 2 || !absl::SimpleAtoi(ef[0], &err_ns) ||
        !absl::SimpleAtoi(sf[0], &shrink_ns) || !absl::SimpleAtoi(sf[1], &verify_ns)) {
      ok = false;
      continue;
    }
    ++stats.codes[ef[1]];
    detect.push_back(static_cast<double>(err_ns - kill_ns) / 1e6);
    stats.shrink_ms.push_back(static_cast<double>(shrink_ns) / 1e6);
    stats.verify_ms.push_back(static_cast<double>(verify_ns) / 1e6);
  }
  if (!ok) {
    std::fprintf(stderr, "kill trial %d at %d ranks (victim %d) went wrong:\n%s", trial, n,
                 wf.victim, Summarize(exits).c_str());
  }
  stats.detect_ms.insert(stats.detect_ms.end(), detect.begin(), detect.end());
  if (!detect.empty()) stats.detect_worst_ms.push_back(Percentile(detect, 100));
  return ok;
}

absl::StatusOr<std::vector<double>> AbortTrials(const Flags& f, elastic::StoreServer& server,
                                                runtime::Store& store) {
  Flags wf = f;
  wf.trials = f.abort_trials;
  const std::string prefix = "fault/abort/";
  ProcessGroup group;
  for (int r = 0; r < f.abort_ranks; ++r) {
    absl::StatusOr<pid_t> pid =
        group.Spawn(WorkerArgv(wf, "abort", r, f.abort_ranks, server.address(), prefix));
    if (!pid.ok()) return pid.status();
  }
  std::vector<ProcessGroup::Exit> exits =
      group.WaitAll(absl::Now() + absl::Seconds(f.trial_timeout_s * 2));
  if (!AllOk(exits)) return absl::AbortedError(absl::StrCat("abort workers failed:\n", Summarize(exits)));
  absl::StatusOr<std::string> text = store.Get(prefix + "latencies", absl::Now() + kWait);
  if (!text.ok()) return text.status();
  std::vector<double> ms;
  for (absl::string_view v : absl::StrSplit(*text, ' ', absl::SkipEmpty())) {
    int64_t ns = 0;
    if (!absl::SimpleAtoi(v, &ns)) return absl::DataLossError("bad abort latency");
    ms.push_back(static_cast<double>(ns) / 1e6);
  }
  return ms;
}

int RunParent(const Flags& f) {
  elastic::StoreServerOptions so;
  so.allow_no_token = true;
  absl::StatusOr<std::unique_ptr<elastic::StoreServer>> server = elastic::StoreServer::Create(so);
  if (!server.ok()) {
    std::fprintf(stderr, "fault_bench: store: %s\n", server.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<elastic::StoreClient>> store = ConnectStore((*server)->address());
  if (!store.ok()) {
    std::fprintf(stderr, "fault_bench: store client: %s\n", store.status().ToString().c_str());
    return 1;
  }
  bool all_ok = true;
  std::string csv = "kind,ranks,trials_ok,trials,p50_ms,p99_ms,max_ms,samples\n";
  const auto csv_row = [&csv](absl::string_view kind, int n, int ok, int trials,
                              const std::vector<double>& v) {
    absl::StrAppendFormat(&csv, "%s,%d,%d,%d,%.3f,%.3f,%.3f,%d\n", kind, n, ok, trials,
                          Percentile(v, 50), Percentile(v, 99), Percentile(v, 100), v.size());
  };
  std::printf("# fault_bench: tcp backend, all-reduce loop of %s per rank, %d trials per rank "
              "count, victim = rank (trial mod N); times in ms\n",
              FormatBytes(f.bytes).c_str(), f.trials);
  for (int n : f.ranks) {
    KillStats stats;
    for (int t = 0; t < f.trials; ++t) {
      ++stats.trials;
      if (KillTrial(f, n, t, **server, **store, stats)) {
        ++stats.trials_ok;
      } else {
        all_ok = false;
      }
    }
    std::printf("ranks %d: %d/%d trials ok\n", n, stats.trials_ok, stats.trials);
    std::string codes;
    for (const auto& [code, count] : stats.codes) absl::StrAppend(&codes, " ", code, " x", count);
    std::printf("  survivors' errors:%s\n", codes.c_str());
    std::printf("  kill -9 -> error, every survivor    : %s\n", Pct(stats.detect_ms).c_str());
    std::printf("  kill -9 -> error, slowest/trial     : %s\n", Pct(stats.detect_worst_ms).c_str());
    std::printf("  Shrink (call -> return)             : %s\n", Pct(stats.shrink_ms).c_str());
    std::printf("  first all-reduce after Shrink (ok)  : %s\n", Pct(stats.verify_ms).c_str());
    csv_row("detect", n, stats.trials_ok, stats.trials, stats.detect_ms);
    csv_row("detect_slowest", n, stats.trials_ok, stats.trials, stats.detect_worst_ms);
    csv_row("shrink", n, stats.trials_ok, stats.trials, stats.shrink_ms);
    csv_row("verify_allreduce", n, stats.trials_ok, stats.trials, stats.verify_ms);
  }
  if (f.abort_trials > 0) {
    absl::StatusOr<std::vector<double>> ms = AbortTrials(f, **server, **store);
    if (!ms.ok()) {
      all_ok = false;
      std::fprintf(stderr, "%s\n", ms.status().ToString().c_str());
    } else {
      std::printf("Abort() from another thread -> Wait returns kAborted, %d ranks: %s\n",
                  f.abort_ranks, Pct(*ms).c_str());
      csv_row("abort", f.abort_ranks, static_cast<int>(ms->size()), f.abort_trials, *ms);
    }
  }
  if (!f.csv.empty()) {
    std::ofstream out(f.csv);
    out << csv;
    if (!out) all_ok = false;
  }
  if (!all_ok) std::printf("# some trials FAILED (see stderr)\n");
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace braid::bench

int main(int argc, char** argv) {
  braid::bench::Flags f;
  CLI::App app{"fault_bench: kill -9 detection, Shrink and Abort() latency (docs/benchmarks.md)"};
  app.add_option("--ranks", f.ranks, "rank counts for the kill trials")->delimiter(',');
  app.add_option("--trials", f.trials, "kill trials per rank count")->check(CLI::Range(0, 10000));
  app.add_option("--abort-trials", f.abort_trials, "Abort() trials (0: none)")
      ->check(CLI::Range(0, 10000));
  app.add_option("--abort-ranks", f.abort_ranks, "ranks of the Abort() trials")
      ->check(CLI::Range(2, 64));
  app.add_option("--bytes", f.bytes, "all-reduce size of the loop being killed")
      ->check(CLI::Range(int64_t{4}, int64_t{1} << 30));
  app.add_option("--trial-timeout", f.trial_timeout_s, "seconds one trial may take");
  app.add_option("--csv", f.csv, "write the percentiles to this CSV file");
  app.add_option("--worker", f.worker, "(internal) kill or abort");
  app.add_option("--rank", f.rank, "(internal)");
  app.add_option("--world-size", f.world_size, "(internal)");
  app.add_option("--victim", f.victim, "(internal)");
  app.add_option("--store", f.store, "(internal)");
  app.add_option("--prefix", f.prefix, "(internal)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!f.worker.empty()) return braid::bench::RunWorker(f);
  return braid::bench::RunParent(f);
}
