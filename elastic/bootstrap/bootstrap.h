// elastic::Bootstrap: the composition root. A worker's main() calls it once
// and gets a Context holding everything the job's layers need: the Config,
// the World, the Store, a CommunicatorFactory with the built backends, the
// world Communicator and the Tracer (logging is set up too).
//
//   int main(int argc, char** argv) {
//     auto context = braid::elastic::Bootstrap({.program = argv[0]});
//     if (!context.ok()) { std::cerr << context.status() << "\n"; return 1; }
//     collectives::Communicator& world = (*context)->communicator();
//     ...   // pass world / store / tracer down; never the Context itself
//   }
//
// It is the ONLY code that knows how the job was launched. How a job is
// recognised, and who hosts the store (docs/bootstrap.md):
//   1. BRAID_STORE_ADDR set (braidrun, or a user's own store): connect a
//      StoreClient there with BRAID_JOB_TOKEN.                 kLauncherStore
//   2. World of size 1 and none of the above: a StoreServer on loopback in
//      this process, with a fresh random token.                 kInProcess
//   3. Open MPI's mpirun (OMPI_COMM_WORLD_*): MPI starts first (MpiSession);
//      world rank 0 hosts a StoreServer (loopback when every rank is on one
//      host, else the address of BRAID_SOCKET_IFNAME's interface or of the
//      host name; port MASTER_PORT when given) with BRAID_JOB_TOKEN or a
//      fresh random token, and sends "address|token" to the others with
//      MPI (BroadcastString).                                   kMpiBroadcast
//   4. MASTER_ADDR/MASTER_PORT only (torchrun-style, srun): rank 0 hosts a
//      StoreServer on MASTER_ADDR:MASTER_PORT, the others connect there;
//      BRAID_JOB_TOKEN is required when the world has more than one rank.
//                                                               kMasterAddr
//   Anything else with more than one rank is kInvalidArgument saying which
//   variables to set.
//
// Backends: "tcp" is always registered; "mpi" when braid was built with MPI
// and MPI was started (launched by mpirun, or "mpi" asked for); "nccl" when
// built (creating one fails cleanly without a GPU). The world communicator
// uses BootstrapOptions::backend, else BRAID_BACKEND, else "tcp"; a spec like
// "cpu:tcp,cuda:nccl" builds a DeviceDispatchCommunicator.
//
// Failure: every step finishes by BootstrapOptions::timeout; errors keep the
// underlying code and say what to do, e.g.
//   kUnavailable      "BRAID_STORE_ADDR=10.0.0.1:29400 unreachable after
//                      60s: is braidrun running? ..."
//   kUnauthenticated  "the store at ... refused BRAID_JOB_TOKEN: ..."
//   kInvalidArgument  bad variables, unknown or unbuilt backend.
//
// Thread-safety: call Bootstrap from main before starting threads (it reads
// the environment and sets up process-wide logging). The Context's accessors
// are thread-safe; the objects they return have their own contracts.
#ifndef BRAID_ELASTIC_BOOTSTRAP_BOOTSTRAP_H_
#define BRAID_ELASTIC_BOOTSTRAP_BOOTSTRAP_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "collectives/factory.h"
#include "runtime/config.h"
#include "runtime/store.h"
#include "runtime/trace.h"

namespace braid::elastic {

class StoreServer;
namespace bootstrap_internal {
class MpiRuntime;
}  // namespace bootstrap_internal

// Where the store came from (see the file comment's numbered cases).
enum class StoreMode : uint8_t {
  kLauncherStore = 0,  // BRAID_STORE_ADDR
  kInProcess = 1,      // single process, this process hosts on loopback
  kMpiBroadcast = 2,   // plain mpirun: rank 0 hosts, address sent by MPI
  kMasterAddr = 3,     // MASTER_ADDR/MASTER_PORT: rank 0 hosts there
};

// "launcher", "in-process", "mpi-broadcast", "master-addr".
absl::string_view ToString(StoreMode mode);

struct BootstrapOptions {
  // Backend spec of the world communicator ("tcp", "mpi", "nccl",
  // "cpu:tcp,cuda:nccl"). Empty: BRAID_BACKEND (default "tcp").
  std::string backend;
  // Every step (MPI start, store hosting/connecting, communicator creation)
  // must finish by now + timeout. Default 120 s.
  absl::Duration timeout = absl::Seconds(120);
  // Program name for the log lines (argv[0]). Default "braid".
  std::string program = "braid";
  // The configuration; nullopt reads the environment (Config::
  // FromEnvironment). Tests pass one built with Config::FromMap.
  std::optional<runtime::Config> config;
  // Set up logging (InitLogging with the config's level and global rank).
  // Default true.
  bool init_logging = true;
  // Create the world communicator. False leaves communicator() unusable
  // (REQUIRES has_communicator()); for programs that only need the store.
  bool create_communicator = true;
  // Extra CommunicatorOptions::backend_options for the world communicator
  // (added to those Bootstrap derives, e.g. the tcp "host").
  std::map<std::string, std::string> backend_options;
  // When this process hosts the store for other ranks, its destructor waits
  // this long for every rank to say it is leaving before it stops the store,
  // so no rank loses the store while still using it. Default 30 s.
  absl::Duration shutdown_timeout = absl::Seconds(30);
};

// What Bootstrap built. Owns, destroyed in this order: the world
// communicator, the factory, the store client, the store server (if hosted
// here), MPI (if started), the tracer. Move-only through unique_ptr.
class Context {
 public:
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const runtime::Config& config() const { return config_; }
  // Where this process sits in the job (config().world, checked against MPI
  // under mpirun).
  const runtime::World& world() const { return config_.world; }
  int global_rank() const { return config_.world.global_rank; }
  int world_size() const { return config_.world.world_size; }

