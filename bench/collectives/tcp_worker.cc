// The worker for braid's native "tcp" backend: a StoreClient of the parent's
// store, the communicator from the factory, the shared sweep.
#include <memory>

#include "bench/collectives/communicator_group.h"
#include "bench/collectives/workers.h"
#include "collectives/factory.h"
#include "collectives/tcp/tcp_backend.h"
#include "elastic/store/store_client.h"

namespace braid::bench {

absl::Status RunTcpWorker(const WorkerArgs& args) {
  elastic::StoreClientOptions store_options;
  store_options.address = args.store_address;
  absl::StatusOr<std::unique_ptr<elastic::StoreClient>> store =
      elastic::StoreClient::Create(store_options);
  if (!store.ok()) return store.status();
  collectives::CommunicatorFactory factory;
  if (absl::Status s = collectives::tcp::RegisterTcpBackend(factory); !s.ok()) return s;
  collectives::CommunicatorOptions o;
  o.rank = args.rank;
  o.size = args.world_size;
  o.store = store->get();
  o.store_prefix = args.store_prefix;
  o.connect_timeout = absl::Seconds(60);
  o.op_timeout = absl::Seconds(120);
  o.backend_options = args.tcp_options;
  o.backend_options.emplace("host", "127.0.0.1");
  absl::StatusOr<std::unique_ptr<collectives::Communicator>> comm = factory.Create("tcp", o);
  if (!comm.ok()) return comm.status();
  CommunicatorGroup group(**comm);
  return RunSweep(group, args.sweep, args.result_path);
}

}  // namespace braid::bench
