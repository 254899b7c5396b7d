// braidrun's command line: torchrun-compatible flags parsed into one typed
// LaunchConfig. This and the environment reads in ResolveJobToken are the
// only places braidrun looks at its argv or environment.
//
//   braidrun [flags] PROGRAM [ARGS...]
//
// Every flag is accepted with dashes and with underscores
// (--nproc-per-node / --nproc_per_node). `braidrun --help` explains each;
// docs/launching.md shows typical command lines.
#ifndef BRAID_LAUNCHER_FLAGS_H_
#define BRAID_LAUNCHER_FLAGS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace braid::launcher {

enum class RdzvBackend {
  kBraid,   // braid's embedded store, hosted by the agent at --rdzv-endpoint
  kEtcd,    // an etcd cluster at --rdzv-endpoint (comma-separated endpoints)
  kStatic,  // fixed nodes: --node-rank given, store at --master-addr:--master-port
};
std::string ToString(RdzvBackend backend);

// --cpu-bind: how workers are placed on CPUs.
enum class CpuBind {
  kNone,   // inherit braidrun's CPU set (default)
  kCores,  // local rank r gets the r-th of nproc-per-node equal shares of it
};
std::string ToString(CpuBind bind);

// Which worker streams a --redirects/--tee value selects (torchrun's 0-3).
struct StreamSelection {
  bool stdout_selected = false;
  bool stderr_selected = false;
};

struct LaunchConfig {
  // --nnodes MIN:MAX (or N). Elastic when min_nodes < max_nodes.
  int min_nodes = 1;
  int max_nodes = 1;
  // --nproc-per-node: workers per node.
  int nproc_per_node = 1;
  // --node-rank: this node's rank for --rdzv-backend static (-1: unset).
  int node_rank = -1;
  bool standalone = false;
  RdzvBackend rdzv_backend = RdzvBackend::kStatic;
  // --rdzv-endpoint "host[:port]" (etcd: "host:port[,host:port...]").
  std::string rdzv_endpoint;
  std::string rdzv_id = "none";
  absl::Duration rdzv_timeout = absl::Seconds(900);
  // last_call: how long a round with >= MIN nodes waits for more after the
  // latest join (--rdzv-last-call or --rdzv-conf last_call_timeout=).
  absl::Duration rdzv_last_call = absl::Seconds(1);
  // Agent lease TTL; an agent silent this long counts as dead
  // (--rdzv-conf heartbeat=seconds).
  absl::Duration rdzv_heartbeat = absl::Seconds(5);
  // Deadline of each store call the agent makes while the job runs
  // (membership checks, rendezvous reads) (--rdzv-conf read_timeout=).
  absl::Duration rdzv_read_timeout = absl::Seconds(5);
  // Deadline of the store calls that close this node's part of the job:
  // leave, mark done, mark failed (--rdzv-conf close_timeout=).
  absl::Duration rdzv_close_timeout = absl::Seconds(2);
  // --rdzv-conf key=value pairs as given (only the keys above are accepted:
  // join_timeout, last_call_timeout, read_timeout, close_timeout, heartbeat).
  std::map<std::string, std::string> rdzv_conf;
  int max_restarts = 0;
  absl::Duration monitor_interval = absl::Milliseconds(100);
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool master_port_given = false;
  // --local-addr: the address other nodes reach this agent at (default: the
  // host name).
  std::string local_addr;
  std::string log_dir;
  StreamSelection redirects;
  StreamSelection tee;
  // --local-ranks-filter 0,2: only these local ranks' output reaches the
  // console (all of it still goes to the log files). Empty: every rank.
  std::set<int> local_ranks_filter;
  // --cpu-bind none|cores.
  CpuBind cpu_bind = CpuBind::kNone;
  // Grace period between SIGTERM and SIGKILL when stopping workers.
  absl::Duration stop_timeout = absl::Seconds(10);
  std::string job_token_file;
  // The worker command: program then its arguments. REQUIRED non-empty.
  std::vector<std::string> command;

  bool elastic() const { return min_nodes < max_nodes; }
  bool multi_node() const { return max_nodes > 1; }
};

// The result of parsing: a config, or a request to print help and exit 0.
struct ParsedFlags {
  LaunchConfig config;
  bool exit_now = false;     // --help / --version was given
  std::string exit_message;  // what to print then
};

// Parses braidrun's argv. kInvalidArgument with the offending flag and a hint
// ("run braidrun --help") on bad input.
absl::StatusOr<ParsedFlags> ParseFlags(int argc, const char* const* argv);

// Parses "N" or "MIN:MAX" (1 <= MIN <= MAX).
absl::Status ParseNodeRange(absl::string_view text, int* min_nodes, int* max_nodes);

// Parses a --redirects/--tee value: 0 none, 1 stdout, 2 stderr, 3 both.
absl::StatusOr<StreamSelection> ParseStreamSelection(absl::string_view text);

}  // namespace braid::launcher

#endif  // BRAID_LAUNCHER_FLAGS_H_
