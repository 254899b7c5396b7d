// elastic::Bootstrap: executes the BootstrapPlan (bootstrap_plan.cc) in the
// order the Context's members are declared: MPI, tracer, store, factory,
// world communicator.
#include "elastic/bootstrap/bootstrap.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "collectives/debug/debug_communicator.h"
#include "collectives/dispatch/device_dispatch_communicator.h"
#include "collectives/tcp/tcp_backend.h"
#include "elastic/bootstrap/backends.h"
#include "elastic/bootstrap/host_address.h"
#include "elastic/bootstrap/plan_util.h"
#include "elastic/store/store_client.h"
#include "elastic/store/store_server.h"
#include "runtime/error_file.h"
#include "runtime/logging.h"
#include "runtime/status_macros.h"

namespace braid::elastic {
namespace {

using bootstrap_internal::MpiRuntime;

// Keeps the code, puts `context` in front of the message.
absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

absl::Duration Remaining(absl::Time deadline) {
  return std::max(deadline - absl::Now(), absl::ZeroDuration());
}

// Store keys of this incarnation of the job (a restart or a new generation
// never meets an old one's keys on a long-lived store).
std::string JobPrefix(const runtime::Config& config) {
  return absl::StrCat("braid/g", config.generation, "/r", config.restart_count, "/");
}

// Starts the StoreServer this process hosts; returns it and the address the
// other ranks should use.
absl::StatusOr<std::unique_ptr<StoreServer>> HostStore(const BootstrapPlan& plan,
                                                       const runtime::Config& config,
                                                       const std::string& token) {
  std::string bind_host = plan.store_bind_host;
  if (plan.store_mode == StoreMode::kMasterAddr) {
    absl::StatusOr<std::string> resolved = ResolveIpv4(bind_host);
    if (!resolved.ok()) return Annotate(resolved.status(), "MASTER_ADDR");
    bind_host = *resolved;
  } else if (bind_host.empty()) {
    BRAID_ASSIGN_OR_RETURN(bind_host, ThisHostAddress(config.socket_ifnames));
  }
  StoreServerOptions server_options;
  server_options.host = bind_host;
  server_options.port = plan.store_port;
  server_options.job_token = token;
  absl::StatusOr<std::unique_ptr<StoreServer>> server = StoreServer::Create(server_options);
  if (!server.ok()) {
    return Annotate(server.status(),
                    absl::StrCat("rank ", config.world.global_rank, " could not host the store on ",
                                 bind_host, ":", plan.store_port,
                                 plan.store_mode == StoreMode::kMasterAddr
                                     ? " (MASTER_ADDR must name this host and MASTER_PORT be free)"
                                     : (plan.store_port != 0 ? " (is MASTER_PORT free?)" : "")));
  }
  return server;
}

// What to tell the user when the store at `address` cannot be used.
absl::Status ExplainStoreFailure(const absl::Status& status, StoreMode mode,
                                 const std::string& address, absl::Duration timeout) {
  timeout = absl::Trunc(timeout, absl::Milliseconds(100));
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    return Annotate(status, absl::StrCat("the store at ", address,
                                         " refused this rank's BRAID_JOB_TOKEN: every rank needs "
                                         "the job's token (braidrun passes it; with MASTER_ADDR, "
                                         "export the same BRAID_JOB_TOKEN on every rank)"));
  }
  switch (mode) {
    case StoreMode::kLauncherStore:
      return Annotate(status, absl::StrCat("BRAID_STORE_ADDR=", address, " unreachable after ",
                                           absl::FormatDuration(timeout),
                                           ": is braidrun (or the store it names) running?"));
    case StoreMode::kMasterAddr:
      return Annotate(status, absl::StrCat("the store at MASTER_ADDR:MASTER_PORT=", address,
                                           " unreachable after ", absl::FormatDuration(timeout),
                                           ": is rank 0 running, and is MASTER_ADDR its address?"));
    case StoreMode::kMpiBroadcast:
      return Annotate(status, absl::StrCat("the store hosted by rank 0 at ", address,
                                           " unreachable: if the job spans hosts, set "
                                           "BRAID_SOCKET_IFNAME to an interface they share"));
    case StoreMode::kInProcess:
      return Annotate(status, absl::StrCat("the in-process store at ", address));
  }
  return status;
}

// Steps of the store set-up (plan.store_mode):
//   1. the hosting rank starts a StoreServer (token: BRAID_JOB_TOKEN or a
//      fresh random one);
//   2. under mpirun, rank 0 broadcasts "ok|address|token" (or "error|why"
//      so the others fail at once instead of timing out);
//   3. every rank, the host included, connects a StoreClient.
absl::Status SetUpStore(const BootstrapPlan& plan, const runtime::Config& config, MpiRuntime* mpi,
                        absl::Time deadline, std::unique_ptr<StoreServer>* server,
                        std::unique_ptr<runtime::Store>* store, std::string* address) {
  std::string token = plan.job_token;
  *address = plan.store_address;
  absl::Status host_status;
  if (plan.host_store) {
    absl::StatusOr<std::unique_ptr<StoreServer>> hosted;
    if (token.empty()) {
      // A failure still reaches the others through the broadcast below.
      absl::StatusOr<std::string> fresh = RandomToken();
      if (fresh.ok()) token = *fresh;
      hosted = fresh.ok() ? HostStore(plan, config, token) : fresh.status();
    } else {
      hosted = HostStore(plan, config, token);
    }
    if (hosted.ok()) {
      *server = std::move(*hosted);
      *address = (*server)->address();
    } else {
      host_status = hosted.status();
    }
  }
  if (plan.store_mode == StoreMode::kMpiBroadcast) {
    if (mpi == nullptr) return absl::InternalError("mpi-broadcast store mode without MPI");
    std::string message;
    if (plan.host_store) {
      message = host_status.ok() ? absl::StrCat("ok|", *address, "|", token)
                                 : absl::StrCat("error|", host_status.message());
    }
    absl::StatusOr<std::string> received = mpi->BroadcastString(message, 0, deadline);
    if (!received.ok()) {
      return Annotate(received.status(), "receiving the store's address from rank 0 over MPI");
    }
    std::vector<std::string> parts = absl::StrSplit(*received, absl::MaxSplits('|', 2));
    if (parts.size() == 2 && parts[0] == "error") {
      // parts[1] reads "rank 0 could not host the store on ...".
      return plan.host_store ? host_status : absl::UnavailableError(parts[1]);
    }
    if (parts.size() != 3 || parts[0] != "ok") {
      return absl::InternalError(
          absl::StrCat("malformed store address from rank 0: '", *received, "'"));
    }
    *address = parts[1];
    token = parts[2];
  } else if (!host_status.ok()) {
    return host_status;
  }

  StoreClientOptions client_options;
  client_options.address = *address;
  client_options.job_token = token;
  client_options.connect_timeout = Remaining(deadline);
  absl::StatusOr<std::unique_ptr<StoreClient>> client = StoreClient::Create(client_options);
  if (!client.ok()) {
    return ExplainStoreFailure(client.status(), plan.store_mode, *address,
                               client_options.connect_timeout);
  }
  *store = std::move(*client);
  return absl::OkStatus();
}

absl::Status RegisterBackends(MpiRuntime* mpi, collectives::CommunicatorFactory& factory) {
  BRAID_RETURN_IF_ERROR(collectives::tcp::RegisterTcpBackend(factory));
  if (mpi != nullptr) BRAID_RETURN_IF_ERROR(mpi->RegisterBackend(factory));
  return bootstrap_internal::RegisterNccl(factory);
}

// The backend options Bootstrap derives: for tcp, the address peers connect
// to (BRAID_SOCKET_IFNAME's interface when set, else loopback when every
// rank is on this host).
absl::StatusOr<std::map<std::string, std::string>> DeriveBackendOptions(
    const BootstrapPlan& plan, const runtime::Config& config) {
  std::map<std::string, std::string> backend_options;
  const std::vector<std::string> names = bootstrap_internal::BackendNames(plan.backend);
  if (!absl::c_linear_search(names, "tcp")) return backend_options;
  if (!config.socket_ifnames.empty()) {
    // The backend publishes that interface's address, and refuses (listing
    // this host's interfaces) when none of them exists.
    backend_options["ifname"] = absl::StrJoin(config.socket_ifnames, ",");
  } else if (!plan.multi_host) {
    backend_options["host"] = "127.0.0.1";
  }
  return backend_options;
}

}  // namespace

