// The only braid code that reads the environment (see config.h).
#include "runtime/config.h"

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "runtime/status_macros.h"

extern char** environ;

namespace braid::runtime {
namespace {

using VarMap = std::map<std::string, std::string>;

// Every BRAID_* knob Config understands (keep docs/configuration.md in step).
constexpr absl::string_view kKnobs[] = {
    "BRAID_LOG_LEVEL",  "BRAID_TRACE",       "BRAID_STORE_ADDR",    "BRAID_JOB_TOKEN",
    "BRAID_GENERATION", "BRAID_RESTART_COUNT", "BRAID_BACKEND",     "BRAID_DETERMINISTIC",
    "BRAID_OP_TIMEOUT", "BRAID_SOCKET_IFNAME", "BRAID_RUN_ID",        "BRAID_MEMBERSHIP_KEY",
    "BRAID_ERROR_FILE", "BRAID_DEBUG",
};

std::optional<std::string> Lookup(const VarMap& vars, const std::string& name) {
  auto it = vars.find(name);
  if (it == vars.end()) return std::nullopt;
  return it->second;
}

absl::Status Invalid(absl::string_view name, absl::string_view value, absl::string_view problem,
                     absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(name, "='", value, "' ", problem, "; expected ", expected));
}

// An integer in [min, max].
absl::StatusOr<int64_t> ParseInt(absl::string_view name, absl::string_view value, int64_t min,
                                 int64_t max, absl::string_view expected) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &v)) {
    return Invalid(name, value, "is not an integer", expected);
  }
  if (v < min || v > max) return Invalid(name, value, "is out of range", expected);
  return v;
}

absl::StatusOr<int> ParseIntVar(const VarMap& vars, const std::string& name, int64_t min,
                                int64_t max, absl::string_view expected) {
  BRAID_ASSIGN_OR_RETURN(int64_t v, ParseInt(name, vars.at(name), min, max, expected));
  return static_cast<int>(v);
}

absl::StatusOr<bool> ParseBool(absl::string_view name, absl::string_view value) {
  const std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off" || v.empty()) return false;
  return Invalid(name, value, "is not a boolean", "1/0, true/false, yes/no or on/off");
}

absl::StatusOr<absl::Duration> ParseDurationVar(absl::string_view name, absl::string_view value) {
  const absl::string_view v = absl::StripAsciiWhitespace(value);
  constexpr absl::string_view kExpected =
      "a positive duration such as '30s', '5m', '1h30m' or plain seconds '90'";
  double seconds = 0;
  absl::Duration d;
  if (absl::SimpleAtod(v, &seconds)) {
    d = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(v, &d)) {
    return Invalid(name, value, "is not a duration", kExpected);
  }
  if (d <= absl::ZeroDuration()) return Invalid(name, value, "is not positive", kExpected);
  return d;
}

// The first host of a Slurm host list: "node[01-04,07],gpu1" -> "node01".
std::string FirstSlurmHost(absl::string_view list) {
  list = absl::StripAsciiWhitespace(list);
  const size_t bracket = list.find('[');
  const size_t comma = list.find(',');
  if (bracket == absl::string_view::npos || (comma != absl::string_view::npos && comma < bracket)) {
    return std::string(list.substr(0, comma));
  }
  const size_t close = list.find(']', bracket);
  if (close == absl::string_view::npos) return std::string(list.substr(0, bracket));
  const absl::string_view inside = list.substr(bracket + 1, close - bracket - 1);
  const absl::string_view first = inside.substr(0, inside.find_first_of(",-"));
  absl::string_view suffix = list.substr(close + 1);
  suffix = suffix.substr(0, suffix.find(','));
  return absl::StrCat(list.substr(0, bracket), first, suffix);
}

