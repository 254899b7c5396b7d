// libFuzzer target: feeds arbitrary bytes, in arbitrary pieces, through the
// FrameAssembler and the abort-payload decoder. Neither may crash, read out of
// bounds or allocate more than the frame limit.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <string>
#include <vector>

#include "collectives/tcp/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace braid::collectives::tcp;
  FrameLimits limits;
  limits.max_payload_bytes = 1 << 16;
  limits.world_size = 64;
  FrameAssembler assembler(limits);
  size_t pos = 0;
  // The first byte picks the piece size, so the fuzzer explores split reads.
  const size_t piece = size > 0 ? (data[0] % 61) + 1 : 1;
  while (pos < size) {
    absl::Span<uint8_t> buf = assembler.NextBuffer();
    if (buf.empty()) {
      if (assembler.TakeFrame() == nullptr) break;  // failed
      continue;
    }
    const size_t n = std::min({buf.size(), piece, size - pos});
    std::memcpy(buf.data(), data + pos, n);
    pos += n;
    if (!assembler.Commit(n).ok()) break;
    if (std::unique_ptr<Frame> f = assembler.TakeFrame()) {
      if (f->header.kind == FrameKind::kAbort) {
        std::vector<int> failed;
        std::string message;
        (void)DecodeAbortPayload(absl::MakeConstSpan(f->payload.get(), f->header.payload_bytes),
                                 &failed, &message);
      }
    }
  }
  return 0;
}
