#include "launcher/flags.h"

#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace braid::launcher {
namespace {

constexpr char kHint[] = "; run 'braidrun --help' for the flags";

absl::Status Bad(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(what, kHint));
}

absl::StatusOr<absl::Duration> ParseSeconds(absl::string_view flag, absl::string_view text,
                                            bool allow_zero) {
  double secs;
  if (!absl::SimpleAtod(text, &secs) || secs < 0 || (!allow_zero && secs == 0)) {
    return Bad(absl::StrCat(flag, ": '", text, "' is not a ", allow_zero ? "non-negative" : "positive",
                            " number of seconds"));
  }
  return absl::Seconds(secs);
}

// Registers "--a-b" and "--a_b" for one flag.
std::string Names(absl::string_view dashed) {
  std::string under(dashed);
  for (size_t i = 2; i < under.size(); ++i) {
    if (under[i] == '-') under[i] = '_';
  }
  if (under == dashed) return std::string(dashed);
  return absl::StrCat(dashed, ",", under);
}

}  // namespace

std::string ToString(RdzvBackend backend) {
  switch (backend) {
    case RdzvBackend::kBraid:
      return "braid";
    case RdzvBackend::kEtcd:
      return "etcd";
    case RdzvBackend::kStatic:
      return "static";
  }
  return "unknown";
}

std::string ToString(CpuBind bind) {
  switch (bind) {
    case CpuBind::kNone:
      return "none";
    case CpuBind::kCores:
      return "cores";
  }
  return "unknown";
}

absl::Status ParseNodeRange(absl::string_view text, int* min_nodes, int* max_nodes) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  int lo = 0, hi = 0;
  bool ok = false;
  if (parts.size() == 1) {
    ok = absl::SimpleAtoi(parts[0], &lo);
    hi = lo;
  } else if (parts.size() == 2) {
    ok = absl::SimpleAtoi(parts[0], &lo) && absl::SimpleAtoi(parts[1], &hi);
  }
  if (!ok || lo < 1 || hi < lo) {
    return Bad(absl::StrCat("--nnodes: '", text, "' is not N or MIN:MAX with 1 <= MIN <= MAX"));
  }
  *min_nodes = lo;
  *max_nodes = hi;
  return absl::OkStatus();
}

absl::StatusOr<StreamSelection> ParseStreamSelection(absl::string_view text) {
  int v;
  if (!absl::SimpleAtoi(text, &v) || v < 0 || v > 3) {
    return Bad(absl::StrCat("'", text,
                            "' is not a stream selection: 0 none, 1 stdout, 2 stderr, 3 both "
                            "(per-rank maps like 0:1,1:2 are not supported)"));
  }
  StreamSelection s;
  s.stdout_selected = (v & 1) != 0;
  s.stderr_selected = (v & 2) != 0;
  return s;
}

