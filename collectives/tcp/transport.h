// TcpTransport: the full mesh of TCP connections between the ranks of one
// world, and the progress thread that reads them.
//
// One transport is created per world (by TcpCommunicator::Create) and shared
// by every communicator derived from it with Split or Shrink: frames carry a
// communicator id, and the progress thread hands each frame to the Inbox
// registered under that id.
//
// Bootstrap (Create), numbered as on the wire (docs/tcp_wire.md):
//   1. Listen on an ephemeral port; publish "host:port" at
//      <key_prefix>addr/<rank> in the store.
//   2. Wait for every rank's key; read them all with one ListPrefix.
//   3. Connect to every lower rank and send kHello (src rank, world id, size).
//   4. Accept every higher rank, check its kHello (world id, size, rank not
//      seen before; anything else is dropped), reply kHelloAck.
//   5. Read the kHelloAck of every lower rank. Close the listener.
//   6. With every peer that published the same host (and shm_ring_bytes > 0):
//      create this rank's outgoing ring, exchange a one-byte "created" mark,
//      open the peer's ring, exchange a one-byte "mapped" mark, unlink both
//      names (shm_ring.h).
//   7. When every peer is on this host: the same for a second ring per
//      direction, the direct channel (direct_channel.h); every rank probes
//      every peer with process_vm_readv; one byte to every peer says
//      "direct channel with all" and "CMA to all", and both are used only
//      when every rank says yes. Then switch the sockets to non-blocking and
//      start the progress thread.
// Every step is bounded by connect_deadline: kUnavailable when a peer cannot
// be reached, kDeadlineExceeded when the store or a handshake runs out of time.
//
// Threading model:
//   - One named progress thread ("braid-tcp-io") runs epoll over all peer
//     sockets. It reads eagerly (so a sender never blocks on a receiver that
//     is busy computing), assembles frames and delivers them to inboxes; it
//     sends heartbeats, declares silent peers hung, sends queued abort frames
//     and times out posted receives.
//   - Same-host peers exchange the same frame bytes through shared-memory
//     rings (shm_ring.h) instead of the socket; the socket then carries only
//     doorbells, and its end still reports the peer's death.
//   - Senders (the communicators' executor threads) write frames themselves
//     under the peer's send lock, waiting for POLLOUT in short slices so an
//     abort or a dead peer stops them within ~2 ms. A frame left half-written
//     by an abort is finished from a copy by the progress thread, so the
//     stream stays valid and the caller's buffer is released at once.
// Faults: EOF without a goodbye, a reset, a frame that does not parse, or
// heartbeat silence for heartbeat_interval x heartbeat_misses marks the peer
// failed; every registered inbox that has it as a member is broken with
// kAborted naming it. The transport itself keeps serving the other peers.
//
// Thread-safety: all public methods are thread-safe.
#ifndef BRAID_COLLECTIVES_TCP_TRANSPORT_H_
#define BRAID_COLLECTIVES_TCP_TRANSPORT_H_

#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collectives/tcp/direct_channel.h"
#include "collectives/tcp/frame.h"
#include "collectives/tcp/inbox.h"
#include "collectives/tcp/shm_ring.h"
#include "runtime/store.h"

namespace braid::collectives::tcp {

// The largest payload of one frame; longer messages are split.
inline constexpr size_t kMaxFramePayloadBytes = 4u << 20;

struct TransportOptions {
  int rank = -1;  // REQUIRED: this process's world rank
  int size = 0;   // REQUIRED
  runtime::Store* store = nullptr;  // REQUIRED; borrowed for Create only
  std::string key_prefix;           // REQUIRED; e.g. "braid/comm/tcp/g0/"
  std::string host = "127.0.0.1";   // published for peers to connect to
  absl::Time connect_deadline = absl::InfiniteFuture();
  absl::Duration heartbeat_interval = absl::Milliseconds(100);
  int heartbeat_misses = 10;
  size_t frame_payload_bytes = 512 * 1024;  // largest payload sent per frame
  bool checksum = false;
  // Peers that published the same host use shared-memory rings (shm_ring.h)
  // of this many bytes per direction; 0 keeps every pair on TCP.
  size_t shm_ring_bytes = 2u << 20;
  // When every peer is on this host (shared memory with all of them), also
  // set up the polled direct channel (direct_channel.h) with rings of this
  // many bytes per direction (a power of two); 0 disables it.
  size_t direct_ring_bytes = 1u << 20;
  // Allow cross-memory attach (process_vm_readv of peers' buffers) when the
  // direct channel exists and every rank's probe of every peer succeeds.
  bool cma = true;
};

class TcpTransport {
 public:
  static absl::StatusOr<std::shared_ptr<TcpTransport>> Create(const TransportOptions& options);
  ~TcpTransport();
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  int rank() const { return options_.rank; }
  int size() const { return options_.size; }
  // Identifies the world (hash of the key prefix); the root communicator's id.
  uint64_t world_id() const { return world_id_; }

  // Starts delivering frames for inbox->comm_id() to `inbox`, replacing an
  // older inbox of the same id (Shrink) and handing it the frames that came
  // early. An inbox with an already failed member is broken at once.
  void Register(std::shared_ptr<Inbox> inbox) ABSL_LOCKS_EXCLUDED(mu_);
  // Stops delivering to `inbox` (no-op when another inbox replaced it).
  void Unregister(const Inbox* inbox) ABSL_LOCKS_EXCLUDED(mu_);

