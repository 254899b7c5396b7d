// libFuzzer target for everything the store parses from the network: the
// frame decoder (fed in fuzzer-chosen chunks), every protobuf message of the
// protocol, and the StoreState engine run on whatever Requests decode, with a
// clock that advances per frame so leases and parked deadlines fire too.
//
// Built only with clang and BRAID_FUZZ=ON (braid_fuzzer); ctest runs it for a
// few seconds.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "elastic/store/frame.h"
#include "elastic/store/proto/store.pb.h"
#include "elastic/store/store_state.h"

namespace {

using braid::elastic::FrameDecoder;
using braid::elastic::StoreState;
using braid::elastic::StoreStateOptions;
namespace storepb = braid::elastic::storepb;

StoreStateOptions SmallLimits() {
  StoreStateOptions o;
  o.max_key_bytes = 64;
  o.max_value_bytes = 256;
  o.max_response_bytes = 4096;
  o.history_events = 16;
  o.history_bytes = 4096;
  o.max_lease_ttl = absl::Seconds(10);
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // First byte: chunk size for feeding the decoder (1..32 bytes per Append).
  const size_t chunk = (data[0] % 32) + 1;
  ++data;
  --size;
  FrameDecoder decoder(2048);
  StoreState state(SmallLimits());
  absl::Time now = absl::FromUnixSeconds(1'000'000);
  uint64_t connection = 1;
  for (size_t off = 0; off < size; off += chunk) {
    const size_t n = std::min(chunk, size - off);
    decoder.Append(reinterpret_cast<const char*>(data + off), n);
    while (true) {
      absl::StatusOr<std::optional<std::string>> frame = decoder.Next();
      if (!frame.ok()) return 0;  // the server would close the connection here
      if (!frame->has_value()) break;
      const std::string& payload = **frame;
      // Every message type must parse or fail cleanly.
      storepb::ServerHello sh;
      storepb::ClientHello ch;
      storepb::AuthResult ar;
      storepb::Response resp;
      (void)braid::elastic::ParseFrame(payload, &sh, "fuzz");
      (void)braid::elastic::ParseFrame(payload, &ch, "fuzz");
      (void)braid::elastic::ParseFrame(payload, &ar, "fuzz");
      (void)braid::elastic::ParseFrame(payload, &resp, "fuzz");
      storepb::Request request;
      if (!braid::elastic::ParseFrame(payload, &request, "fuzz").ok()) continue;
      // Cap parked timeouts so the fuzzer's clock reaches them.
      request.set_timeout_us(request.timeout_us() % 5'000'000);
      state.Handle(connection, request, now);
      now += absl::Milliseconds(payload.size() % 700);
      state.Tick(now);
      if (payload.size() % 13 == 0) state.DropConnection(connection);
      connection = 1 + payload.size() % 3;
      for (StoreState::Reply& reply : state.TakeReplies()) {
        std::string out;
        // A reply must always fit a frame.
        if (!braid::elastic::AppendFrame(reply.response, 8192, &out).ok()) __builtin_trap();
      }
    }
  }
  state.Tick(now + absl::Seconds(20));
  (void)state.TakeReplies();
  return 0;
}
