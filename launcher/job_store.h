// The store a braidrun agent coordinates through, chosen from its flags.
//
//   --rdzv-backend braid  the embedded store at --rdzv-endpoint. The agent
//                         whose host matches the endpoint host (a loopback
//                         name, the host name, or an address of a local
//                         interface) and can bind its port hosts it in-process
//                         (torchrun's rule); when the port is already bound
//                         (another agent on the same machine got there first)
//                         it is a client like every other agent. Port 0 (only
//                         for single-node jobs): an ephemeral port.
//   --rdzv-backend etcd   an EtcdStore on the comma-separated endpoints.
//   --rdzv-backend static the embedded store at --master-addr:--master-port,
//                         hosted by --node-rank 0. A single-node job without
//                         --master-port uses an ephemeral port.
//
// The hosting agent must outlive the job: when it exits, the store and the
// job's coordination go with it (as in torchrun).
#ifndef BRAID_LAUNCHER_JOB_STORE_H_
#define BRAID_LAUNCHER_JOB_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "elastic/store/store_server.h"
#include "launcher/flags.h"
#include "runtime/store.h"

namespace braid::launcher {

struct JobStore {
  // Set when this agent hosts the embedded store.
  std::unique_ptr<elastic::StoreServer> server;
  // The agent's connection.
  std::unique_ptr<runtime::Store> store;
  // BRAID_STORE_ADDR for workers: "host:port" of the embedded store, or
  // "etcd://host:port[,host:port]" for etcd.
  std::string worker_address;
  // Prefix under which the rendezvous keeps its keys.
  std::string key_prefix = "/braid/";
};

// Opens (and maybe hosts) the store. kInvalidArgument for a malformed
// endpoint; kUnavailable when it cannot be reached by `connect_timeout`;
// kUnauthenticated for a wrong job token.
absl::StatusOr<JobStore> OpenJobStore(const LaunchConfig& config, const std::string& job_token,
                                      absl::Duration connect_timeout);

// True when `host` names this machine (loopback, the host name, or an
// address of one of its interfaces).
bool IsLocalHost(absl::string_view host);

// The job token: BRAID_JOB_TOKEN, else the file --job-token-file, else (a
// single-node job only) 32 random bytes from the kernel's CSPRNG as hex.
// kInvalidArgument for a multi-node job without a token, or an empty or
// unreadable token file.
absl::StatusOr<std::string> ResolveJobToken(const LaunchConfig& config);

// A TCP port that was free on `host` a moment ago (0 when none was found).
int PickFreePort(const std::string& host);

}  // namespace braid::launcher

#endif  // BRAID_LAUNCHER_JOB_STORE_H_
