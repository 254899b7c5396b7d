#include "runtime/crc32c.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/clock.h"
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
    EXPECT_EQ(Crc32cExtend(Crc32c(bytes.data(), split), bytes.data() + split, bytes.size() - split),
              whole)
        << split;
  }
  for (size_t n = 0; n <= 80; ++n) {
    for (size_t start = 0; start < 9; ++start) {
      EXPECT_EQ(Crc32cExtend(7, bytes.data() + start, n),
                Crc32cExtendPortable(7, bytes.data() + start, n))
          << start << " " << n;
    }
  }
  EXPECT_EQ(Crc32cExtendPortable(0, bytes.data(), bytes.size()), whole);
  bytes[500] ^= 1;
  EXPECT_NE(Crc32c(bytes.data(), bytes.size()), whole);
}

// Speed of both routines over 64 MiB (a measurement; run by hand with
// --gtest_also_run_disabled_tests).
TEST(Crc32cTest, DISABLED_Throughput) {
  std::vector<uint8_t> bytes(64 << 20, 0x5a);
  for (int round = 0; round < 3; ++round) {
    absl::Time t0 = absl::Now();
    uint32_t a = Crc32c(bytes.data(), bytes.size());
    const double fast = absl::ToDoubleSeconds(absl::Now() - t0);
    t0 = absl::Now();
    uint32_t b = Crc32cExtendPortable(0, bytes.data(), bytes.size());
    const double table = absl::ToDoubleSeconds(absl::Now() - t0);
    EXPECT_EQ(a, b);
    std::printf("Crc32c %.2f GB/s, table %.2f GB/s\n", bytes.size() / fast / 1e9,
                bytes.size() / table / 1e9);
  }
}

}  // namespace
}  // namespace braid::runtime
