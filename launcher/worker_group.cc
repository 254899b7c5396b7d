#include "launcher/worker_group.h"

#include <signal.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace braid::launcher {

WorkerGroup::WorkerGroup(const WorkerGroupOptions& options) : options_(options) {}

WorkerGroup::~WorkerGroup() { (void)StopAll(SIGKILL, absl::ZeroDuration()); }

int WorkerGroup::running_count() const {
  int n = 0;
  for (const auto& [local_rank, w] : workers_) n += w.running ? 1 : 0;
  return n;
}

bool WorkerGroup::all_succeeded() const {
  if (workers_.empty()) return false;
  for (const auto& [local_rank, w] : workers_) {
    if (w.running || !w.exit.has_value() || !w.exit->ok()) return false;
  }
  return true;
}

absl::Status WorkerGroup::Start(int local_rank, int global_rank, int attempt,
                                const std::vector<std::string>& env) {
  auto it = workers_.find(local_rank);
  if (it != workers_.end() && it->second.running) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker local rank ", local_rank, " still runs (pid ", it->second.pid, ")"));
  }
  SpawnOptions so;
  so.argv = options_.command;
  so.env = env;
  so.capture_output = true;
  absl::StatusOr<SpawnedProcess> p = options_.spawner->Spawn(so);
  if (!p.ok()) return p.status();

  WorkerStatus w;
  w.local_rank = local_rank;
  w.global_rank = global_rank;
  w.pid = p->pid;
  w.attempt = attempt;
  w.output_id = next_output_id_++;
  w.running = true;
  const std::string prefix = absl::StrCat("[rank", global_rank, "]:");
  const std::string dir =
      options_.log_dir.empty()
          ? std::string()
          : absl::StrCat(options_.log_dir, "/", options_.run_id, "/attempt_", attempt, "/",
                         local_rank, "/");
  OutputForwarder::Route out_route, err_route;
  out_route.prefix = err_route.prefix = prefix;
  out_route.console_fd = options_.redirects.stdout_selected ? -1 : options_.stdout_fd;
  err_route.console_fd = options_.redirects.stderr_selected ? -1 : options_.stderr_fd;
  if (!dir.empty()) {
    out_route.log_path = dir + "stdout.log";
    err_route.log_path = dir + "stderr.log";
  }
  absl::Status s = options_.output->AddStream(w.output_id, p->stdout_fd, out_route);
  absl::Status s2 = options_.output->AddStream(w.output_id, p->stderr_fd, err_route);
  workers_[local_rank] = w;
  if (!s.ok()) return s;
  return s2;
}

absl::StatusOr<std::vector<int>> WorkerGroup::PollExits() {
  std::vector<int> ended;
  for (auto& [local_rank, w] : workers_) {
    if (!w.running) continue;
    absl::StatusOr<std::optional<ExitInfo>> e = options_.spawner->Wait(w.pid, absl::InfinitePast());
    if (!e.ok()) return e.status();
    if (e->has_value()) {
      w.running = false;
      w.exit = **e;
      ended.push_back(local_rank);
    }
  }
  return ended;
}

absl::Status WorkerGroup::StopAll(int sig, absl::Duration grace) {
  for (auto& [local_rank, w] : workers_) {
    if (w.running) (void)options_.spawner->SignalGroup(w.pid, sig);
  }
  const absl::Time soft_deadline = absl::Now() + grace;
  for (auto& [local_rank, w] : workers_) {
    if (!w.running) continue;
    absl::StatusOr<std::optional<ExitInfo>> e = options_.spawner->Wait(w.pid, soft_deadline);
    if (e.ok() && e->has_value()) {
      w.running = false;
      w.exit = **e;
    }
  }
  std::vector<std::string> stuck;
  for (auto& [local_rank, w] : workers_) {
    if (!w.running) continue;
    (void)options_.spawner->SignalGroup(w.pid, SIGKILL);
    absl::StatusOr<std::optional<ExitInfo>> e =
        options_.spawner->Wait(w.pid, absl::Now() + absl::Seconds(10));
    if (e.ok() && e->has_value()) {
      w.running = false;
      w.exit = **e;
    } else {
      stuck.push_back(absl::StrCat(w.pid));
    }
  }
  if (!stuck.empty()) {
    return absl::InternalError(absl::StrCat("workers ", absl::StrJoin(stuck, ", "),
                                            " did not end 10 s after SIGKILL"));
  }
  return absl::OkStatus();
}

void WorkerGroup::DrainOutput(int local_rank, absl::Time deadline) {
  auto it = workers_.find(local_rank);
  if (it == workers_.end()) return;
  (void)options_.output->Drain(it->second.output_id, deadline);
}

std::string WorkerGroup::FailureSummary(const std::vector<int>& local_ranks) const {
  std::string out = absl::StrFormat("  %-6s %-6s %-8s %s\n", "rank", "local", "pid", "result");
  for (int lr : local_ranks) {
    auto it = workers_.find(lr);
    if (it == workers_.end()) continue;
    const WorkerStatus& w = it->second;
    absl::StrAppendFormat(&out, "  %-6d %-6d %-8d %s\n", w.global_rank, w.local_rank, w.pid,
                          w.exit.has_value() ? w.exit->ToString() : "running");
  }
  for (int lr : local_ranks) {
    auto it = workers_.find(lr);
    if (it == workers_.end()) continue;
    const std::vector<std::string> tail = options_.output->TailLines(it->second.output_id);
    if (tail.empty()) {
      absl::StrAppend(&out, "  rank ", it->second.global_rank, " wrote no output\n");
      continue;
    }
    absl::StrAppend(&out, "  last output of rank ", it->second.global_rank, ":\n");
    for (const std::string& line : tail) absl::StrAppend(&out, "    | ", line, "\n");
  }
  return out;
}

}  // namespace braid::launcher
