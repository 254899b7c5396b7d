#include "collectives/tcp/frame.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "collectives/tcp/crc32c.h"

namespace braid::collectives::tcp {
namespace {

template <typename T>
void Put(uint8_t* out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out[i] = static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i));
}

template <typename T>
T Get(const uint8_t* in) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<uint64_t>(in[i]) << (8 * i);
  return static_cast<T>(v);
}

bool ValidKind(uint8_t k) {
  return k >= static_cast<uint8_t>(FrameKind::kHello) && k <= static_cast<uint8_t>(FrameKind::kGoodbye);
}

constexpr size_t kMaxAbortMessageBytes = 1024;
constexpr uint32_t kMaxAbortRanks = 1u << 16;

}  // namespace

absl::string_view ToString(FrameKind kind) {
  switch (kind) {
    case FrameKind::kHello: return "hello";
    case FrameKind::kHelloAck: return "hello_ack";
    case FrameKind::kData: return "data";
    case FrameKind::kP2P: return "p2p";
    case FrameKind::kHeartbeat: return "heartbeat";
    case FrameKind::kAbort: return "abort";
    case FrameKind::kGoodbye: return "goodbye";
  }
  return "invalid";
}

void EncodeFrameHeader(const FrameHeader& h, uint8_t* out) {
  Put<uint32_t>(out + 0, kFrameMagic);
  Put<uint16_t>(out + 4, kFrameVersion);
  out[6] = static_cast<uint8_t>(h.kind);
  out[7] = h.flags;
  Put<uint32_t>(out + 8, h.src_rank);
  Put<uint32_t>(out + 12, h.tag);
  Put<uint64_t>(out + 16, h.comm_id);
  Put<uint64_t>(out + 24, static_cast<uint64_t>(h.epoch));
  Put<uint64_t>(out + 32, h.op_seq);
  Put<uint64_t>(out + 40, h.offset);
  Put<uint32_t>(out + 48, h.payload_bytes);
  Put<uint32_t>(out + 52, h.payload_crc);
}

absl::StatusOr<FrameHeader> DecodeFrameHeader(absl::Span<const uint8_t> bytes,
                                              const FrameLimits& limits) {
  if (bytes.size() < kFrameHeaderBytes) {
    return absl::DataLossError(absl::StrCat("tcp frame: truncated header (", bytes.size(), " of ",
                                            kFrameHeaderBytes, " bytes)"));
  }
  const uint8_t* in = bytes.data();
  const uint32_t magic = Get<uint32_t>(in);
  if (magic != kFrameMagic) {
    return absl::DataLossError(absl::StrCat("tcp frame: bad magic 0x", absl::Hex(magic),
                                            "; the peer is not a braid tcp endpoint or the "
                                            "stream is corrupt"));
  }
  const uint16_t version = Get<uint16_t>(in + 4);
  if (version != kFrameVersion) {
    return absl::DataLossError(absl::StrCat("tcp frame: version ", version, " but this build speaks ",
                                            kFrameVersion, "; run the same braid on every rank"));
  }
  if (!ValidKind(in[6])) {
    return absl::DataLossError(absl::StrCat("tcp frame: unknown kind ", in[6]));
  }
  FrameHeader h;
  h.kind = static_cast<FrameKind>(in[6]);
  h.flags = in[7];
  if ((h.flags & ~kFrameFlagCrc) != 0) {
    return absl::DataLossError(absl::StrCat("tcp frame: unknown flags 0x", absl::Hex(h.flags)));
  }
  h.src_rank = Get<uint32_t>(in + 8);
  if (h.src_rank >= limits.world_size) {
    return absl::DataLossError(absl::StrCat("tcp frame: src_rank ", h.src_rank,
                                            " outside the world of ", limits.world_size));
  }
  h.tag = Get<uint32_t>(in + 12);
  h.comm_id = Get<uint64_t>(in + 16);
  h.epoch = static_cast<int64_t>(Get<uint64_t>(in + 24));
  h.op_seq = Get<uint64_t>(in + 32);
  h.offset = Get<uint64_t>(in + 40);
  h.payload_bytes = Get<uint32_t>(in + 48);
  h.payload_crc = Get<uint32_t>(in + 52);
  if (h.epoch < 0) return absl::DataLossError("tcp frame: negative epoch");
  if (h.payload_bytes > limits.max_payload_bytes) {
    return absl::DataLossError(absl::StrCat("tcp frame: payload of ", h.payload_bytes,
                                            " bytes exceeds the limit of ",
                                            limits.max_payload_bytes));
  }
  if ((h.kind == FrameKind::kHeartbeat || h.kind == FrameKind::kGoodbye) && h.payload_bytes != 0) {
    return absl::DataLossError(absl::StrCat("tcp frame: ", ToString(h.kind), " with a payload"));
  }
  if (h.offset > (uint64_t{1} << 62)) return absl::DataLossError("tcp frame: offset out of range");
  return h;
}

