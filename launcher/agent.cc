#include "launcher/agent.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "launcher/failure_report.h"
#include "launcher/job_store.h"
#include "launcher/output.h"
#include "launcher/trace_merge.h"
#include "launcher/worker_group.h"
#include "runtime/status_macros.h"

namespace braid::launcher {
namespace {

// Longest single Join call; between calls the agent checks for signals.
constexpr absl::Duration kJoinSlice = absl::Milliseconds(500);
// Longest time the store host waits for the other nodes after its own
// workers succeeded (torchrun's exit barrier is 300 s).
constexpr absl::Duration kExitBarrier = absl::Seconds(300);

std::string HostName() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

bool HasVar(const std::vector<std::string>& env, absl::string_view name) {
  const std::string prefix = absl::StrCat(name, "=");
  for (const std::string& kv : env) {
    if (absl::StartsWith(kv, prefix)) return true;
  }
  return false;
}

// The value of `name` in `env`, or "".
std::string VarValue(const std::vector<std::string>& env, absl::string_view name) {
  const std::string prefix = absl::StrCat(name, "=");
  for (const std::string& kv : env) {
    if (absl::StartsWith(kv, prefix)) return kv.substr(prefix.size());
  }
  return "";
}

// Lines of output the failure report shows of the root cause.
constexpr size_t kTailLines = 20;

class AgentRun {
 public:
  explicit AgentRun(const AgentOptions& options) : o_(options), c_(options.config) {}
  int Run();
  // After Run: merges the ranks' traces (BRAID_TRACE) and removes the
  // temporary run folder.
  void Finish();

 private:
  void Say(absl::string_view message) {
    const std::string line = absl::StrCat("braidrun: ", message, "\n");
    if (output_ != nullptr) {
      output_->WriteDirect(o_.stderr_fd, line);
    } else {
      ssize_t ignored = ::write(o_.stderr_fd, line.data(), line.size());
      (void)ignored;
    }
  }
  int Fail(absl::string_view what, const absl::Status& status) {
    Say(absl::StrCat("error: ", what, ": ", status.ToString()));
    return 1;
  }
  // Waits up to `timeout` for a stop signal; returns it, or 0.
  int WaitForSignal(absl::Duration timeout);
  absl::Status JoinRound(int* signal);
  absl::Status StartWorker(int local_rank);
  int StopAndLeave(int signal);
  // Sets up run_dir_: LOG_DIR/RUN_ID, else a new temporary folder.
  absl::Status MakeRunDir();
  // " (INTERNAL: what the worker recorded)" or "".
  std::string RecordedError(int local_rank) const;
  void DrainAll(absl::Duration timeout);
  // Exit barrier of the store host: keeps the store up until the other nodes
  // are done or gone (bounded by kExitBarrier, interruptible by a signal).
  void WaitForOtherNodes();

  const AgentOptions& o_;
  const LaunchConfig& c_;
  std::unique_ptr<OutputForwarder> output_;
  std::string token_;
  JobStore js_;
  std::unique_ptr<elastic::Rendezvous> rdzv_;
  std::unique_ptr<WorkerGroup> workers_;
  elastic::RoundResult round_;
  int restarts_ = 0;
  std::string run_dir_;
  bool run_dir_is_temporary_ = false;
};

absl::Status AgentRun::MakeRunDir() {
  if (!c_.log_dir.empty()) {
    run_dir_ = absl::StrCat(c_.log_dir, "/", c_.rdzv_id);
    return absl::OkStatus();
  }
  std::string tmp = VarValue(o_.environment, "TMPDIR");
  if (tmp.empty()) tmp = "/tmp";
  std::string pattern = absl::StrCat(tmp, "/braidrun-", c_.rdzv_id, "-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot create a run folder like '", pattern,
                                                   "': ", std::strerror(errno),
                                                   "; set TMPDIR or --log-dir"));
  }
  run_dir_ = pattern;
  run_dir_is_temporary_ = true;
  return absl::OkStatus();
}

std::string AgentRun::RecordedError(int local_rank) const {
  std::optional<runtime::ErrorRecord> e = workers_->ReadError(local_rank);
  if (!e.has_value()) return "";
  std::string summary = e->Summary();
  if (summary.size() > 200) summary = absl::StrCat(summary.substr(0, 197), "...");
  return absl::StrCat(" (", summary, ")");
}