// Tasks on node `node` from a Slurm tasks-per-node list "2(x3),1" (node 0..2
// run 2 tasks, node 3 runs 1). nullopt when malformed or too short.
std::optional<int> SlurmTasksOnNode(absl::string_view spec, int node) {
  int seen = 0;
  for (absl::string_view part : absl::StrSplit(spec, ',')) {
    int tasks = 0, repeat = 1;
    absl::string_view count = part;
    if (const size_t paren = part.find("(x"); paren != absl::string_view::npos) {
      count = part.substr(0, paren);
      absl::string_view rep = part.substr(paren + 2);
      if (!absl::ConsumeSuffix(&rep, ")") || !absl::SimpleAtoi(rep, &repeat) || repeat < 1) {
        return std::nullopt;
      }
    }
    if (!absl::SimpleAtoi(count, &tasks) || tasks < 1) return std::nullopt;
    if (node < seen + repeat) return tasks;
    seen += repeat;
  }
  return std::nullopt;
}

// Checks that both or neither of a pair of variables are set.
absl::Status RequirePair(const VarMap& vars, const std::string& a, const std::string& b,
                         absl::string_view why) {
  const bool has_a = vars.count(a) > 0, has_b = vars.count(b) > 0;
  if (has_a == has_b) return absl::OkStatus();
  const std::string& set = has_a ? a : b;
  const std::string& missing = has_a ? b : a;
  return absl::InvalidArgumentError(absl::StrCat(set, "='", vars.at(set), "' is set but ",
                                                 missing, " is not; ", why));
}

absl::Status ParseLocal(const VarMap& vars, const std::string& rank_var,
                        const std::string& size_var, World* world) {
  BRAID_RETURN_IF_ERROR(
      RequirePair(vars, rank_var, size_var, "a launcher sets both; set both or neither"));
  if (vars.count(rank_var) == 0) {
    world->local_rank = world->global_rank;
    world->local_world_size = world->world_size;
    return absl::OkStatus();
  }
  const std::string size_expected = absl::StrCat("1 <= ", size_var, " <= the world size ",
                                                 world->world_size);
  BRAID_ASSIGN_OR_RETURN(world->local_world_size,
                         ParseIntVar(vars, size_var, 1, world->world_size, size_expected));
  BRAID_ASSIGN_OR_RETURN(
      world->local_rank,
      ParseIntVar(vars, rank_var, 0, world->local_world_size - 1,
                  absl::StrCat("0 <= ", rank_var, " < ", size_var, " (", world->local_world_size,
                               ")")));
  return absl::OkStatus();
}

// global rank and size from a (rank, size) pair of variables.
absl::Status ParseGlobal(const VarMap& vars, const std::string& rank_var,
                         const std::string& size_var, World* world) {
  BRAID_RETURN_IF_ERROR(
      RequirePair(vars, rank_var, size_var, "a launcher sets both; set both or neither"));
  BRAID_ASSIGN_OR_RETURN(world->world_size,
                         ParseIntVar(vars, size_var, 1, 1 << 24, absl::StrCat(size_var, " >= 1")));
  BRAID_ASSIGN_OR_RETURN(
      world->global_rank,
      ParseIntVar(vars, rank_var, 0, world->world_size - 1,
                  absl::StrCat("0 <= ", rank_var, " < ", size_var, " (", world->world_size, ")")));
  return absl::OkStatus();
}

absl::Status ParseBraidrun(const VarMap& vars, World* world) {
  world->launcher = Launcher::kBraidrun;
  BRAID_RETURN_IF_ERROR(ParseGlobal(vars, "RANK", "WORLD_SIZE", world));
  BRAID_RETURN_IF_ERROR(ParseLocal(vars, "LOCAL_RANK", "LOCAL_WORLD_SIZE", world));
  world->node_rank = 0;
  if (vars.count("GROUP_RANK") > 0) {
    BRAID_ASSIGN_OR_RETURN(world->node_rank,
                           ParseIntVar(vars, "GROUP_RANK", 0, world->world_size - 1,
                                       "0 <= GROUP_RANK < the number of nodes"));
  }
  return absl::OkStatus();
}