std::string Context::DebugString() const {
  return absl::StrCat(config_.world.DebugString(), ", store ", store_address_, " (",
                      ToString(store_mode_), hosts_store() ? ", hosted here" : "", "), backend ",
                      backend_);
}

void Context::LeaveStore() {
  // Only a store hosted by rank 0 for the other ranks needs the farewell.
  if (!ready_ || store_ == nullptr || config_.world.world_size == 1 ||
      (store_mode_ != StoreMode::kMpiBroadcast && store_mode_ != StoreMode::kMasterAddr)) {
    return;
  }
  const absl::Time deadline = absl::Now() + shutdown_timeout_;
  const std::string prefix = absl::StrCat(JobPrefix(config_), "bootstrap/left/");
  absl::Status status = store_->Set(absl::StrCat(prefix, config_.world.global_rank), "", deadline);
  if (!status.ok()) {
    BRAID_VLOG(1) << "could not tell the store host this rank is leaving: " << status;
    return;
  }
  if (server_ == nullptr) return;
  std::vector<std::string> keys;
  for (int rank = 0; rank < config_.world.world_size; ++rank) {
    keys.push_back(absl::StrCat(prefix, rank));
  }
  status = store_->Wait(keys, deadline);
  if (!status.ok()) {
    BRAID_LOG(WARNING) << "stopping the store although not every rank has left: " << status;
  }
}

Context::~Context() {
  LeaveStore();
  communicator_.reset();
  factory_.reset();
  store_.reset();
  server_.reset();
  mpi_.reset();
  tracer_.reset();
}

