#include "collectives/tcp/tcp_backend.h"

#include "collectives/tcp/tcp_communicator.h"

namespace braid::collectives::tcp {

absl::Status RegisterTcpBackend(CommunicatorFactory& factory) {
  return factory.Register(
      "tcp", [](const CommunicatorOptions& options) -> absl::StatusOr<std::unique_ptr<Communicator>> {
        absl::StatusOr<std::unique_ptr<TcpCommunicator>> comm = TcpCommunicator::Create(options);
        if (!comm.ok()) return comm.status();
        return std::unique_ptr<Communicator>(std::move(*comm));
      });
}

}  // namespace braid::collectives::tcp