absl::Status ParseMpirun(const VarMap& vars, World* world) {
  world->launcher = Launcher::kMpirun;
  world->node_rank = -1;  // Open MPI does not say which node this is
  if (vars.count("OMPI_COMM_WORLD_RANK") > 0) {
    BRAID_RETURN_IF_ERROR(
        ParseGlobal(vars, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", world));
  } else {
    VarMap pmix = vars;  // PMIX_RANK stands in for the rank
    pmix["OMPI_COMM_WORLD_RANK"] = vars.at("PMIX_RANK");
    if (vars.count("OMPI_COMM_WORLD_SIZE") == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "PMIX_RANK='", vars.at("PMIX_RANK"),
          "' is set but OMPI_COMM_WORLD_SIZE is not; start the job with Open MPI's mpirun, "
          "or set RANK and WORLD_SIZE"));
    }
    BRAID_RETURN_IF_ERROR(
        ParseGlobal(pmix, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", world));
  }
  return ParseLocal(vars, "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", world);
}

absl::Status ParseSlurm(const VarMap& vars, World* world) {
  world->launcher = Launcher::kSlurm;
  const std::string size_var =
      vars.count("SLURM_STEP_NUM_TASKS") > 0 ? "SLURM_STEP_NUM_TASKS" : "SLURM_NTASKS";
  if (vars.count(size_var) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SLURM_PROCID='", vars.at("SLURM_PROCID"),
        "' is set but neither SLURM_STEP_NUM_TASKS nor SLURM_NTASKS is; run under srun"));
  }
  BRAID_RETURN_IF_ERROR(ParseGlobal(vars, "SLURM_PROCID", size_var, world));
  world->node_rank = 0;
  if (vars.count("SLURM_NODEID") > 0) {
    BRAID_ASSIGN_OR_RETURN(world->node_rank,
                           ParseIntVar(vars, "SLURM_NODEID", 0, world->world_size - 1,
                                       "0 <= SLURM_NODEID < the number of nodes"));
  }
  const std::string per_node_var = vars.count("SLURM_STEP_TASKS_PER_NODE") > 0
                                       ? "SLURM_STEP_TASKS_PER_NODE"
                                       : "SLURM_TASKS_PER_NODE";
  if (vars.count("SLURM_LOCALID") > 0 && vars.count(per_node_var) > 0) {
    std::optional<int> local = SlurmTasksOnNode(vars.at(per_node_var), world->node_rank);
    if (!local.has_value() || *local > world->world_size) {
      return Invalid(per_node_var, vars.at(per_node_var),
                     absl::StrCat("has no valid entry for node ", world->node_rank),
                     "a list like '2(x3),1' covering every node");
    }
    VarMap local_vars = vars;
    local_vars["SLURM_LOCAL_SIZE"] = absl::StrCat(*local);
    return ParseLocal(local_vars, "SLURM_LOCALID", "SLURM_LOCAL_SIZE", world);
  }
  if (vars.count("SLURM_LOCALID") > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SLURM_LOCALID='", vars.at("SLURM_LOCALID"), "' is set but ", per_node_var,
        " is not; run under srun, which sets both"));
  }
  world->local_rank = world->global_rank;
  world->local_world_size = world->world_size;
  return absl::OkStatus();
}

}  // namespace

absl::string_view ToString(Launcher launcher) {
  switch (launcher) {
    case Launcher::kNone: return "none";
    case Launcher::kBraidrun: return "braidrun";
    case Launcher::kMpirun: return "mpirun";
    case Launcher::kSlurm: return "slurm";
  }
  return "invalid";
}

std::string World::DebugString() const {
  std::string out = absl::StrCat("rank ", global_rank, "/", world_size, " (local ", local_rank,
                                 "/", local_world_size, ", node ", node_rank, ") via ",
                                 ToString(launcher));
  if (!master_addr.empty()) absl::StrAppend(&out, ", master ", master_addr, ":", master_port);
  return out;
}