  StoreMode store_mode() const { return store_mode_; }
  // "host:port" of the store every rank uses.
  const std::string& store_address() const { return store_address_; }
  // True when this process hosts the store.
  bool hosts_store() const { return server_ != nullptr; }
  runtime::Store& store() { return *store_; }

  // Backends registered ("mpi", "nccl", "tcp"; sorted).
  const collectives::CommunicatorFactory& factory() const { return *factory_; }
  // The backend spec of the world communicator.
  const std::string& backend() const { return backend_; }
  bool has_communicator() const { return communicator_ != nullptr; }
  // The communicator over every rank of the job.
  // REQUIRES: has_communicator().
  collectives::Communicator& communicator() { return *communicator_; }
  // The options the world communicator was created with; copy them, change
  // store_prefix (and rank/size), to create further communicators.
  const collectives::CommunicatorOptions& communicator_options() const {
    return communicator_options_;
  }

  runtime::Tracer& tracer() { return *tracer_; }

  // "rank 2/4 (local 2/4, node 0) via braidrun, store 127.0.0.1:4100
  // (launcher), backend tcp".
  std::string DebugString() const;

 private:
  friend absl::StatusOr<std::unique_ptr<Context>> Bootstrap(const BootstrapOptions& options);
  Context() = default;
  // Tells the store host this rank is leaving; the host waits for all.
  void LeaveStore();

  runtime::Config config_;
  StoreMode store_mode_ = StoreMode::kInProcess;
  std::string store_address_;
  std::string backend_;
  absl::Duration shutdown_timeout_;
  // The store is up and every rank will say goodbye (LeaveStore).
  bool ready_ = false;
  collectives::CommunicatorOptions communicator_options_;
  // Declaration order = construction order; destruction runs backwards.
  std::unique_ptr<runtime::Tracer> tracer_;
  std::unique_ptr<bootstrap_internal::MpiRuntime> mpi_;
  std::unique_ptr<StoreServer> server_;
  std::unique_ptr<runtime::Store> store_;
  std::unique_ptr<collectives::CommunicatorFactory> factory_;
  std::unique_ptr<collectives::Communicator> communicator_;
};

// Builds the Context (see the file comment). Collective: every rank of the
// job calls it.
absl::StatusOr<std::unique_ptr<Context>> Bootstrap(const BootstrapOptions& options);

// ---- The decision, separated from its execution (for tests and docs) ----

// What Bootstrap will do for a configuration; no side effects.
struct BootstrapPlan {
  StoreMode store_mode = StoreMode::kInProcess;
  // The backend spec and whether it names "mpi".
  std::string backend;
  bool mpi_requested = false;
  // Start MPI (MpiSession) before anything else.
  bool start_mpi = false;
  // Not every rank is on this host (local_world_size < world_size).
  bool multi_host = false;
  // This process hosts a StoreServer ...
  bool host_store = false;
  // ... listening on store_bind_host:store_port (0: ephemeral); the host
  // "" means "this host's address" (resolved at run time: interface of
  // BRAID_SOCKET_IFNAME, else the host name's address).
  std::string store_bind_host;
  int store_port = 0;
  // The store's address when known before start (launcher, MASTER_ADDR);
  // "" when learned at run time (in-process, MPI broadcast).
  std::string store_address;
  // The job token when given; "" means generate one (hosting rank) or use
  // none (a launcher store without BRAID_JOB_TOKEN).
  std::string job_token;
};

// kInvalidArgument for combinations that cannot work, saying what to set.
// `mpi_built`: braid was built with the mpi backend.
absl::StatusOr<BootstrapPlan> PlanBootstrap(const runtime::Config& config,
                                            absl::string_view backend, bool mpi_built);

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_BOOTSTRAP_BOOTSTRAP_H_
