// OpContext: what a collective algorithm sees of the transport while it runs
// on the communicator's executor thread: group ranks, this operation's
// sequence number and deadline, and blocking point-to-point primitives on
// byte ranges. Algorithms (one per file, algorithms.h) are sequential code
// over these primitives, Gloo style.
//
// Send returns once the bytes are in the kernel (the receiver's progress
// thread reads eagerly), so "Send then Recv" between two ranks never
// deadlocks. Recv/RecvReduce wait for the matching bytes of the same step
// (tag) of the same operation from that peer. Every primitive stops with the
// communicator's error once it is broken (peer death, Abort, abort frame)
// and with kAborted naming the peer at the operation's deadline.
//
// A message of one step may be sent and received in pieces: `offset` is the
// position of the piece within the step's message; pieces of one (peer, tag)
// must be received in the order they were sent.
//
// Small operations of a world that is all on one host run over the direct
// channel instead (direct_channel.h, `direct_data`): the same primitives,
// polled by the running thread with no progress-thread hand-off. Each
// message then must fit max_message_bytes(). Large all-reduces use the
// direct channel for control messages only and move data by cross-memory
// attach (ReadPeer).
//
// Thread-safety: used by one thread at a time (the executor, or the caller
// on the fast path).
#ifndef BRAID_COLLECTIVES_TCP_OP_CONTEXT_H_
#define BRAID_COLLECTIVES_TCP_OP_CONTEXT_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "collectives/tcp/direct_channel.h"
#include "collectives/tcp/inbox.h"
#include "collectives/tcp/tcp_options.h"
#include "collectives/tcp/transport.h"
#include "kernels/reduce.h"
#include "runtime/dtype.h"

namespace braid::collectives::tcp {

class OpContext {
 public:
  OpContext(TcpTransport* transport, Inbox* inbox, const TcpOptions* options, int rank, int size,
            uint64_t op_seq, absl::Time deadline, DirectChannel* direct = nullptr,
            bool direct_data = false)
      : transport_(transport),
        direct_(direct),
        direct_data_(direct != nullptr && direct_data),
        inbox_(inbox),
        options_(options),
        rank_(rank),
        size_(size),
        op_seq_(op_seq),
        deadline_(deadline) {}

  int rank() const { return rank_; }
  int size() const { return size_; }
  uint64_t op_seq() const { return op_seq_; }
  const TcpOptions& options() const { return *options_; }
  // Pipelining segment of the rings, in bytes.
  size_t segment_bytes() const { return static_cast<size_t>(options_->segment_bytes); }

  absl::Status Send(int peer, uint32_t tag, const void* data, size_t bytes, uint64_t offset = 0);
  // data[0, bytes) = the peer's bytes.
  absl::Status Recv(int peer, uint32_t tag, void* data, size_t bytes, uint64_t offset = 0);
  // data[i] = data[i] op peer[i] for `count` elements.
  absl::Status RecvReduce(int peer, uint32_t tag, void* data, int64_t count, runtime::DType dtype,
                          kernels::ReduceKind kind, uint64_t offset = 0);

  // ---- Direct channel and cross-memory attach ------------------------------
  // The direct channel when this communicator may use it, else null.
  DirectChannel* direct() const { return direct_; }
  // Whether Send/Recv/RecvReduce go through the direct channel.
  bool direct_data() const { return direct_data_; }
  // Whether ReadPeer works (every rank may read every other's memory).
  bool cma() const { return direct_ != nullptr && direct_->cma(); }
  // A small message over the direct channel. REQUIRES: direct() != null.
  absl::Status ControlSend(int peer, uint32_t tag, const void* data, size_t bytes);
  absl::Status ControlRecv(int peer, uint32_t tag, void* data, size_t bytes);
  // Copies `bytes` from address `remote` in group rank `peer`'s memory to
  // `local` (process_vm_readv); kAborted naming the peer when it fails, the
  // communicator's error when it broke meanwhile. REQUIRES: cma().
  absl::Status ReadPeer(int peer, uint64_t remote, void* local, size_t bytes);
  // The communicator's error once it is broken, else OK.
  absl::Status Interrupted() const;

 private:
  absl::Status Annotate(absl::Status s, int peer, absl::string_view what) const;

  DirectKey KeyFor(uint32_t tag) const;

  TcpTransport* transport_;
  DirectChannel* direct_;
  bool direct_data_;
  Inbox* inbox_;
  const TcpOptions* options_;
  int rank_;
  int size_;
  uint64_t op_seq_;
  absl::Time deadline_;
};

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_OP_CONTEXT_H_