absl::StatusOr<World> ParseWorld(const VarMap& vars) {
  World world;
  if (vars.count("RANK") > 0 || vars.count("WORLD_SIZE") > 0) {
    BRAID_RETURN_IF_ERROR(ParseBraidrun(vars, &world));
  } else if (vars.count("OMPI_COMM_WORLD_RANK") > 0 || vars.count("PMIX_RANK") > 0) {
    BRAID_RETURN_IF_ERROR(ParseMpirun(vars, &world));
  } else if (vars.count("SLURM_PROCID") > 0 && vars.count("SLURM_STEP_ID") > 0) {
    BRAID_RETURN_IF_ERROR(ParseSlurm(vars, &world));
    if (vars.count("SLURM_STEP_NODELIST") > 0) {
      world.master_addr = FirstSlurmHost(vars.at("SLURM_STEP_NODELIST"));
    }
  } else if (vars.count("LOCAL_RANK") > 0 || vars.count("LOCAL_WORLD_SIZE") > 0) {
    const std::string set = vars.count("LOCAL_RANK") > 0 ? "LOCAL_RANK" : "LOCAL_WORLD_SIZE";
    return absl::InvalidArgumentError(
        absl::StrCat(set, "='", vars.at(set),
                     "' is set but RANK and WORLD_SIZE are not; set all of them (braidrun and "
                     "torchrun do) or none"));
  }

  // Under srun the host may come from the node list: MASTER_PORT alone is
  // enough then.
  const bool slurm_host = world.launcher == Launcher::kSlurm && !world.master_addr.empty() &&
                          vars.count("MASTER_ADDR") == 0;
  if (!slurm_host) {
    BRAID_RETURN_IF_ERROR(RequirePair(vars, "MASTER_ADDR", "MASTER_PORT",
                                      "the rendezvous address needs both host and port"));
  }
  if (slurm_host && vars.count("MASTER_PORT") > 0) {
    BRAID_ASSIGN_OR_RETURN(world.master_port,
                           ParseIntVar(vars, "MASTER_PORT", 1, 65535, "a port 1..65535"));
  }
  if (vars.count("MASTER_ADDR") > 0) {
    world.master_addr = std::string(absl::StripAsciiWhitespace(vars.at("MASTER_ADDR")));
    if (world.master_addr.empty()) {
      return Invalid("MASTER_ADDR", vars.at("MASTER_ADDR"), "is empty",
                     "a host name or IP address");
    }
    BRAID_ASSIGN_OR_RETURN(world.master_port,
                           ParseIntVar(vars, "MASTER_PORT", 1, 65535, "a port 1..65535"));
  }
  return world;
}

