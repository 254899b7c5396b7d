// Config: every BRAID_* knob and the launcher's variables, read once into one
// typed value. This is the ONLY braid code that reads the environment
// (getenv/environ); everything else receives a Config (or the piece it needs)
// from main / elastic::Bootstrap.
//
//   BRAID_ASSIGN_OR_RETURN(Config config, Config::FromEnvironment());
//   InitLogging({.rank = config.world.global_rank, .level = config.log_level,
//                .vlog_level = config.vlog_level, .program = argv[0]});
//
// The knobs, their defaults and meaning are listed in docs/configuration.md
// (keep that table in step with this header).
//
// World: which process this is, from whichever launcher started it, tried in
// this order (the innermost launcher wins when they nest, e.g. torchrun under
// srun):
//   1. braidrun / torchrun: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
//      GROUP_RANK (node index).
//   2. Open MPI's mpirun: OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK,
//      _LOCAL_SIZE (PMIX_RANK stands in for the rank when only it is set,
//      with the size from OMPI_COMM_WORLD_SIZE).
//   3. Slurm's srun (only inside a job step, i.e. with SLURM_STEP_ID set, so
//      a batch script's own shell is not mistaken for rank 0 of N):
//      SLURM_PROCID, SLURM_STEP_NUM_TASKS (else SLURM_NTASKS), SLURM_LOCALID,
//      SLURM_STEP_TASKS_PER_NODE (else SLURM_TASKS_PER_NODE) at SLURM_NODEID,
//      and the first host of SLURM_STEP_NODELIST as the default master.
//   4. none of them: a single process, rank 0 of 1.
// MASTER_ADDR / MASTER_PORT are read whatever the launcher (a user may set
// them for mpirun or srun too). Under srun MASTER_PORT alone will do: the
// host is then the first host of SLURM_STEP_NODELIST.
//
// Errors: every bad value is kInvalidArgument naming the variable, the value
// and what is expected, e.g.
//   "RANK='abc' is not an integer; expected 0 <= RANK < WORLD_SIZE"
// Missing halves of pairs (RANK without WORLD_SIZE, MASTER_ADDR without
// MASTER_PORT, LOCAL_RANK without LOCAL_WORLD_SIZE) are errors too.
//
// Thread-safety: Config and World are plain values. FromEnvironment reads the
// environment, which must not be modified concurrently (call it from main
// before starting threads).
#ifndef BRAID_RUNTIME_CONFIG_H_
#define BRAID_RUNTIME_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/logging.h"

namespace braid::runtime {

enum class Launcher : uint8_t {
  kNone = 0,      // no launcher variables: a single process
  kBraidrun = 1,  // braidrun or torchrun (RANK/WORLD_SIZE/...)
  kMpirun = 2,    // Open MPI (OMPI_COMM_WORLD_* / PMIX_RANK)
  kSlurm = 3,     // srun (SLURM_*)
};

// "none", "braidrun", "mpirun", "slurm".
absl::string_view ToString(Launcher launcher);

// Where this process sits in the job.
struct World {
  Launcher launcher = Launcher::kNone;
  // 0 <= global_rank < world_size.
  int global_rank = 0;
  int world_size = 1;
  // Rank among the processes on this node; 0 <= local_rank < local_world_size
  // <= world_size. Without local variables: local_rank = global_rank and
  // local_world_size = world_size (everything on one node).
  int local_rank = 0;
  int local_world_size = 1;
  // Index of this node (GROUP_RANK, SLURM_NODEID); -1 when the launcher does
  // not say (mpirun).
  int node_rank = 0;
  // Rendezvous host and port (MASTER_ADDR/MASTER_PORT, or Slurm's first
  // host); "" and 0 when not given.
  std::string master_addr;
  int master_port = 0;

  // "rank 3/8 (local 1/4, node 1) via braidrun, master 10.0.0.1:29500".
  std::string DebugString() const;
  friend bool operator==(const World&, const World&) = default;
};

struct Config {
  // BRAID_LOG_LEVEL: debug|info|warning|error; "debug:N" sets vlog_level N.
  LogLevel log_level = LogLevel::kInfo;
  int vlog_level = 0;
  // BRAID_TRACE: directory for per-rank trace files; "" = tracing off.
  std::string trace_dir;
  // BRAID_STORE_ADDR: "host:port" of the store (set by braidrun); "" = none.
  std::string store_addr;
  // BRAID_JOB_TOKEN: shared secret for the store's authentication.
  std::string job_token;
  // BRAID_RUN_ID: the job's id as braidrun knows it (--rdzv-id); "" = none.
  std::string run_id;
  // BRAID_MEMBERSHIP_KEY: store key of this worker's membership entry (set
  // by braidrun); "" = none.
  std::string membership_key;
  // BRAID_GENERATION: membership generation this process was started in.
  int64_t generation = 0;
  // BRAID_RESTART_COUNT (else TORCHELASTIC_RESTART_COUNT): restarts so far.
  int restart_count = 0;
  // BRAID_BACKEND: collective backend(s), e.g. "tcp", "mpi", "nccl" or
  // "cpu:tcp,cuda:nccl"; the factory validates the names. Default "tcp".
  std::string backend = "tcp";
  // BRAID_DETERMINISTIC: 1/0, true/false, yes/no, on/off. Default false.
  bool deterministic = false;
  // BRAID_OP_TIMEOUT: longest a collective may run before kAborted; an absl
  // duration ("30s", "5m", "1h30m") or plain seconds ("90"). Default 5m.
  absl::Duration op_timeout = absl::Minutes(5);
  // BRAID_ERROR_FILE (else torchrun's TORCHELASTIC_ERROR_FILE): where this
  // worker records its failure for the launcher (runtime/error_file.h);
  // "" = no error file.
  std::string error_file;
  // BRAID_SOCKET_IFNAME: network interfaces for data sockets, comma
  // separated (e.g. "eth0,eth1"); empty = choose automatically.
  std::vector<std::string> socket_ifnames;
  // BRAID_DEBUG: "detail" checks every collective across the ranks before it
  // runs (collectives::DebugCommunicator, like TORCH_DISTRIBUTED_DEBUG=
  // DETAIL); "off" (default) does not.
  bool debug_detail = false;

  // The launcher's variables, parsed.
  World world;

  // BRAID_* variables that are not knobs (typos, stale settings), sorted, so
  // main can warn about them. BRAID_TEST_* (test harness) are not listed.
  std::vector<std::string> unknown_variables;

  // Reads the process environment. See the file comment for errors.
  static absl::StatusOr<Config> FromEnvironment();
  // The same from an explicit variable map (tests, or a launcher preparing a
  // worker's environment).
  static absl::StatusOr<Config> FromMap(const std::map<std::string, std::string>& vars);
};

// Parses only the World part of `vars` (FromMap uses it).
absl::StatusOr<World> ParseWorld(const std::map<std::string, std::string>& vars);

}  // namespace braid::runtime

#endif  // BRAID_RUNTIME_CONFIG_H_
