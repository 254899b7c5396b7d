#include "runtime/crc32c.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace braid::runtime {
namespace {

TEST(Crc32cTest, CheckValue) {
  const std::string s = "123456789";
  EXPECT_EQ(Crc32c(s.data(), s.size()), 0xe3069283u);
  EXPECT_EQ(Crc32c(s.data(), 0), 0u);
}

TEST(Crc32cTest, ExtendEqualsWholeAtEverySplit) {
  std::vector<uint8_t> bytes(1000);
  uint32_t x = 12345;
  for (uint8_t& b : bytes) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>(x >> 16);
  }
  const uint32_t whole = Crc32c(bytes.data(), bytes.size());
  for (size_t split = 0; split <= bytes.size(); split += 37) {
    EXPECT_EQ(Crc32cExtend(Crc32c(bytes.data(), split), bytes.data() + split,
                           bytes.size() - split),
              whole)
        << split;
  }
  bytes[500] ^= 1;
  EXPECT_NE(Crc32c(bytes.data(), bytes.size()), whole);
}

}  // namespace
}  // namespace braid::runtime