absl::StatusOr<Config> Config::FromMap(const VarMap& vars) {
  Config config;
  if (auto v = Lookup(vars, "BRAID_LOG_LEVEL")) {
    absl::StatusOr<ParsedLogLevel> level = ParseLogLevel(*v);
    if (!level.ok()) {
      return Invalid("BRAID_LOG_LEVEL", *v, "is not a log level",
                     "debug, info, warning or error (or debug:N)");
    }
    config.log_level = level->level;
    config.vlog_level = level->vlog_level;
  }
  if (auto v = Lookup(vars, "BRAID_TRACE")) config.trace_dir = *v;
  if (auto v = Lookup(vars, "BRAID_STORE_ADDR")) {
    config.store_addr = std::string(absl::StripAsciiWhitespace(*v));
    const size_t colon = config.store_addr.rfind(':');
    int port = 0;
    if (!config.store_addr.empty() &&
        (colon == std::string::npos || colon == 0 ||
         !absl::SimpleAtoi(absl::string_view(config.store_addr).substr(colon + 1), &port) ||
         port < 1 || port > 65535)) {
      return Invalid("BRAID_STORE_ADDR", *v, "is not host:port",
                     "'host:port' with a port 1..65535, e.g. '10.0.0.1:29400'");
    }
  }
  if (auto v = Lookup(vars, "BRAID_JOB_TOKEN")) config.job_token = *v;
  if (auto v = Lookup(vars, "BRAID_RUN_ID")) config.run_id = *v;
  if (auto v = Lookup(vars, "BRAID_MEMBERSHIP_KEY")) config.membership_key = *v;
  if (auto v = Lookup(vars, "BRAID_GENERATION")) {
    BRAID_ASSIGN_OR_RETURN(config.generation,
                           ParseInt("BRAID_GENERATION", *v, 0, INT64_MAX, "an integer >= 0"));
  }
  {
    const char* name = vars.count("BRAID_RESTART_COUNT") > 0 ? "BRAID_RESTART_COUNT"
                       : vars.count("TORCHELASTIC_RESTART_COUNT") > 0
                           ? "TORCHELASTIC_RESTART_COUNT"
                           : nullptr;
    if (name != nullptr) {
      BRAID_ASSIGN_OR_RETURN(config.restart_count,
                             ParseIntVar(vars, name, 0, INT32_MAX, "an integer >= 0"));
    }
  }
  if (auto v = Lookup(vars, "BRAID_BACKEND")) {
    const std::string b = absl::AsciiStrToLower(absl::StripAsciiWhitespace(*v));
    const bool ok = !b.empty() && std::all_of(b.begin(), b.end(), [](char c) {
      return absl::ascii_isalnum(c) || c == '_' || c == ',' || c == ':';
    });
    if (!ok) {
      return Invalid("BRAID_BACKEND", *v, "is not a backend list",
                     "a backend name such as 'tcp', 'mpi' or 'nccl', or 'cpu:tcp,cuda:nccl'");
    }
    config.backend = b;
  }
  if (auto v = Lookup(vars, "BRAID_DETERMINISTIC")) {
    BRAID_ASSIGN_OR_RETURN(config.deterministic, ParseBool("BRAID_DETERMINISTIC", *v));
  }
  if (auto v = Lookup(vars, "BRAID_OP_TIMEOUT")) {
    BRAID_ASSIGN_OR_RETURN(config.op_timeout, ParseDurationVar("BRAID_OP_TIMEOUT", *v));
  }
  if (auto v = Lookup(vars, "BRAID_ERROR_FILE")) {
    config.error_file = *v;
  } else if (auto t = Lookup(vars, "TORCHELASTIC_ERROR_FILE")) {
    config.error_file = *t;
  }
  if (auto v = Lookup(vars, "BRAID_DEBUG")) {
    if (*v == "detail" || *v == "DETAIL") {
      config.debug_detail = true;
    } else if (!v->empty() && *v != "off" && *v != "OFF") {
      return Invalid("BRAID_DEBUG", *v, "is not a debug mode", "'off' or 'detail'");
    }
  }
  if (auto v = Lookup(vars, "BRAID_SOCKET_IFNAME")) {
    for (absl::string_view name : absl::StrSplit(*v, ',', absl::SkipWhitespace())) {
      config.socket_ifnames.emplace_back(absl::StripAsciiWhitespace(name));
    }
  }
  BRAID_ASSIGN_OR_RETURN(config.world, ParseWorld(vars));

  for (const auto& [name, value] : vars) {
    if (!absl::StartsWith(name, "BRAID_") || absl::StartsWith(name, "BRAID_TEST_")) continue;
    if (std::find(std::begin(kKnobs), std::end(kKnobs), name) == std::end(kKnobs)) {
      config.unknown_variables.push_back(name);
    }
  }
  return config;
}

absl::StatusOr<Config> Config::FromEnvironment() {
  VarMap vars;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) continue;
    vars.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return FromMap(vars);
}

}  // namespace braid::runtime
