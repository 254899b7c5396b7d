// Unit tests of the tcp frame header, the assembler and CRC32C.
#include "collectives/tcp/frame.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "collectives/tcp/crc32c.h"
#include "gtest/gtest.h"

namespace braid::collectives::tcp {
namespace {

std::string Encode(const FrameHeader& h, const std::string& payload) {
  std::string out(kFrameHeaderBytes, '\0');
  EncodeFrameHeader(h, reinterpret_cast<uint8_t*>(out.data()));
  return out + payload;
}

// Feeds `bytes` in pieces of `piece` bytes; returns the frames and the status.
absl::Status Feed(FrameAssembler& a, const std::string& bytes, size_t piece,
                  std::vector<std::unique_ptr<Frame>>* frames) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    absl::Span<uint8_t> buf = a.NextBuffer();
    if (buf.empty()) return absl::InternalError("assembler stuck");
    const size_t n = std::min({buf.size(), piece, bytes.size() - pos});
    std::memcpy(buf.data(), bytes.data() + pos, n);
    pos += n;
    absl::Status s = a.Commit(n);
    if (!s.ok()) return s;
    if (auto f = a.TakeFrame()) frames->push_back(std::move(f));
  }
  return absl::OkStatus();
}

FrameHeader DataHeader(uint32_t bytes) {
  FrameHeader h;
  h.kind = FrameKind::kData;
  h.src_rank = 3;
  h.tag = 7;
  h.comm_id = 0x1122334455667788ull;
  h.epoch = 5;
  h.op_seq = 99;
  h.offset = 4096;
  h.payload_bytes = bytes;
  return h;
}

TEST(TcpCrc32cTest, KnownVector) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xe3069283u);
  EXPECT_EQ(Crc32c("", 0), 0u);
  // Extending piecewise equals one pass.
  const std::string s = "the quick brown fox jumps over the lazy dog, twice over";
  EXPECT_EQ(Crc32cExtend(Crc32c(s.data(), 10), s.data() + 10, s.size() - 10),
            Crc32c(s.data(), s.size()));
}

TEST(TcpFrameTest, HeaderRoundTrip) {
  FrameHeader h = DataHeader(12);
  h.flags = kFrameFlagCrc;
  h.payload_crc = 0xdeadbeef;
  uint8_t buf[kFrameHeaderBytes];
  EncodeFrameHeader(h, buf);
  absl::StatusOr<FrameHeader> d = DecodeFrameHeader(absl::MakeConstSpan(buf), FrameLimits{});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->kind, h.kind);
  EXPECT_EQ(d->flags, h.flags);
  EXPECT_EQ(d->src_rank, h.src_rank);
  EXPECT_EQ(d->tag, h.tag);
  EXPECT_EQ(d->comm_id, h.comm_id);
  EXPECT_EQ(d->epoch, h.epoch);
  EXPECT_EQ(d->op_seq, h.op_seq);
  EXPECT_EQ(d->offset, h.offset);
  EXPECT_EQ(d->payload_bytes, h.payload_bytes);
  EXPECT_EQ(d->payload_crc, h.payload_crc);
}

TEST(TcpFrameTest, RejectsBadHeaders) {
  uint8_t buf[kFrameHeaderBytes];
  FrameLimits limits;
  limits.world_size = 8;
  limits.max_payload_bytes = 1024;
  EncodeFrameHeader(DataHeader(10), buf);
  EXPECT_TRUE(absl::IsDataLoss(
      DecodeFrameHeader(absl::MakeConstSpan(buf, kFrameHeaderBytes - 1), limits).status()));
  uint8_t bad[kFrameHeaderBytes];
  std::memcpy(bad, buf, sizeof(buf));
  bad[0] ^= 0xff;  // magic
  EXPECT_TRUE(absl::IsDataLoss(DecodeFrameHeader(absl::MakeConstSpan(bad), limits).status()));
  std::memcpy(bad, buf, sizeof(buf));
  bad[4] = 9;  // version
  EXPECT_TRUE(absl::IsDataLoss(DecodeFrameHeader(absl::MakeConstSpan(bad), limits).status()));
  std::memcpy(bad, buf, sizeof(buf));
  bad[6] = 200;  // kind
  EXPECT_TRUE(absl::IsDataLoss(DecodeFrameHeader(absl::MakeConstSpan(bad), limits).status()));
  std::memcpy(bad, buf, sizeof(buf));
  bad[7] = 0x80;  // flags
  EXPECT_TRUE(absl::IsDataLoss(DecodeFrameHeader(absl::MakeConstSpan(bad), limits).status()));
  FrameHeader h = DataHeader(2048);  // over the limit
  EncodeFrameHeader(h, bad);
  absl::Status s = DecodeFrameHeader(absl::MakeConstSpan(bad), limits).status();
  EXPECT_TRUE(absl::IsDataLoss(s));
  EXPECT_NE(s.message().find("exceeds"), absl::string_view::npos) << s;
  h = DataHeader(1);
  h.src_rank = 8;  // outside the world
  EncodeFrameHeader(h, bad);
  EXPECT_TRUE(absl::IsDataLoss(DecodeFrameHeader(absl::MakeConstSpan(bad), limits).status()));
  h = DataHeader(1);
  h.kind = FrameKind::kHeartbeat;  // heartbeats carry nothing
  EncodeFrameHeader(h, bad);
  EXPECT_TRUE(absl::IsDataLoss(DecodeFrameHeader(absl::MakeConstSpan(bad), limits).status()));
}

