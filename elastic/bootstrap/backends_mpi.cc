// The mpi backend is built: MpiRuntime wraps collectives::MpiSession.
#include <memory>
#include <string>
#include <utility>

#include "collectives/mpi/mpi_communicator.h"
#include "collectives/mpi/mpi_session.h"
#include "elastic/bootstrap/backends.h"
#include "runtime/status_macros.h"

namespace braid::elastic::bootstrap_internal {
namespace {

class SessionRuntime final : public MpiRuntime {
 public:
  explicit SessionRuntime(std::unique_ptr<collectives::MpiSession> session)
      : session_(std::move(session)) {}

  int world_rank() const override { return session_->world_rank(); }
  int world_size() const override { return session_->world_size(); }
  absl::StatusOr<std::string> BroadcastString(std::string value_on_root, int root,
                                              absl::Time deadline) override {
    return collectives::BroadcastString(*session_, std::move(value_on_root), root, deadline);
  }
  absl::Status RegisterBackend(collectives::CommunicatorFactory& factory) override {
    return collectives::RegisterMpiBackend(factory, *session_);
  }

 private:
  std::unique_ptr<collectives::MpiSession> session_;
};

}  // namespace

bool MpiBuilt() { return true; }

absl::StatusOr<std::unique_ptr<MpiRuntime>> StartMpi(absl::Duration timeout) {
  collectives::MpiSession::Options options;
  options.init_timeout = timeout;
  BRAID_ASSIGN_OR_RETURN(std::unique_ptr<collectives::MpiSession> session,
                         collectives::MpiSession::Create(options));
  return std::make_unique<SessionRuntime>(std::move(session));
}

}  // namespace braid::elastic::bootstrap_internal