absl::StatusOr<std::unique_ptr<Context>> Bootstrap(const BootstrapOptions& options) {
  const absl::Time deadline = absl::Now() + options.timeout;
  auto context = absl::WrapUnique(new Context());
  if (options.config.has_value()) {
    context->config_ = *options.config;
  } else {
    BRAID_ASSIGN_OR_RETURN(context->config_, runtime::Config::FromEnvironment());
  }
  runtime::Config& config = context->config_;
  const runtime::World& world = config.world;
  if (options.init_logging) {
    runtime::InitLogging({.rank = world.global_rank,
                          .level = config.log_level,
                          .vlog_level = config.vlog_level,
                          .program = options.program});
  }
  BRAID_RETURN_IF_ERROR(runtime::InstallErrorReporting(
      {.path = config.error_file, .global_rank = world.global_rank}));  // BRAID_ERROR_FILE
  BRAID_ASSIGN_OR_RETURN(BootstrapPlan plan,
                         PlanBootstrap(config, options.backend, bootstrap_internal::MpiBuilt()));
  context->store_mode_ = plan.store_mode;
  context->backend_ = plan.backend;
  context->shutdown_timeout_ = options.shutdown_timeout;

  // MPI first: under mpirun nothing else may run before MPI_Init.
  if (plan.start_mpi) {
    absl::StatusOr<std::unique_ptr<MpiRuntime>> mpi =
        bootstrap_internal::StartMpi(Remaining(deadline));
    if (!mpi.ok()) return Annotate(mpi.status(), "starting MPI");
    context->mpi_ = std::move(*mpi);
    if (context->mpi_->world_rank() != world.global_rank ||
        context->mpi_->world_size() != world.world_size) {
      return absl::FailedPreconditionError(absl::StrCat(
          "MPI says rank ", context->mpi_->world_rank(), "/", context->mpi_->world_size(),
          " but the environment says ", world.DebugString(),
          ": do not mix launchers (e.g. braidrun inside mpirun)"));
    }
  }

  BRAID_ASSIGN_OR_RETURN(context->tracer_, runtime::Tracer::Create({.dir = config.trace_dir,
                                                                    .rank = world.global_rank}));
  if (!config.unknown_variables.empty() && world.global_rank == 0) {
    BRAID_LOG(WARNING) << "ignoring unknown BRAID_* variables (typo or stale setting?): "
                       << absl::StrJoin(config.unknown_variables, ", ")
                       << "; docs/configuration.md lists the knobs";
  }

  BRAID_RETURN_IF_ERROR(SetUpStore(plan, config, context->mpi_.get(), deadline, &context->server_,
                                   &context->store_, &context->store_address_));

  context->factory_ = std::make_unique<collectives::CommunicatorFactory>();
  BRAID_RETURN_IF_ERROR(RegisterBackends(context->mpi_.get(), *context->factory_));

  collectives::CommunicatorOptions& comm_options = context->communicator_options_;
  comm_options.rank = world.global_rank;
  comm_options.size = world.world_size;
  comm_options.store = context->store_.get();
  comm_options.store_prefix = absl::StrCat(JobPrefix(config), "world/");
  comm_options.connect_timeout = Remaining(deadline);
  comm_options.op_timeout = config.op_timeout;
  comm_options.deterministic = config.deterministic;
  BRAID_ASSIGN_OR_RETURN(comm_options.backend_options, DeriveBackendOptions(plan, config));
  for (const auto& [key, value] : options.backend_options) {
    comm_options.backend_options[key] = value;
  }
  context->ready_ = true;

  if (options.create_communicator) {
    absl::StatusOr<std::unique_ptr<collectives::Communicator>> communicator;
    if (bootstrap_internal::IsDispatchSpec(plan.backend)) {
      absl::StatusOr<std::unique_ptr<collectives::DeviceDispatchCommunicator>> dispatch =
          collectives::DeviceDispatchCommunicator::CreateFromSpec(plan.backend, *context->factory_,
                                                                  comm_options);
      if (dispatch.ok()) {
        communicator = std::move(*dispatch);
      } else {
        communicator = dispatch.status();
      }
    } else {
      communicator = context->factory_->Create(plan.backend, comm_options);
    }
    if (!communicator.ok()) {
      return Annotate(communicator.status(),
                      absl::StrCat("creating the world communicator (", context->DebugString(),
                                   "; backends built: ",
                                   absl::StrJoin(context->factory_->Backends(), ", "), ")"));
    }
    if (config.debug_detail) {  // BRAID_DEBUG=detail
      collectives::DebugCommunicator::Options debug_options;
      debug_options.check_timeout = config.op_timeout;
      *communicator = collectives::DebugCommunicator::Wrap(std::move(*communicator), debug_options);
    }
    context->communicator_ = std::move(*communicator);
  }
  if (world.global_rank == 0) BRAID_LOG(INFO) << "bootstrap: " << context->DebugString();
  return context;
}

}  // namespace braid::elastic
