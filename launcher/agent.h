// Agent: what braidrun does on one node.
//
//   1. Resolve the job token, open (maybe host) the store (job_store.h).
//   2. Join a rendezvous round (elastic/rendezvous/rendezvous.h): this node's
//      rank, the nodes, the generation.
//   3. Start --nproc-per-node workers with the environment of WorkerEnv.
//   4. Every --monitor-interval: reap exited workers, check membership, and
//      look for a stop signal.
//        - all workers exited 0: mark this node done, leave, exit 0.
//        - a worker failed: static jobs (MIN == MAX) stop the group, open the
//          next round and restart everyone (BRAID_RESTART_COUNT + 1), up to
//          --max-restarts; elastic jobs (MIN < MAX) restart only that worker.
//          Past --max-restarts: stop the rest, print the failure report
//          naming the root cause (failure_report.h: the earliest failure by
//          its error file's timestamp), exit with the root cause's code (128 +
//          signal when it was killed); a static multi-node job first marks
//          the job failed in the store, and the other agents stop too (exit 1).
//        - the membership changed (a node joined, left or died, or another
//          node's static restart): join the next round. Static jobs restart
//          their workers into it (not counted as a restart); elastic jobs keep
//          their workers running, and they learn of the new round from the
//          membership key (BRAID_MEMBERSHIP_KEY).
//        - SIGINT/SIGTERM/SIGHUP: forward the signal to every worker's process
//          group, SIGKILL after --stop-timeout, leave, exit 128 + signal.
//
//   5. At exit: with BRAID_TRACE=dir in braidrun's environment, merge the
//      ranks' dir/trace_rank<N>.json into dir/trace.json (trace_merge.h).
//
// Workers' error files live in the run folder: LOG_DIR/RUN_ID with --log-dir
// (kept), else a temporary folder removed when braidrun exits.
//
// Thread-safety: not thread-safe; Run is called once, on the main thread.
#ifndef BRAID_LAUNCHER_AGENT_H_
#define BRAID_LAUNCHER_AGENT_H_

#include <map>
#include <string>
#include <vector>

#include "elastic/rendezvous/rendezvous.h"
#include "launcher/flags.h"
#include "launcher/process.h"

namespace braid::launcher {

struct AgentOptions {
  LaunchConfig config;
  // Borrowed. REQUIRED.
  ProcessSpawner* spawner = nullptr;
  // braidrun's environment ("NAME=value"), the base of every worker's.
  std::vector<std::string> environment;
  // Console descriptors.
  int stdout_fd = 1;
  int stderr_fd = 2;
  // Read end of a pipe that receives one byte (the signal number) per stop
  // signal; -1: none.
  int signal_fd = -1;
};

// The environment of one worker: `base` with these set (replacing any given):
//   RANK LOCAL_RANK WORLD_SIZE LOCAL_WORLD_SIZE GROUP_RANK GROUP_WORLD_SIZE
//   ROLE_RANK ROLE_WORLD_SIZE ROLE_NAME MASTER_ADDR MASTER_PORT
//   BRAID_STORE_ADDR BRAID_JOB_TOKEN BRAID_RUN_ID BRAID_GENERATION
//   BRAID_MEMBERSHIP_KEY BRAID_RESTART_COUNT TORCHELASTIC_RESTART_COUNT
//   TORCHELASTIC_MAX_RESTARTS TORCHELASTIC_RUN_ID
// and OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1 when local_world_size > 1 and
// `base` does not set them. (WorkerGroup adds BRAID_ERROR_FILE and
// TORCHELASTIC_ERROR_FILE.)
struct WorkerEnvInput {
  std::vector<std::string> base;
  elastic::RoundResult round;
  int local_rank = 0;
  int restart_count = 0;
  int max_restarts = 0;
  std::string run_id;
  std::string store_address;
  std::string job_token;
  std::string membership_key;
  // Overrides MASTER_ADDR (static jobs: --master-addr); empty: node 0's host.
  std::string master_addr;
};
std::vector<std::string> WorkerEnv(const WorkerEnvInput& in);

// Runs the job on this node; returns braidrun's exit code. Errors are
// printed to stderr with what to do next.
int RunAgent(const AgentOptions& options);

}  // namespace braid::launcher

#endif  // BRAID_LAUNCHER_AGENT_H_
