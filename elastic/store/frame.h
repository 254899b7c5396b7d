// Framing of the embedded store's wire protocol (docs/store_protocol.md).
//
// A frame is a 4-byte big-endian payload length followed by the payload, one
// serialized protobuf message (elastic/store/proto/store.proto). Both ends
// enforce a maximum payload size; a larger announced length is a protocol
// error and the connection is closed, before any of the payload is buffered.
//
// Thread-safety: FrameDecoder is not thread-safe (one per connection, used by
// the one thread that reads it). The free functions are thread-safe.
#ifndef BRAID_ELASTIC_STORE_FRAME_H_
#define BRAID_ELASTIC_STORE_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"

namespace braid::elastic {

inline constexpr size_t kFrameHeaderBytes = 4;
// Default limit on one frame's payload, both directions.
inline constexpr size_t kDefaultMaxMessageBytes = size_t{8} << 20;
// Limit on handshake frames (they are ~100 bytes), so that a peer that has not
// authenticated cannot make the server buffer megabytes.
inline constexpr size_t kMaxHandshakeMessageBytes = 1024;

// Serializes `message` and appends header + payload to `out`.
// kInvalidArgument when the payload would exceed `max_message_bytes` (nothing
// is appended then).
absl::Status AppendFrame(const google::protobuf::MessageLite& message, size_t max_message_bytes,
                         std::string* out);

// Parses one frame payload into `message`. kDataLoss (naming `what`, e.g.
// "Request from 127.0.0.1:4242") when the bytes are not a valid message.
absl::Status ParseFrame(absl::string_view payload, google::protobuf::MessageLite* message,
                        absl::string_view what);

// Splits a byte stream into frame payloads.
//
//   FrameDecoder decoder(max_bytes);
//   decoder.Append(buf, n);
//   while (true) {
//     absl::StatusOr<std::optional<std::string>> frame = decoder.Next();
//     if (!frame.ok()) { close; break; }    // oversized: the stream is unusable
//     if (!frame->has_value()) break;       // need more bytes
//     Handle(**frame);
//   }
//
// After Next() returned an error every later call returns the same error.
class FrameDecoder {
 public:
  explicit FrameDecoder(size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  // Buffers `n` received bytes.
  void Append(const char* data, size_t n);

  // The next complete payload, nullopt when more bytes are needed, kDataLoss
  // when the announced length exceeds the limit.
  absl::StatusOr<std::optional<std::string>> Next();

  // Changes the limit for the frames not yet returned (the server allows only
  // small frames until a peer has authenticated).
  void set_max_message_bytes(size_t max_message_bytes) { max_message_bytes_ = max_message_bytes; }

  // Bytes received but not yet returned by Next() (header included).
  size_t buffered_bytes() const { return buffer_.size() - consumed_; }
  // True when a frame has been started but not completed.
  bool mid_frame() const { return buffered_bytes() > 0; }

 private:
  size_t max_message_bytes_;
  std::string buffer_;
  size_t consumed_ = 0;
  absl::Status error_;
};

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_STORE_FRAME_H_