void AgentRun::Finish() {
  const std::string trace_dir = VarValue(o_.environment, "BRAID_TRACE");
  if (!trace_dir.empty() && workers_ != nullptr && !workers_->workers().empty()) {
    absl::StatusOr<TraceMergeResult> merged = MergeTraces(trace_dir);
    if (!merged.ok()) {
      Say(absl::StrCat("warning: cannot merge the ranks' traces: ", merged.status().ToString()));
    } else {
      for (const std::string& skipped : merged->skipped) {
        Say(absl::StrCat("warning: trace merge skipped ", skipped));
      }
      if (!merged->path.empty()) {
        Say(absl::StrCat("merged the traces of ", merged->ranks.size(), " rank(s) into ",
                         merged->path, " (open it in https://ui.perfetto.dev)"));
      }
    }
  }
  if (run_dir_is_temporary_) {
    std::error_code ec;
    std::filesystem::remove_all(run_dir_, ec);
  }
}

int AgentRun::WaitForSignal(absl::Duration timeout) {
  const int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
  if (o_.signal_fd < 0) {
    ::poll(nullptr, 0, ms);
    return 0;
  }
  pollfd pfd = {o_.signal_fd, POLLIN, 0};
  if (::poll(&pfd, 1, ms) <= 0) return 0;
  unsigned char sig = 0;
  if (::read(o_.signal_fd, &sig, 1) != 1) return 0;
  return sig;
}

absl::Status AgentRun::JoinRound(int* signal) {
  const absl::Time deadline = absl::Now() + c_.rdzv_timeout;
  for (;;) {
    const absl::Time slice = std::min(deadline, absl::Now() + kJoinSlice);
    absl::StatusOr<elastic::RoundResult> r = rdzv_->Join(slice);
    if (r.ok()) {
      round_ = *r;
      return absl::OkStatus();
    }
    if (!absl::IsDeadlineExceeded(r.status()) || absl::Now() >= deadline) return r.status();
    if ((*signal = WaitForSignal(absl::ZeroDuration())) != 0) return absl::OkStatus();
  }
}

absl::Status AgentRun::StartWorker(int local_rank) {
  WorkerEnvInput in;
  in.base = o_.environment;
  in.round = round_;
  in.local_rank = local_rank;
  in.restart_count = restarts_;
  in.max_restarts = c_.max_restarts;
  in.run_id = c_.rdzv_id;
  in.store_address = js_.worker_address;
  in.job_token = token_;
  in.membership_key = rdzv_->membership_key();
  if (c_.rdzv_backend == RdzvBackend::kStatic) in.master_addr = c_.master_addr;
  const int global_rank = round_.first_global_rank(round_.node_rank) + local_rank;
  return workers_->Start(local_rank, global_rank, restarts_, WorkerEnv(in));
}

void AgentRun::DrainAll(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (const auto& [local_rank, w] : workers_->workers()) workers_->DrainOutput(local_rank, deadline);
}

void AgentRun::WaitForOtherNodes() {
  const absl::Time deadline = absl::Now() + kExitBarrier;
  bool said = false;
  while (absl::Now() < deadline) {
    absl::StatusOr<bool> done = rdzv_->AllDone(deadline);
    if (!done.ok() || *done) return;
    if (!said) {
      Say("workers done; keeping the job store up until the other nodes finish");
      said = true;
    }
    if (WaitForSignal(c_.monitor_interval) != 0) return;
  }
  Say(absl::StrCat("other nodes still running after ", absl::FormatDuration(kExitBarrier),
                   "; closing the job store"));
}

int AgentRun::StopAndLeave(int signal) {
  Say(absl::StrCat("got signal ", signal, " (", strsignal(signal),
                   "); stopping workers (SIGKILL after ", absl::FormatDuration(c_.stop_timeout),
                   ")"));
  absl::Status s = workers_->StopAll(signal, c_.stop_timeout);
  if (!s.ok()) Say(s.ToString());
  DrainAll(absl::Seconds(2));
  (void)rdzv_->Leave(absl::Now() + c_.rdzv_close_timeout);
  return 128 + signal;
}

