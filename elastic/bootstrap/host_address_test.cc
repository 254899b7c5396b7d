// Host addresses and tokens used when a rank hosts the store.
#include "elastic/bootstrap/host_address.h"

#include <string>

#include "gtest/gtest.h"

namespace braid::elastic {
namespace {

TEST(HostAddressTest, LoopbackInterfaceHasItsAddress) {
  absl::StatusOr<std::string> address = InterfaceAddress("lo");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "127.0.0.1");
  EXPECT_TRUE(IsLoopbackAddress(*address));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.1"));
}

TEST(HostAddressTest, UnknownInterfaceIsNotFound) {
  absl::StatusOr<std::string> address = InterfaceAddress("no-such-if0");
  EXPECT_EQ(address.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(address.status().message().find("no-such-if0"), absl::string_view::npos);
}

TEST(HostAddressTest, ThisHostPrefersTheNamedInterface) {
  absl::StatusOr<std::string> address = ThisHostAddress({"no-such-if0", "lo"});
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "127.0.0.1");
  // Without interfaces, the host name's address (any IPv4 will do here).
  address = ThisHostAddress({});
  if (address.ok()) {
    EXPECT_NE(address->find('.'), std::string::npos) << *address;
  }
}

TEST(HostAddressTest, ResolvesNamesAndDottedQuads) {
  absl::StatusOr<std::string> address = ResolveIpv4("127.0.0.1");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "127.0.0.1");
  address = ResolveIpv4("localhost");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_TRUE(IsLoopbackAddress(*address)) << *address;
  EXPECT_EQ(ResolveIpv4("no-such-host.invalid").status().code(), absl::StatusCode::kNotFound);
}

TEST(HostAddressTest, TokensAreFreshHex) {
  absl::StatusOr<std::string> a = RandomToken();
  absl::StatusOr<std::string> b = RandomToken();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_EQ(a->find_first_not_of("0123456789abcdef"), std::string::npos) << *a;
  EXPECT_NE(*a, *b);
}

}  // namespace
}  // namespace braid::elastic
