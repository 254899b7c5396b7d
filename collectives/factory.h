// CommunicatorFactory: creates communicators by backend name ("tcp", "mpi",
// "nccl"), so code above collectives never names a backend class.
//
// Backends are registered explicitly by the composition root (elastic::
// Bootstrap) from the targets that were built; there is no static
// registration. Thread-safety: Register must happen before concurrent Create
// calls; Create is thread-safe.
#ifndef BRAID_COLLECTIVES_FACTORY_H_
#define BRAID_COLLECTIVES_FACTORY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "runtime/store.h"

namespace braid::collectives {

// What every backend needs to form a group.
struct CommunicatorOptions {
  // This process's rank and the group size. REQUIRED.
  int rank = -1;
  int size = 0;
  // Used to exchange addresses / unique ids at creation. REQUIRED; borrowed,
  // must outlive creation (backends may keep it for Split/Shrink and must then
  // document that it must outlive the communicator).
  runtime::Store* store = nullptr;
  // Namespace for this group's keys in the store; different concurrent groups
  // need different prefixes. Default "braid/comm/".
  std::string store_prefix = "braid/comm/";
  // Creation (connect) must finish by this time.
  absl::Duration connect_timeout = absl::Seconds(60);
  // No operation runs longer than this; then it fails with kAborted naming the
  // peers it waited for. Default 5 minutes (a long compute step on one rank
  // must not look like a failure).
  absl::Duration op_timeout = absl::Minutes(5);
  // Fixed reduction order: results bit-identical on every rank and across runs.
  bool deterministic = false;
  // Backend-specific settings, "key" -> "value" (documented by each backend).
  std::map<std::string, std::string> backend_options;
};

using BackendCreateFn =
    std::function<absl::StatusOr<std::unique_ptr<Communicator>>(const CommunicatorOptions&)>;

class CommunicatorFactory {
 public:
  // Adds a backend; kAlreadyExists when the name is taken.
  absl::Status Register(std::string name, BackendCreateFn create);

  // Creates a communicator of `backend`. kNotFound (listing the registered
  // backends) for an unknown name; kInvalidArgument for bad options.
  absl::StatusOr<std::unique_ptr<Communicator>> Create(absl::string_view backend,
                                                       const CommunicatorOptions& options) const;

  // Registered names, sorted.
  std::vector<std::string> Backends() const;

 private:
  std::map<std::string, BackendCreateFn, std::less<>> backends_;
};

}  // namespace braid::collectives

#endif  // BRAID_COLLECTIVES_FACTORY_H_