int AgentRun::Run() {
  OutputForwarder::Options output_options;
  output_options.tail_lines = kTailLines;
  auto output = OutputForwarder::Create(output_options);
  if (!output.ok()) return Fail("cannot forward worker output", output.status());
  output_ = std::move(*output);

  absl::StatusOr<std::string> token = ResolveJobToken(c_);
  if (!token.ok()) return Fail("job token", token.status());
  token_ = *token;
  absl::StatusOr<JobStore> js = OpenJobStore(c_, token_, c_.rdzv_timeout);
  if (!js.ok()) {
    return Fail(absl::StrCat("cannot open the ", ToString(c_.rdzv_backend), " rendezvous store"),
                js.status());
  }
  js_ = std::move(*js);
  if (js_.server != nullptr) Say(absl::StrCat("hosting the job store at ", js_.worker_address));
  if (c_.nproc_per_node > 1 &&
      (!HasVar(o_.environment, "OMP_NUM_THREADS") || !HasVar(o_.environment, "OPENBLAS_NUM_THREADS"))) {
    Say("setting OMP_NUM_THREADS=1 and OPENBLAS_NUM_THREADS=1 for each worker (unless already "
        "set); set them yourself to tune");
  }

  elastic::RendezvousOptions ro;
  ro.store = js_.store.get();
  ro.run_id = c_.rdzv_id;
  ro.key_prefix = js_.key_prefix;
  ro.min_nodes = c_.min_nodes;
  ro.max_nodes = c_.max_nodes;
  ro.last_call = c_.rdzv_last_call;
  ro.lease_ttl = c_.rdzv_heartbeat;
  ro.call_timeout = c_.rdzv_read_timeout;
  if (!c_.local_addr.empty()) {
    ro.node.host = c_.local_addr;
  } else if (c_.rdzv_backend == RdzvBackend::kStatic) {
    ro.node.host = c_.node_rank == 0 ? c_.master_addr : HostName();
  } else {
    const std::string endpoint_host = c_.rdzv_endpoint.substr(0, c_.rdzv_endpoint.rfind(':'));
    ro.node.host = (absl::StartsWith(endpoint_host, "127.") || endpoint_host == "localhost")
                       ? "127.0.0.1"
                       : HostName();
  }
  ro.node.local_world_size = c_.nproc_per_node;
  ro.node.port = PickFreePort(ro.node.host);
  if (c_.rdzv_backend == RdzvBackend::kStatic) ro.node.requested_rank = c_.node_rank;
  absl::StatusOr<std::unique_ptr<elastic::Rendezvous>> rdzv = elastic::Rendezvous::Create(ro);
  if (!rdzv.ok()) return Fail("cannot join the rendezvous", rdzv.status());
  rdzv_ = std::move(*rdzv);

  if (absl::Status s = MakeRunDir(); !s.ok()) return Fail("run folder", s);
  WorkerGroupOptions wo;
  wo.run_dir = run_dir_;
  wo.local_ranks_filter = c_.local_ranks_filter;
  if (c_.cpu_bind == CpuBind::kCores) {
    absl::StatusOr<std::vector<int>> cpus = AllowedCpus();
    if (!cpus.ok()) return Fail("--cpu-bind cores", cpus.status());
    wo.cpu_shares = SplitCpus(*cpus, c_.nproc_per_node);
    std::vector<std::string> shares;
    for (int lr = 0; lr < c_.nproc_per_node; ++lr) {
      shares.push_back(absl::StrCat(lr, ":", FormatCpuList(wo.cpu_shares[lr])));
    }
    Say(absl::StrCat("--cpu-bind cores: local rank:CPUs ", absl::StrJoin(shares, " "),
                     cpus->size() < static_cast<size_t>(c_.nproc_per_node)
                         ? " (fewer CPUs than workers: some share one)"
                         : ""));
  }
  wo.spawner = o_.spawner;
  wo.output = output_.get();
  wo.command = c_.command;
  wo.stdout_fd = o_.stdout_fd;
  wo.stderr_fd = o_.stderr_fd;
  wo.log_dir = c_.log_dir;
  wo.run_id = c_.rdzv_id;
  wo.redirects = c_.redirects;
  workers_ = std::make_unique<WorkerGroup>(wo);

  bool need_join = true;
  bool restart_all = true;
  absl::Time last_store_warning = absl::InfinitePast();
  for (;;) {
    if (need_join) {
      int sig = 0;
      absl::Status s = JoinRound(&sig);
      if (sig != 0) return StopAndLeave(sig);
      if (!s.ok()) {
        (void)workers_->StopAll(SIGTERM, c_.stop_timeout);
        return Fail("rendezvous failed", s);
      }
      const int first = round_.first_global_rank(round_.node_rank);
      Say(absl::StrFormat("job '%s' generation %d: node %d of %d, world size %d, ranks %d-%d",
                          c_.rdzv_id, round_.generation, round_.node_rank, round_.num_nodes(),
                          round_.world_size(), first, first + c_.nproc_per_node - 1));
      if (restart_all || workers_->running_count() == 0) {
        for (int lr = 0; lr < c_.nproc_per_node; ++lr) {
          if (absl::Status st = StartWorker(lr); !st.ok()) {
            (void)workers_->StopAll(SIGKILL, absl::ZeroDuration());
            return Fail("cannot start workers", st);
          }
        }
      }
      need_join = false;
      restart_all = false;
    }

    if (const int sig = WaitForSignal(c_.monitor_interval); sig != 0) return StopAndLeave(sig);

    absl::StatusOr<std::vector<int>> ended = workers_->PollExits();
    if (!ended.ok()) return Fail("cannot wait for workers", ended.status());
    std::vector<int> failed;
    for (int lr : *ended) {
      if (!workers_->workers().at(lr).exit->ok()) failed.push_back(lr);
    }
    if (!failed.empty()) {
      const WorkerStatus& w = workers_->workers().at(failed.front());
      if (restarts_ < c_.max_restarts) {
        ++restarts_;
        if (c_.elastic()) {
          for (int lr : failed) {
            Say(absl::StrFormat("worker rank %d (pid %d) ended with %s%s; restarting it (restart "
                                "%d of %d)",
                                workers_->workers().at(lr).global_rank,
                                workers_->workers().at(lr).pid,
                                workers_->workers().at(lr).exit->ToString(), RecordedError(lr),
                                restarts_, c_.max_restarts));
            if (absl::Status st = StartWorker(lr); !st.ok()) return Fail("cannot restart worker", st);
          }
        } else {
          Say(absl::StrFormat("worker rank %d (pid %d) ended with %s%s; restarting all workers "
                              "(restart %d of %d)",
                              w.global_rank, w.pid, w.exit->ToString(),
                              RecordedError(failed.front()), restarts_, c_.max_restarts));
          (void)workers_->StopAll(SIGTERM, c_.stop_timeout);
          if (absl::Status st = rdzv_->RequestNextRound(absl::Now() + c_.rdzv_timeout); !st.ok()) {
            return Fail("cannot start the next round", st);
          }
          need_join = true;
          restart_all = true;
        }
        continue;
      }
      for (int lr : failed) workers_->DrainOutput(lr, absl::Now() + absl::Seconds(2));
      if (!c_.elastic() && round_.num_nodes() > 1) {
        // A static round cannot close without this node: tell the others.
        (void)rdzv_->MarkFailed(absl::StrCat("rank ", w.global_rank, " ", w.exit->ToString()),
                                absl::Now() + c_.rdzv_close_timeout);
      }
      // Stop the rest first: the report then sees every error file, and the
      // root cause may be a worker that failed but had not exited yet.
      (void)workers_->StopAll(SIGTERM, c_.stop_timeout);
      DrainAll(absl::Seconds(2));
      std::vector<WorkerFailure> failures = workers_->CollectFailures(failed);
      if (run_dir_is_temporary_) {
        for (WorkerFailure& f : failures) f.error_file.clear();  // gone when braidrun exits
      }
      const WorkerFailure& root = failures[RootCause(failures)];
      Say(absl::StrFormat("job '%s' failed: %d worker(s) on this node failed (generation %d, "
                          "%d of %d restarts used):\n%s",
                          c_.rdzv_id, failures.size(), round_.generation, restarts_,
                          c_.max_restarts, FormatFailureReport(failures)));
      (void)rdzv_->Leave(absl::Now() + c_.rdzv_close_timeout);
      const bool root_failed = std::find(failed.begin(), failed.end(), root.local_rank) != failed.end();
      const int code = root_failed ? root.exit->ShellCode() : w.exit->ShellCode();
      return code == 0 ? 1 : code;
    }
    if (workers_->all_succeeded()) {
      DrainAll(absl::Seconds(5));
      (void)rdzv_->MarkDone(absl::Now() + c_.rdzv_close_timeout);
      if (js_.server != nullptr && round_.num_nodes() > 1) WaitForOtherNodes();
      (void)rdzv_->Leave(absl::Now() + c_.rdzv_close_timeout);
      return 0;
    }

    absl::StatusOr<bool> changed = rdzv_->CheckMembership(absl::Now() + c_.rdzv_read_timeout);
    if (absl::IsAborted(changed.status())) {
      (void)workers_->StopAll(SIGTERM, c_.stop_timeout);
      DrainAll(absl::Seconds(2));
      (void)rdzv_->Leave(absl::Now() + c_.rdzv_close_timeout);
      return Fail("stopping", changed.status());
    }
    if (!changed.ok()) {
      if (absl::Now() - last_store_warning > absl::Seconds(10)) {
        Say(absl::StrCat("warning: cannot check membership: ", changed.status().ToString()));
        last_store_warning = absl::Now();
      }
      continue;
    }
    if (*changed) {
      need_join = true;
      if (!c_.elastic()) {
        Say("membership changed; restarting workers in the next round");
        (void)workers_->StopAll(SIGTERM, c_.stop_timeout);
        restart_all = true;
      } else {
        Say("membership changed; joining the next round (workers keep running)");
      }
    }
  }
}

}  // namespace

