// PlanBootstrap: how a job was launched and therefore who hosts the store
// and which backends start (the decision half of elastic::Bootstrap; the
// numbered cases are in bootstrap.h and docs/bootstrap.md).
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "elastic/bootstrap/bootstrap.h"
#include "elastic/bootstrap/plan_util.h"
#include "elastic/store/socket_util.h"

namespace braid::elastic {

absl::string_view ToString(StoreMode mode) {
  switch (mode) {
    case StoreMode::kLauncherStore:
      return "launcher";
    case StoreMode::kInProcess:
      return "in-process";
    case StoreMode::kMpiBroadcast:
      return "mpi-broadcast";
    case StoreMode::kMasterAddr:
      return "master-addr";
  }
  return "unknown";
}

namespace bootstrap_internal {

std::vector<std::string> BackendNames(absl::string_view spec) {
  std::vector<std::string> names;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    const size_t colon = entry.find(':');
    if (colon != absl::string_view::npos) entry = entry.substr(colon + 1);
    entry = absl::StripAsciiWhitespace(entry);
    if (!entry.empty()) names.emplace_back(entry);
  }
  return names;
}

bool IsDispatchSpec(absl::string_view spec) {
  return spec.find(',') != absl::string_view::npos || spec.find(':') != absl::string_view::npos;
}

}  // namespace bootstrap_internal

absl::StatusOr<BootstrapPlan> PlanBootstrap(const runtime::Config& config,
                                            absl::string_view backend, bool mpi_built) {
  const runtime::World& world = config.world;
  BootstrapPlan plan;
  plan.backend = std::string(backend.empty() ? absl::string_view(config.backend) : backend);
  if (plan.backend.empty()) plan.backend = "tcp";
  const std::vector<std::string> names = bootstrap_internal::BackendNames(plan.backend);
  if (names.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("backend '", plan.backend,
                                                   "' names no backend; use e.g. tcp, mpi, nccl or "
                                                   "cpu:tcp,cuda:nccl"));
  }
  plan.mpi_requested = absl::c_linear_search(names, "mpi");
  const bool under_mpirun = world.launcher == runtime::Launcher::kMpirun;
  if (plan.mpi_requested && !mpi_built) {
    return absl::InvalidArgumentError(absl::StrCat(
        "backend '", plan.backend,
        "' needs the mpi backend, but braid was built without MPI "
        "(BRAID_MPI=OFF or MPI not found at configure time); use --backend=tcp or rebuild"));
  }
  if (plan.mpi_requested && !under_mpirun && world.world_size > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "backend '", plan.backend, "' needs a job started by mpirun, but this is ",
        world.DebugString(), "; start it with `mpirun -np N ...` or use --backend=tcp"));
  }
  plan.start_mpi = mpi_built && (under_mpirun || plan.mpi_requested);
  plan.multi_host = world.local_world_size < world.world_size;
  plan.job_token = config.job_token;
  const bool has_master = !world.master_addr.empty() && world.master_port > 0;

  // 1. A store someone else runs (braidrun).
  if (!config.store_addr.empty()) {
    plan.store_mode = StoreMode::kLauncherStore;
    plan.store_address = config.store_addr;
    return plan;
  }
  // 2. A single process: its own store on loopback.
  if (world.world_size == 1) {
    plan.store_mode = StoreMode::kInProcess;
    plan.host_store = true;
    plan.store_bind_host = "127.0.0.1";
    return plan;
  }
  // 3. Plain mpirun: rank 0 hosts, MPI carries the address.
  if (under_mpirun && mpi_built) {
    plan.store_mode = StoreMode::kMpiBroadcast;
    plan.host_store = world.global_rank == 0;
    plan.store_bind_host = plan.multi_host ? "" : "127.0.0.1";
    plan.store_port = world.master_port;
    return plan;
  }
  // 4. torchrun-style MASTER_ADDR/MASTER_PORT: rank 0 hosts there.
  if (has_master) {
    if (config.job_token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "MASTER_ADDR=", world.master_addr, " MASTER_PORT=", world.master_port, " with ",
          world.world_size,
          " ranks needs BRAID_JOB_TOKEN (the same secret on every rank), "
          "e.g. export BRAID_JOB_TOKEN=$(openssl rand -hex 16); or start the job with braidrun"));
    }
    plan.store_mode = StoreMode::kMasterAddr;
    plan.host_store = world.global_rank == 0;
    plan.store_bind_host = world.master_addr;
    plan.store_port = world.master_port;
    plan.store_address = JoinHostPort(world.master_addr, world.master_port);
    return plan;
  }
  if (under_mpirun) {
    return absl::InvalidArgumentError(
        absl::StrCat("launched by mpirun (", world.DebugString(),
                     ") but braid was built without MPI, so "
                     "rank 0 cannot send the store's address: set MASTER_ADDR, MASTER_PORT and "
                     "BRAID_JOB_TOKEN on every rank, or start the job with braidrun"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "no store for ", world.DebugString(),
      ": start the job with braidrun (it sets "
      "BRAID_STORE_ADDR and BRAID_JOB_TOKEN) or mpirun, or set MASTER_ADDR, MASTER_PORT and "
      "BRAID_JOB_TOKEN on every rank"));
}

}  // namespace braid::elastic