  // Sends bytes [data, data + bytes) as frames of `header.kind` for
  // (comm_id, epoch, op_seq, tag), with offsets starting at `base_offset`
  // (a zero-byte message is one empty frame). Returns once the bytes are in
  // the kernel. Stops early with `inbox`'s error once it is broken, with
  // kAborted naming the peer when it failed or at `deadline`.
  absl::Status Send(int dst, FrameHeader header, const uint8_t* data, size_t bytes,
                    uint64_t base_offset, absl::Time deadline, const Inbox& inbox);

  // Queues kAbort frames for `comm_id`/`epoch` to each of `dsts` (world
  // ranks); the progress thread sends them without blocking anyone.
  void SendAbort(const std::vector<int>& dsts, uint64_t comm_id, int64_t epoch,
                 std::string payload) ABSL_LOCKS_EXCLUDED(mu_);

  // OK while the peer is connected; otherwise why it failed.
  absl::Status PeerStatus(int peer) const ABSL_LOCKS_EXCLUDED(mu_);
  // The direct channel (bootstrap step 7), or null when some peer is not on
  // this host, shared memory failed, or it was disabled.
  DirectChannel* direct() const { return direct_.get(); }
  // Wakes threads polling the direct channel (after an Abort()).
  void WakeDirectWaiters() const {
    if (direct_ != nullptr) direct_->WakeAll();
  }

  // Frames dropped because their epoch was older than their communicator's.
  int64_t stale_frames() const { return stale_frames_.load(); }

 private:
  struct Peer {
    int fd = -1;
    absl::Mutex send_mu;
    // Bytes that must go out before any new frame (a heartbeat or abort frame
    // the progress thread could not finish, or the rest of an abandoned frame).
    std::string pending_out ABSL_GUARDED_BY(send_mu);
    std::atomic<bool> failed{false};  // died, hung, reset or sent garbage
    std::atomic<bool> closed{false};  // said goodbye, or we shut it down
    // Same-host peers: the frame streams go through these rings instead of
    // the socket, which then carries only doorbell bytes (and the EOF).
    std::unique_ptr<ShmRing> tx;  // written under send_mu
    std::unique_ptr<ShmRing> rx;  // read by the progress thread
    // Progress thread only.
    std::unique_ptr<FrameAssembler> assembler;
    absl::Time last_rx;
    bool in_epoll = false;
  };
  struct PendingAbort {
    int dst;
    std::string frame;  // encoded header + payload
  };

  explicit TcpTransport(const TransportOptions& options);
  absl::Status Bootstrap();
  void Run();
  void ReadPeer(int peer, absl::Time now);
  void Dispatch(int peer, std::unique_ptr<Frame> frame);
  void FailPeer(int peer, const absl::Status& why);
  void Tick(absl::Time now);
  void Shutdown();
  // Writes as much of peer's pending bytes as the socket takes now.
  static void FlushPendingNonBlocking(Peer& p);
  // sendmsg, or a write into the peer's ring (-1/EAGAIN when full).
  static ssize_t WriteSome(Peer& p, const iovec* iov, int iovcnt);
  // Waits up to max_ms for the socket or ring to take more bytes.
  static void WaitWritable(Peer& p, int max_ms);
  void DrainRings(absl::Time now);
  void DrainRing(int peer, absl::Time now);
  // Bootstrap step 6: rings with every same-host peer (bootstrap.cc).
  // `suffix` tells the ring names of one use apart ("" frames, "-d" direct).
  absl::Status SetUpSharedMemory(const std::vector<int>& fds, const std::vector<bool>& same_host,
                                 absl::string_view suffix, size_t ring_bytes,
                                 std::vector<std::unique_ptr<ShmRing>>* tx,
                                 std::vector<std::unique_ptr<ShmRing>>* rx);
  // Bootstrap step 7: the direct channel and the CMA agreement (bootstrap.cc).
  absl::Status SetUpDirectChannel(const std::vector<int>& fds);

  const TransportOptions options_;
  const uint64_t world_id_;
  std::vector<std::unique_ptr<Peer>> peers_;  // index: world rank; null for self
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread progress_thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> stale_frames_{0};
  bool has_shm_ = false;  // set before the progress thread starts
  std::unique_ptr<DirectChannel> direct_;  // set before the progress thread starts
  // Peers probing whether they may process_vm_readv this process read this.
  const uint64_t cma_probe_ = ShmRing::kProbeValue;

  mutable absl::Mutex mu_;
  std::map<uint64_t, std::shared_ptr<Inbox>> inboxes_ ABSL_GUARDED_BY(mu_);
  // Frames for communicators (or epochs) not registered yet, bounded.
  std::map<uint64_t, std::vector<std::unique_ptr<Frame>>> early_ ABSL_GUARDED_BY(mu_);
  size_t early_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<PendingAbort> pending_aborts_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> peer_status_ ABSL_GUARDED_BY(mu_);

  // Progress thread only.
  absl::Time last_tick_;
  absl::Time last_housekeeping_;
  absl::Time last_heartbeat_;
};

// A 64-bit FNV-1a hash, used for world and communicator ids.
uint64_t HashId(uint64_t seed, absl::string_view bytes);

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_TRANSPORT_H_
