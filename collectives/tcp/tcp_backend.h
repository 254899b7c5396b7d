// Registers the native "tcp" backend with a CommunicatorFactory. Called by
// the composition root (elastic::Bootstrap); there is no static registration.
//
//   CommunicatorFactory factory;
//   BRAID_RETURN_IF_ERROR(collectives::tcp::RegisterTcpBackend(factory));
//   auto comm = factory.Create("tcp", options);
//
// The backend's options (CommunicatorOptions.backend_options) are listed in
// tcp_options.h; the wire format in docs/tcp_wire.md.
#ifndef BRAID_COLLECTIVES_TCP_TCP_BACKEND_H_
#define BRAID_COLLECTIVES_TCP_TCP_BACKEND_H_

#include "absl/status/status.h"
#include "collectives/factory.h"

namespace braid::collectives::tcp {

// kAlreadyExists when "tcp" is already registered.
absl::Status RegisterTcpBackend(CommunicatorFactory& factory);

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_TCP_BACKEND_H_
