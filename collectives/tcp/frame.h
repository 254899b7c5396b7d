// The tcp backend's data-plane frame: a fixed 56-byte header, then raw payload
// bytes. The byte layout is documented in docs/tcp_wire.md.
//
//   offset size field
//        0    4 magic          0x42524431 ("BRD1" read as big-endian)
//        4    2 version        kFrameVersion
//        6    1 kind           FrameKind
//        7    1 flags          bit 0: payload_crc is valid
//        8    4 src_rank       sender's transport (world) rank
//       12    4 tag            step of a collective / user tag of a Send
//       16    8 comm_id        communicator the frame belongs to
//       24    8 epoch          communicator epoch (Shrink increments it)
//       32    8 op_seq         operation sequence number within the communicator
//       40    8 offset         byte offset of this payload within its message
//       48    4 payload_bytes  number of payload bytes that follow
//       52    4 payload_crc    CRC32C of the payload (when flags bit 0)
// All integers are little-endian.
//
// FrameAssembler turns a byte stream into frames. It never allocates more than
// one header plus `max_payload_bytes` per frame and rejects truncated,
// oversized or garbage input with kDataLoss. Frames of an older epoch are
// rejected where the epoch is known (Inbox, see inbox.h).
//
// Thread-safety: FrameAssembler is not thread-safe (one per connection, used by
// the progress thread only); the free functions are pure.
#ifndef BRAID_COLLECTIVES_TCP_FRAME_H_
#define BRAID_COLLECTIVES_TCP_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace braid::collectives::tcp {

inline constexpr uint32_t kFrameMagic = 0x42524431u;
inline constexpr uint16_t kFrameVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 56;
inline constexpr uint8_t kFrameFlagCrc = 0x01;

enum class FrameKind : uint8_t {
  kHello = 1,      // connection handshake, connector -> acceptor
  kHelloAck = 2,   // handshake reply
  kData = 3,       // payload of a collective step (op_seq, tag = step)
  kP2P = 4,        // payload of a Send (tag = user tag, op_seq = per-(peer,tag) message number)
  kHeartbeat = 5,  // liveness, no payload
  kAbort = 6,      // the sender aborted comm_id; payload: AbortPayload
  kGoodbye = 7,    // the sender closes the connection cleanly
};

// "hello", "hello_ack", "data", "p2p", "heartbeat", "abort", "goodbye".
absl::string_view ToString(FrameKind kind);

struct FrameHeader {
  FrameKind kind = FrameKind::kData;
  uint8_t flags = 0;
  uint32_t src_rank = 0;
  uint32_t tag = 0;
  uint64_t comm_id = 0;
  int64_t epoch = 0;
  uint64_t op_seq = 0;
  uint64_t offset = 0;
  uint32_t payload_bytes = 0;
  uint32_t payload_crc = 0;
};

// What a receiver accepts.
struct FrameLimits {
  // Frames with a larger payload are rejected (kDataLoss). Default 4 MiB.
  uint32_t max_payload_bytes = 4u << 20;
  // src_rank must be < world_size.
  uint32_t world_size = 1u << 20;
};

// Writes `header` into `out` (kFrameHeaderBytes bytes).
void EncodeFrameHeader(const FrameHeader& header, uint8_t* out);

// Parses and validates a header. kDataLoss for a bad magic, version, kind,
// flags, src_rank, or a payload over the limits (the message names the field).
absl::StatusOr<FrameHeader> DecodeFrameHeader(absl::Span<const uint8_t> bytes,
                                              const FrameLimits& limits);

// kDataLoss when the header says the payload has a CRC and it does not match.
absl::Status VerifyPayload(const FrameHeader& header, const uint8_t* payload);

// A frame received from a peer.
struct Frame {
  FrameHeader header;
  std::unique_ptr<uint8_t[]> payload;  // header.payload_bytes bytes (null when 0)
};

// Incremental parser for one connection's byte stream:
//
//   absl::Span<uint8_t> buf = assembler.NextBuffer();
//   ssize_t n = read(fd, buf.data(), buf.size());
//   BRAID_RETURN_IF_ERROR(assembler.Commit(n));
//   while (auto frame = assembler.TakeFrame()) Deliver(std::move(*frame));
//
// After an error the assembler stays failed (every later Commit returns it).
class FrameAssembler {
 public:
  explicit FrameAssembler(FrameLimits limits) : limits_(limits) {}

  // The region the next received bytes must be written to (never empty unless
  // a completed frame is waiting in TakeFrame or the assembler failed).
  absl::Span<uint8_t> NextBuffer();

  // Reports that `n` bytes were written at the start of NextBuffer().
  absl::Status Commit(size_t n);

  // The completed frame, if any (at most one is held at a time).
  std::unique_ptr<Frame> TakeFrame();

  // True when no partial frame is buffered (a clean point to see EOF).
  bool AtFrameBoundary() const { return header_filled_ == 0 && current_ == nullptr; }

 private:
  FrameLimits limits_;
  uint8_t header_buf_[kFrameHeaderBytes];
  size_t header_filled_ = 0;
  std::unique_ptr<Frame> current_;  // header parsed, payload being filled
  size_t payload_filled_ = 0;
  std::unique_ptr<Frame> ready_;
  absl::Status error_;
};

// The payload of a kAbort frame: the aborting rank's reason and the group
// ranks it blames. Encoded as: u32 count, count x i32 ranks, then the UTF-8
// message (at most 1 KiB).
std::string EncodeAbortPayload(absl::Span<const int> failed_group_ranks,
                               absl::string_view message);
// kDataLoss on malformed input.
absl::Status DecodeAbortPayload(absl::Span<const uint8_t> bytes, std::vector<int>* failed,
                                std::string* message);

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_FRAME_H_
