#include "elastic/store/frame.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace braid::elastic {

absl::Status AppendFrame(const google::protobuf::MessageLite& message, size_t max_message_bytes,
                         std::string* out) {
  const size_t size = message.ByteSizeLong();
  if (size > max_message_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "store message ", message.GetTypeName(), " of ", size, " bytes exceeds the frame limit of ",
        max_message_bytes, " bytes; send smaller values or fewer keys per call"));
  }
  const size_t start = out->size();
  out->resize(start + kFrameHeaderBytes + size);
  char* p = out->data() + start;
  const uint32_t len = static_cast<uint32_t>(size);
  p[0] = static_cast<char>((len >> 24) & 0xff);
  p[1] = static_cast<char>((len >> 16) & 0xff);
  p[2] = static_cast<char>((len >> 8) & 0xff);
  p[3] = static_cast<char>(len & 0xff);
  if (!message.SerializeToArray(p + kFrameHeaderBytes, static_cast<int>(size))) {
    out->resize(start);
    return absl::InternalError(
        absl::StrCat("serializing store message ", message.GetTypeName(), " failed"));
  }
  return absl::OkStatus();
}

absl::Status ParseFrame(absl::string_view payload, google::protobuf::MessageLite* message,
                        absl::string_view what) {
  if (!message->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(absl::StrCat("malformed ", what, " (", payload.size(),
                                            " bytes are not a valid ", message->GetTypeName(),
                                            "); closing the connection"));
  }
  return absl::OkStatus();
}

void FrameDecoder::Append(const char* data, size_t n) {
  if (!error_.ok()) return;
  // Compact once the consumed prefix dominates, so the buffer stays bounded by
  // about one frame plus one read.
  if (consumed_ > 0 && consumed_ >= buffer_.size() / 2) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(data, n);
}

absl::StatusOr<std::optional<std::string>> FrameDecoder::Next() {
  if (!error_.ok()) return error_;
  const size_t available = buffer_.size() - consumed_;
  if (available < kFrameHeaderBytes) return std::optional<std::string>();
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + consumed_);
  const uint32_t len =
      (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
  if (len > max_message_bytes_) {
    error_ = absl::DataLossError(absl::StrCat("store frame announces ", len,
                                              " bytes, over the limit of ", max_message_bytes_,
                                              " bytes; closing the connection"));
    buffer_.clear();
    consumed_ = 0;
    return error_;
  }
  if (available - kFrameHeaderBytes < len) return std::optional<std::string>();
  std::string payload = buffer_.substr(consumed_ + kFrameHeaderBytes, len);
  consumed_ += kFrameHeaderBytes + len;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  return std::optional<std::string>(std::move(payload));
}

}  // namespace braid::elastic
