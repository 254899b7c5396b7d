#include "launcher/worker_group.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
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
  const std::string error_dir =
      absl::StrCat(options_.run_dir, "/attempt_", attempt, "/", local_rank);
  const std::string error_file = error_dir + "/error.json";
  std::error_code ec;
  std::filesystem::create_directories(error_dir, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat("cannot create the error file folder '",
                                                   error_dir, "': ", ec.message(),
                                                   "; check --log-dir / TMPDIR"));
  }
  std::filesystem::remove(error_file, ec);
  SpawnOptions so;
  so.argv = options_.command;
  for (const std::string& kv : env) {
    if (!absl::StartsWith(kv, "BRAID_ERROR_FILE=") &&
        !absl::StartsWith(kv, "TORCHELASTIC_ERROR_FILE=")) {
      so.env.push_back(kv);
    }
  }
  so.env.push_back(absl::StrCat("BRAID_ERROR_FILE=", error_file));
  so.env.push_back(absl::StrCat("TORCHELASTIC_ERROR_FILE=", error_file));
  so.capture_output = true;
  if (static_cast<size_t>(local_rank) < options_.cpu_shares.size()) {
    so.cpus = options_.cpu_shares[local_rank];
  }
  absl::StatusOr<SpawnedProcess> p = options_.spawner->Spawn(so);
  if (!p.ok()) return p.status();

  WorkerStatus w;
  w.local_rank = local_rank;
  w.global_rank = global_rank;
  w.pid = p->pid;
  w.attempt = attempt;
  w.output_id = next_output_id_++;
  w.running = true;
  w.error_file = error_file;
  const bool to_console = options_.local_ranks_filter.empty() ||
                          options_.local_ranks_filter.count(local_rank) > 0;
  const std::string prefix = absl::StrCat("[rank", global_rank, "]:");
  const std::string dir =
      options_.log_dir.empty()
          ? std::string()
          : absl::StrCat(options_.log_dir, "/", options_.run_id, "/attempt_", attempt, "/",
                         local_rank, "/");
  OutputForwarder::Route out_route, err_route;
  out_route.prefix = err_route.prefix = prefix;
  out_route.console_fd =
      options_.redirects.stdout_selected || !to_console ? -1 : options_.stdout_fd;
  err_route.console_fd =
      options_.redirects.stderr_selected || !to_console ? -1 : options_.stderr_fd;
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
      w.ended = absl::Now();
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
      w.ended = absl::Now();
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
      w.ended = absl::Now();
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

std::optional<runtime::ErrorRecord> WorkerGroup::ReadError(int local_rank) const {
  auto it = workers_.find(local_rank);
  if (it == workers_.end() || it->second.error_file.empty()) return std::nullopt;
  absl::StatusOr<runtime::ErrorRecord> r = runtime::ReadErrorFile(it->second.error_file);
  if (!r.ok()) return std::nullopt;
  return *r;
}

std::vector<WorkerFailure> WorkerGroup::CollectFailures(const std::vector<int>& failed) const {
  std::vector<WorkerFailure> out;
  for (const auto& [local_rank, w] : workers_) {
    WorkerFailure f;
    f.global_rank = w.global_rank;
    f.local_rank = local_rank;
    f.pid = w.pid;
    f.exit = w.exit;
    f.ended = w.ended;
    f.error_file = w.error_file;
    if (!w.error_file.empty()) {
      absl::StatusOr<runtime::ErrorRecord> r = runtime::ReadErrorFile(w.error_file);
      if (r.ok()) {
        f.error = *r;
      } else if (!absl::IsNotFound(r.status())) {
        f.error_file_problem = std::string(r.status().message());
      }
    }
    const bool listed = std::find(failed.begin(), failed.end(), local_rank) != failed.end();
    if (!listed && !f.error.has_value()) continue;
    f.tail = options_.output->TailLines(w.output_id);
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace braid::launcher
