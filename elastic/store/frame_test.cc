// Tests of the store's framing, auth proofs and address parsing.
#include "elastic/store/frame.h"

#include <string>

#include "absl/strings/escaping.h"
#include "elastic/store/auth.h"
#include "elastic/store/proto/store.pb.h"
#include "elastic/store/socket_util.h"
#include "gtest/gtest.h"

namespace braid::elastic {
namespace {

storepb::Request MakeRequest(uint64_t id, const std::string& key) {
  storepb::Request r;
  r.set_id(id);
  r.mutable_get()->set_key(key);
  return r;
}

TEST(StoreFrameTest, RoundTripsFramesFedOneByteAtATime) {
  std::string wire;
  ASSERT_TRUE(AppendFrame(MakeRequest(1, "a"), 1024, &wire).ok());
  ASSERT_TRUE(AppendFrame(MakeRequest(2, std::string(300, 'k')), 1024, &wire).ok());
  ASSERT_TRUE(AppendFrame(storepb::Request(), 1024, &wire).ok());  // empty payload
  FrameDecoder decoder(1024);
  std::vector<std::string> frames;
  for (char c : wire) {
    decoder.Append(&c, 1);
    while (true) {
      absl::StatusOr<std::optional<std::string>> f = decoder.Next();
      ASSERT_TRUE(f.ok()) << f.status();
      if (!f->has_value()) break;
      frames.push_back(**f);
    }
  }
  ASSERT_EQ(frames.size(), 3u);
  storepb::Request r;
  ASSERT_TRUE(ParseFrame(frames[1], &r, "test").ok());
  EXPECT_EQ(r.id(), 2u);
  EXPECT_EQ(r.get().key(), std::string(300, 'k'));
  EXPECT_EQ(frames[2], "");
  EXPECT_FALSE(decoder.mid_frame());
}

TEST(StoreFrameTest, HeaderIsBigEndianLength) {
  std::string wire;
  storepb::Request r = MakeRequest(7, "xyz");
  ASSERT_TRUE(AppendFrame(r, 1024, &wire).ok());
  const size_t len = r.ByteSizeLong();
  ASSERT_EQ(wire.size(), 4 + len);
  EXPECT_EQ(wire[0], 0);
  EXPECT_EQ(wire[1], 0);
  EXPECT_EQ(wire[2], 0);
  EXPECT_EQ(static_cast<unsigned char>(wire[3]), len);
}

TEST(StoreFrameTest, OversizedAnnouncedLengthIsDataLossAndSticky) {
  FrameDecoder decoder(100);
  const char header[4] = {0, 0, 0, 101};
  decoder.Append(header, 4);
  absl::StatusOr<std::optional<std::string>> f = decoder.Next();
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss);
  decoder.Append("more", 4);
  EXPECT_EQ(decoder.Next().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(decoder.buffered_bytes(), 0u);  // nothing is buffered after the error
}

TEST(StoreFrameTest, HugeLengthIsRejectedBeforeBuffering) {
  FrameDecoder decoder(kDefaultMaxMessageBytes);
  const char header[4] = {'\xff', '\xff', '\xff', '\xff'};
  decoder.Append(header, 4);
  EXPECT_EQ(decoder.Next().status().code(), absl::StatusCode::kDataLoss);
}

TEST(StoreFrameTest, AppendRefusesMessageOverLimit) {
  std::string wire = "keep";
  EXPECT_EQ(AppendFrame(MakeRequest(1, std::string(200, 'x')), 100, &wire).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(wire, "keep");
}

TEST(StoreFrameTest, GarbagePayloadIsDataLoss) {
  storepb::Request r;
  // Field 1 with wire type 7 (invalid).
  EXPECT_EQ(ParseFrame(std::string("\x0f\x01\x02", 3), &r, "garbage").code(),
            absl::StatusCode::kDataLoss);
}

TEST(StoreAuthTest, ProofsDependOnTokenNoncesAndDirection) {
  absl::StatusOr<std::string> n1 = MakeAuthNonce();
  absl::StatusOr<std::string> n2 = MakeAuthNonce();
  ASSERT_TRUE(n1.ok() && n2.ok());
  EXPECT_EQ(n1->size(), kAuthNonceBytes);
  EXPECT_NE(*n1, *n2);
  const std::string client = ClientAuthProof("token", *n1, *n2);
  EXPECT_EQ(client.size(), kAuthProofBytes);
  EXPECT_TRUE(AuthProofsEqual(client, ClientAuthProof("token", *n1, *n2)));
  EXPECT_FALSE(AuthProofsEqual(client, ClientAuthProof("tokeN", *n1, *n2)));
  EXPECT_FALSE(AuthProofsEqual(client, ClientAuthProof("token", *n2, *n1)));
  // A server proof is never a replayed client proof.
  EXPECT_FALSE(AuthProofsEqual(client, ServerAuthProof("token", *n1, *n2)));
  EXPECT_FALSE(AuthProofsEqual(client, client.substr(0, 31)));
  EXPECT_FALSE(AuthProofsEqual("", ""));
  // The empty token (allow_no_token) still gives a full-size proof.
  EXPECT_EQ(ClientAuthProof("", *n1, *n2).size(), kAuthProofBytes);
}

// Known answers (computed with `openssl dgst -sha256 -hmac Jefe`) pin the
// proof formula of docs/store_protocol.md, so a change breaks this test
// instead of silently breaking compatibility.
TEST(StoreAuthTest, ProofsMatchKnownAnswers) {
  EXPECT_EQ(absl::BytesToHexString(ClientAuthProof("Jefe", "server-nonce", "client-nonce")),
            "a63b5a8f6f9385461ce78020f53d1107b994e96288f2753d12293383438ca71a");
  EXPECT_EQ(absl::BytesToHexString(ServerAuthProof("Jefe", "server-nonce", "client-nonce")),
            "c20906a5362be8df9dd8d6c9fcfab2f5ebeb567e271b322fa90a4f9918a7082a");
}

TEST(StoreSocketTest, SplitsHostPort) {
  absl::StatusOr<HostPort> hp = SplitHostPort("127.0.0.1:29500");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 29500);
  hp = SplitHostPort("[::1]:80");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(JoinHostPort("::1", 80), "[::1]:80");
  EXPECT_EQ(JoinHostPort("node1", 80), "node1:80");
  for (const char* bad :
       {"", "host", ":80", "host:", "host:0", "host:70000", "[::1]80", "host:x"}) {
    EXPECT_EQ(SplitHostPort(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace braid::elastic