absl::StatusOr<ParsedFlags> ParseFlags(int argc, const char* const* argv) {
  ParsedFlags parsed;
  LaunchConfig& c = parsed.config;
  std::string nnodes = "1", nproc = "1", backend, timeout = "900", last_call, conf,
              monitor = "0.1", redirects = "0", tee = "0", stop_timeout = "10", ranks_filter,
              cpu_bind = "none";
  bool no_python = false;

  CLI::App app(
      "braidrun: starts and watches the worker processes of a braid job (torchrun-compatible).",
      "braidrun");
  app.footer(
      "PROGRAM [ARGS...] follows the flags: the worker command, run once per worker with\n"
      "RANK, LOCAL_RANK, WORLD_SIZE, ... set; everything after PROGRAM is passed to it.\n"
      "See docs/launching.md.");
  app.prefix_command();
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.add_option(Names("--nnodes"), nnodes,
                 "Number of nodes: N, or MIN:MAX for an elastic job (default 1)");
  app.add_option(Names("--nproc-per-node"), nproc,
                 "Workers per node: a number, or 'cpu'/'auto' for one per CPU (default 1)");
  app.add_option(Names("--node-rank"), c.node_rank,
                 "This node's rank, 0..N-1; required with --rdzv-backend static and N > 1");
  app.add_flag(Names("--standalone"), c.standalone,
               "Single-node job with a private store on a free local port; ignores "
               "--rdzv-backend/--rdzv-endpoint/--rdzv-id");
  app.add_option(Names("--rdzv-backend"), backend,
                 "Rendezvous: 'braid' (embedded store; 'c10d' is accepted too), 'etcd' "
                 "(also 'etcd-v2'), or 'static' (default; fixed --node-rank, store at "
                 "--master-addr:--master-port)");
  app.add_option(Names("--rdzv-endpoint"), c.rdzv_endpoint,
                 "host:port of the rendezvous store. braid: the agent on that host hosts it. "
                 "etcd: comma-separated etcd endpoints");
  app.add_option(Names("--rdzv-id"), c.rdzv_id,
                 "Job id: agents with the same id form one job (default 'none')");
  app.add_option(Names("--rdzv-timeout"), timeout,
                 "Seconds a rendezvous round may take before failing (default 900)");
  app.add_option(Names("--rdzv-last-call"), last_call,
                 "Seconds a round with >= MIN nodes waits for more after the latest join "
                 "(default 1; same as --rdzv-conf last_call_timeout=)");
  app.add_option(Names("--rdzv-conf"), conf,
                 "key=value,... in seconds: join_timeout (= --rdzv-timeout), last_call_timeout "
                 "(= --rdzv-last-call), read_timeout (each store call while the job runs, "
                 "default 5), close_timeout (store calls when this node leaves, default 2), "
                 "heartbeat (agent lease TTL, default 5)");
  app.add_option(Names("--max-restarts"), c.max_restarts,
                 "Restarts allowed after worker failures before the job fails (default 0)");
  app.add_option(Names("--monitor-interval"), monitor,
                 "Seconds between checks of worker and membership state (default 0.1)");
  app.add_option(Names("--master-addr"), c.master_addr,
                 "Address of node 0 for --rdzv-backend static (default 127.0.0.1); exported "
                 "to workers as MASTER_ADDR");
  CLI::Option* master_port_opt = app.add_option(Names("--master-port"), c.master_port,
                 "Store port on node 0 for --rdzv-backend static (default 29500; a single-node "
                 "job without this flag uses a free port)");
  app.add_option(Names("--local-addr"), c.local_addr,
                 "Address other nodes reach this node at (default: the host name)");
  app.add_option(Names("--log-dir"), c.log_dir,
                 "Folder for per-worker logs: LOG_DIR/RUN_ID/attempt_N/LOCAL_RANK/{stdout,stderr}.log");
  app.add_option(Names("--redirects") + ",-r", redirects,
                 "Send worker streams only to the log files: 0 none, 1 stdout, 2 stderr, 3 both "
                 "(needs --log-dir)");
  app.add_option(Names("--tee") + ",-t", tee,
                 "Send worker streams to the console and the log files: 0-3 as --redirects");
  app.add_option(Names("--local-ranks-filter"), ranks_filter,
                 "Comma-separated local ranks whose output goes to the console (e.g. 0,2); the "
                 "others still run and still write their --log-dir files (default: all)");
  app.add_option(Names("--cpu-bind"), cpu_bind,
                 "'cores': pin local rank r to the r-th of nproc-per-node equal shares of "
                 "braidrun's CPUs; 'none' (default): inherit");
  app.add_option(Names("--stop-timeout"), stop_timeout,
                 "Seconds between SIGTERM and SIGKILL when stopping workers (default 10)");
  app.add_option(Names("--job-token-file"), c.job_token_file,
                 "File holding the job token (required for multi-node jobs unless "
                 "BRAID_JOB_TOKEN is set)");
  app.add_flag(Names("--no-python"), no_python,
               "Accepted for torchrun compatibility; braidrun always runs PROGRAM directly");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    parsed.exit_now = true;
    parsed.exit_message = app.help();
    return parsed;
  } catch (const CLI::ParseError& e) {
    return Bad(e.what());
  }
  c.command = app.remaining();
  if (!c.command.empty() && c.command[0] == "--") c.command.erase(c.command.begin());
  if (c.command.empty()) return Bad("no worker program given: braidrun [flags] PROGRAM [ARGS...]");
  if (c.command[0].size() > 1 && c.command[0][0] == '-') {
    return Bad(absl::StrCat("unknown flag '", c.command[0], "'"));
  }

  if (absl::Status s = ParseNodeRange(nnodes, &c.min_nodes, &c.max_nodes); !s.ok()) return s;
  if (nproc == "cpu" || nproc == "auto") {
    c.nproc_per_node = std::max(1u, std::thread::hardware_concurrency());
  } else if (!absl::SimpleAtoi(nproc, &c.nproc_per_node) || c.nproc_per_node < 1) {
    return Bad(absl::StrCat("--nproc-per-node: '", nproc, "' is not a positive number, 'cpu' or 'auto'"));
  }
  if (!conf.empty()) {
    for (absl::string_view kv : absl::StrSplit(conf, ',', absl::SkipEmpty())) {
      std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      if (p.first.empty() || kv.find('=') == absl::string_view::npos) {
        return Bad(absl::StrCat("--rdzv-conf: '", kv, "' is not key=value"));
      }
      if (p.first != "join_timeout" && p.first != "last_call_timeout" &&
          p.first != "read_timeout" && p.first != "close_timeout" && p.first != "heartbeat") {
        return Bad(absl::StrCat("--rdzv-conf: unknown key '", p.first,
                                "'; known keys: join_timeout, last_call_timeout, read_timeout, "
                                "close_timeout, heartbeat"));
      }
      c.rdzv_conf[p.first] = p.second;
    }
  }
  auto conf_seconds = [&](const char* key, absl::Duration* out, bool allow_zero) -> absl::Status {
    auto it = c.rdzv_conf.find(key);
    if (it == c.rdzv_conf.end()) return absl::OkStatus();
    auto d = ParseSeconds(absl::StrCat("--rdzv-conf ", key), it->second, allow_zero);
    if (!d.ok()) return d.status();
    *out = *d;
    return absl::OkStatus();
  };
  auto timeout_d = ParseSeconds("--rdzv-timeout", timeout, false);
  if (!timeout_d.ok()) return timeout_d.status();
  c.rdzv_timeout = *timeout_d;
  if (absl::Status s = conf_seconds("join_timeout", &c.rdzv_timeout, false); !s.ok()) return s;
  if (absl::Status s = conf_seconds("last_call_timeout", &c.rdzv_last_call, true); !s.ok()) return s;
  if (absl::Status s = conf_seconds("heartbeat", &c.rdzv_heartbeat, false); !s.ok()) return s;
  if (absl::Status s = conf_seconds("read_timeout", &c.rdzv_read_timeout, false); !s.ok()) {
    return s;
  }
  if (absl::Status s = conf_seconds("close_timeout", &c.rdzv_close_timeout, false); !s.ok()) {
    return s;
  }
  if (!last_call.empty()) {
    auto d = ParseSeconds("--rdzv-last-call", last_call, true);
    if (!d.ok()) return d.status();
    c.rdzv_last_call = *d;
  }
  auto monitor_d = ParseSeconds("--monitor-interval", monitor, false);
  if (!monitor_d.ok()) return monitor_d.status();
  c.monitor_interval = *monitor_d;
  auto stop_d = ParseSeconds("--stop-timeout", stop_timeout, true);
  if (!stop_d.ok()) return stop_d.status();
  c.stop_timeout = *stop_d;
  auto r = ParseStreamSelection(redirects);
  if (!r.ok()) return Bad(absl::StrCat("--redirects: ", r.status().message()));
  c.redirects = *r;
  auto t = ParseStreamSelection(tee);
  if (!t.ok()) return Bad(absl::StrCat("--tee: ", t.status().message()));
  c.tee = *t;
  if ((c.redirects.stdout_selected || c.redirects.stderr_selected || c.tee.stdout_selected ||
       c.tee.stderr_selected) &&
      c.log_dir.empty()) {
    return Bad("--redirects/--tee need --log-dir");
  }
  if (c.max_restarts < 0) return Bad("--max-restarts must be >= 0");
  for (absl::string_view r : absl::StrSplit(ranks_filter, ',', absl::SkipWhitespace())) {
    int local_rank;
    if (!absl::SimpleAtoi(r, &local_rank) || local_rank < 0 || local_rank >= c.nproc_per_node) {
      return Bad(absl::StrCat("--local-ranks-filter: '", r, "' is not a local rank 0..",
                              c.nproc_per_node - 1, " (comma-separated, e.g. 0,2)"));
    }
    c.local_ranks_filter.insert(local_rank);
  }
  if (!ranks_filter.empty() && c.local_ranks_filter.empty()) {
    return Bad("--local-ranks-filter: give at least one local rank, e.g. 0,2");
  }
  const std::string bind = absl::AsciiStrToLower(cpu_bind);
  if (bind == "none") {
    c.cpu_bind = CpuBind::kNone;
  } else if (bind == "cores") {
    c.cpu_bind = CpuBind::kCores;
  } else {
    return Bad(absl::StrCat("--cpu-bind: '", cpu_bind, "' is not none or cores"));
  }
  c.master_port_given = master_port_opt->count() > 0;
  if (c.master_port < 0 || c.master_port > 65535) return Bad("--master-port must be 0..65535");

  const std::string b = absl::AsciiStrToLower(backend);
  if (b.empty() || b == "static") {
    c.rdzv_backend = RdzvBackend::kStatic;
  } else if (b == "braid" || b == "c10d") {
    c.rdzv_backend = RdzvBackend::kBraid;
  } else if (b == "etcd" || b == "etcd-v2") {
    c.rdzv_backend = RdzvBackend::kEtcd;
  } else {
    return Bad(absl::StrCat("--rdzv-backend: '", backend, "' is not braid, etcd or static"));
  }
  if (c.standalone) {
    if (c.max_nodes != 1) return Bad("--standalone is for single-node jobs (--nnodes 1)");
    c.rdzv_backend = RdzvBackend::kBraid;
    c.rdzv_endpoint = "127.0.0.1:0";
  }
  if (c.rdzv_backend == RdzvBackend::kStatic) {
    if (c.elastic()) {
      return Bad("--rdzv-backend static needs a fixed --nnodes N; use braid or etcd for MIN:MAX");
    }
    if (c.max_nodes > 1 && (c.node_rank < 0 || c.node_rank >= c.max_nodes)) {
      return Bad(absl::StrCat("--rdzv-backend static with --nnodes ", c.max_nodes,
                              " needs --node-rank in 0..", c.max_nodes - 1));
    }
    if (c.max_nodes == 1 && c.node_rank < 0) c.node_rank = 0;
  } else if (c.rdzv_endpoint.empty()) {
    if (c.max_nodes > 1) {
      return Bad(absl::StrCat("--rdzv-backend ", ToString(c.rdzv_backend),
                              " with more than one node needs --rdzv-endpoint"));
    }
    c.rdzv_endpoint = "127.0.0.1:0";
  }
  return parsed;
}

}  // namespace braid::launcher