std::vector<std::string> WorkerEnv(const WorkerEnvInput& in) {
  std::map<std::string, std::string> vars;
  std::vector<std::string> order;
  for (const std::string& kv : in.base) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string name = kv.substr(0, eq);
    if (vars.emplace(name, kv.substr(eq + 1)).second) order.push_back(name);
  }
  auto set = [&](const std::string& name, const std::string& value) {
    if (vars.count(name) == 0) order.push_back(name);
    vars[name] = value;
  };
  const elastic::RoundResult& r = in.round;
  const elastic::NodeInfo& me = r.nodes.at(r.node_rank);
  const int rank = r.first_global_rank(r.node_rank) + in.local_rank;
  set("RANK", absl::StrCat(rank));
  set("LOCAL_RANK", absl::StrCat(in.local_rank));
  set("WORLD_SIZE", absl::StrCat(r.world_size()));
  set("LOCAL_WORLD_SIZE", absl::StrCat(me.local_world_size));
  set("GROUP_RANK", absl::StrCat(r.node_rank));
  set("GROUP_WORLD_SIZE", absl::StrCat(r.num_nodes()));
  set("ROLE_RANK", absl::StrCat(rank));
  set("ROLE_WORLD_SIZE", absl::StrCat(r.world_size()));
  set("ROLE_NAME", "default");
  set("MASTER_ADDR", in.master_addr.empty() ? r.nodes.front().host : in.master_addr);
  set("MASTER_PORT", absl::StrCat(r.nodes.front().port));
  set("BRAID_STORE_ADDR", in.store_address);
  set("BRAID_JOB_TOKEN", in.job_token);
  set("BRAID_RUN_ID", in.run_id);
  set("BRAID_GENERATION", absl::StrCat(r.generation));
  set("BRAID_MEMBERSHIP_KEY", in.membership_key);
  set("BRAID_RESTART_COUNT", absl::StrCat(in.restart_count));
  set("TORCHELASTIC_RESTART_COUNT", absl::StrCat(in.restart_count));
  set("TORCHELASTIC_MAX_RESTARTS", absl::StrCat(in.max_restarts));
  set("TORCHELASTIC_RUN_ID", in.run_id);
  if (me.local_world_size > 1) {
    if (vars.count("OMP_NUM_THREADS") == 0) set("OMP_NUM_THREADS", "1");
    if (vars.count("OPENBLAS_NUM_THREADS") == 0) set("OPENBLAS_NUM_THREADS", "1");
  }
  std::vector<std::string> out;
  out.reserve(order.size());
  for (const std::string& name : order) out.push_back(absl::StrCat(name, "=", vars[name]));
  return out;
}

int RunAgent(const AgentOptions& options) {
  AgentRun run(options);
  const int code = run.Run();
  run.Finish();
  return code;
}

}  // namespace braid::launcher