absl::Status VerifyPayload(const FrameHeader& header, const uint8_t* payload) {
  if ((header.flags & kFrameFlagCrc) == 0) return absl::OkStatus();
  const uint32_t crc = Crc32c(payload, header.payload_bytes);
  if (crc != header.payload_crc) {
    return absl::DataLossError(absl::StrCat("tcp frame: payload CRC32C mismatch from rank ",
                                            header.src_rank, " (op ", header.op_seq, ", tag ",
                                            header.tag, "): data corrupted in transit"));
  }
  return absl::OkStatus();
}

absl::Span<uint8_t> FrameAssembler::NextBuffer() {
  if (!error_.ok() || ready_ != nullptr) return {};
  if (current_ == nullptr) {
    return absl::Span<uint8_t>(header_buf_ + header_filled_, kFrameHeaderBytes - header_filled_);
  }
  return absl::Span<uint8_t>(current_->payload.get() + payload_filled_,
                             current_->header.payload_bytes - payload_filled_);
}

absl::Status FrameAssembler::Commit(size_t n) {
  if (!error_.ok()) return error_;
  if (n > NextBuffer().size()) {
    error_ = absl::InternalError("FrameAssembler::Commit past the buffer");
    return error_;
  }
  if (current_ == nullptr) {
    header_filled_ += n;
    if (header_filled_ < kFrameHeaderBytes) return absl::OkStatus();
    absl::StatusOr<FrameHeader> h = DecodeFrameHeader(absl::MakeConstSpan(header_buf_), limits_);
    header_filled_ = 0;
    if (!h.ok()) {
      error_ = h.status();
      return error_;
    }
    current_ = std::make_unique<Frame>();
    current_->header = *h;
    payload_filled_ = 0;
    if (h->payload_bytes > 0) {
      current_->payload.reset(new uint8_t[h->payload_bytes]);
      return absl::OkStatus();
    }
  } else {
    payload_filled_ += n;
    if (payload_filled_ < current_->header.payload_bytes) return absl::OkStatus();
  }
  absl::Status crc = VerifyPayload(current_->header, current_->payload.get());
  if (!crc.ok()) {
    error_ = crc;
    current_.reset();
    return error_;
  }
  ready_ = std::move(current_);
  return absl::OkStatus();
}

std::unique_ptr<Frame> FrameAssembler::TakeFrame() { return std::move(ready_); }

std::string EncodeAbortPayload(absl::Span<const int> failed_group_ranks,
                               absl::string_view message) {
  std::string out;
  const uint32_t count = static_cast<uint32_t>(failed_group_ranks.size());
  out.resize(4 + 4 * count);
  Put<uint32_t>(reinterpret_cast<uint8_t*>(out.data()), count);
  for (uint32_t i = 0; i < count; ++i) {
    Put<uint32_t>(reinterpret_cast<uint8_t*>(out.data()) + 4 + 4 * i,
                  static_cast<uint32_t>(failed_group_ranks[i]));
  }
  const absl::string_view m = message.substr(0, kMaxAbortMessageBytes);
  out.append(m.data(), m.size());
  return out;
}

absl::Status DecodeAbortPayload(absl::Span<const uint8_t> bytes, std::vector<int>* failed,
                                std::string* message) {
  if (bytes.size() < 4) return absl::DataLossError("tcp abort frame: truncated rank count");
  const uint32_t count = Get<uint32_t>(bytes.data());
  if (count > kMaxAbortRanks || bytes.size() < 4 + 4 * static_cast<size_t>(count)) {
    return absl::DataLossError("tcp abort frame: rank list longer than the payload");
  }
  failed->clear();
  for (uint32_t i = 0; i < count; ++i) {
    const int32_t r = static_cast<int32_t>(Get<uint32_t>(bytes.data() + 4 + 4 * i));
    if (r < 0) return absl::DataLossError("tcp abort frame: negative rank");
    failed->push_back(r);
  }
  const size_t rest = bytes.size() - 4 - 4 * static_cast<size_t>(count);
  if (rest > kMaxAbortMessageBytes) return absl::DataLossError("tcp abort frame: message too long");
  message->assign(reinterpret_cast<const char*>(bytes.data()) + 4 + 4 * count, rest);
  return absl::OkStatus();
}

}  // namespace braid::collectives::tcp
