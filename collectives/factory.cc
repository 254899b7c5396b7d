#include "collectives/factory.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace braid::collectives {

absl::string_view ToString(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kProd: return "prod";
    case ReduceOp::kMin: return "min";
    case ReduceOp::kMax: return "max";
    case ReduceOp::kAvg: return "avg";
  }
  return "invalid";
}

absl::Status CommunicatorFactory::Register(std::string name, BackendCreateFn create) {
  if (backends_.count(name) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("backend '", name, "' is already registered"));
  }
  backends_.emplace(std::move(name), std::move(create));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Communicator>> CommunicatorFactory::Create(
    absl::string_view backend, const CommunicatorOptions& options) const {
  auto it = backends_.find(backend);
  if (it == backends_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown backend '", backend,
                                            "'; this build has: ", absl::StrJoin(Backends(), ", ")));
  }
  if (options.size <= 0 || options.rank < 0 || options.rank >= options.size) {
    return absl::InvalidArgumentError(absl::StrCat("bad rank ", options.rank, " for size ",
                                                   options.size, " creating a '", backend,
                                                   "' communicator"));
  }
  if (options.store == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("CommunicatorOptions.store is null creating a '", backend, "' communicator"));
  }
  return it->second(options);
}

std::vector<std::string> CommunicatorFactory::Backends() const {
  std::vector<std::string> names;
  for (const auto& [name, fn] : backends_) names.push_back(name);
  return names;
}

}  // namespace braid::collectives