TEST(TcpFrameTest, AssemblesFramesFromAnySplit) {
  std::string stream;
  std::vector<std::string> payloads = {"", "x", std::string(1000, 'a'), "hello world"};
  for (size_t i = 0; i < payloads.size(); ++i) {
    FrameHeader h = DataHeader(static_cast<uint32_t>(payloads[i].size()));
    h.op_seq = i;
    stream += Encode(h, payloads[i]);
  }
  for (size_t piece : {size_t{1}, size_t{7}, size_t{56}, size_t{4096}}) {
    FrameAssembler a(FrameLimits{});
    std::vector<std::unique_ptr<Frame>> frames;
    ASSERT_TRUE(Feed(a, stream, piece, &frames).ok());
    ASSERT_EQ(frames.size(), payloads.size()) << "piece " << piece;
    for (size_t i = 0; i < payloads.size(); ++i) {
      EXPECT_EQ(frames[i]->header.op_seq, i);
      EXPECT_EQ(std::string(reinterpret_cast<char*>(frames[i]->payload.get()),
                            frames[i]->header.payload_bytes),
                payloads[i]);
    }
    EXPECT_TRUE(a.AtFrameBoundary());
  }
}

TEST(TcpFrameTest, ChecksumDetectsCorruption) {
  const std::string payload = "important gradient bytes";
  FrameHeader h = DataHeader(static_cast<uint32_t>(payload.size()));
  h.flags = kFrameFlagCrc;
  h.payload_crc = Crc32c(payload.data(), payload.size());
  std::string good = Encode(h, payload);
  {
    FrameAssembler a(FrameLimits{});
    std::vector<std::unique_ptr<Frame>> frames;
    EXPECT_TRUE(Feed(a, good, 5, &frames).ok());
    EXPECT_EQ(frames.size(), 1u);
  }
  std::string bad = good;
  bad.back() ^= 1;
  FrameAssembler a(FrameLimits{});
  std::vector<std::unique_ptr<Frame>> frames;
  absl::Status s = Feed(a, bad, 5, &frames);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_TRUE(frames.empty());
  // The assembler stays failed.
  EXPECT_TRUE(a.NextBuffer().empty());
  EXPECT_TRUE(absl::IsDataLoss(a.Commit(0)));
}

TEST(TcpFrameTest, GarbageIsRejectedWithoutLargeAllocation) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 200; ++trial) {
    std::string junk(kFrameHeaderBytes + rng() % 300, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    FrameAssembler a(FrameLimits{});
    std::vector<std::unique_ptr<Frame>> frames;
    absl::Status s = Feed(a, junk, 1 + rng() % 64, &frames);
    // Random bytes essentially never carry the magic and version.
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  }
}

TEST(TcpFrameTest, AbortPayloadRoundTripAndRejects) {
  std::string p = EncodeAbortPayload({1, 3}, "rank 3 died");
  std::vector<int> failed;
  std::string message;
  ASSERT_TRUE(DecodeAbortPayload(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(p.data()),
                                                     p.size()),
                                 &failed, &message)
                  .ok());
  EXPECT_EQ(failed, (std::vector<int>{1, 3}));
  EXPECT_EQ(message, "rank 3 died");
  const uint8_t truncated[] = {5, 0, 0, 0, 1, 0};
  EXPECT_TRUE(absl::IsDataLoss(
      DecodeAbortPayload(absl::MakeConstSpan(truncated), &failed, &message)));
}

}  // namespace
}  // namespace braid::collectives::tcp
