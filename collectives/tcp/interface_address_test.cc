// InterfaceIpv4Address: BRAID_SOCKET_IFNAME's lookup, with "lo" (always
// present) and names that do not exist.
#include "collectives/tcp/interface_address.h"

#include "absl/strings/match.h"
#include "collectives/factory.h"
#include "collectives/tcp/tcp_options.h"
#include "gtest/gtest.h"

namespace braid::collectives::tcp {
namespace {

TEST(InterfaceAddressTest, LoopbackResolves) {
  absl::StatusOr<std::string> address = InterfaceIpv4Address("lo");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "127.0.0.1");
}

TEST(InterfaceAddressTest, FirstExistingInterfaceOfAListWins) {
  absl::StatusOr<std::string> address = InterfaceIpv4Address(" braid-bogus0 , lo");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "127.0.0.1");
}

TEST(InterfaceAddressTest, MissingInterfaceIsNamedAndTheExistingOnesListed) {
  absl::StatusOr<std::string> address = InterfaceIpv4Address("braid-bogus0");
  EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument) << address.status();
  EXPECT_TRUE(absl::StrContains(address.status().message(), "'braid-bogus0'")) << address.status();
  EXPECT_TRUE(absl::StrContains(address.status().message(), "lo=127.0.0.1")) << address.status();
  EXPECT_TRUE(absl::StrContains(address.status().message(), "BRAID_SOCKET_IFNAME"));
  EXPECT_TRUE(absl::StrContains(DescribeInterfaces(), "lo=127.0.0.1"));
}

TEST(InterfaceAddressTest, EmptyListIsAnError) {
  EXPECT_EQ(InterfaceIpv4Address(" , ").status().code(), absl::StatusCode::kInvalidArgument);
}

// The backend option "ifname" (what Bootstrap sets from BRAID_SOCKET_IFNAME).
TEST(InterfaceAddressTest, BackendOptionPublishesTheInterfaceAddress) {
  CommunicatorOptions o;
  o.backend_options["ifname"] = "lo";
  absl::StatusOr<TcpOptions> parsed = ParseTcpOptions(o);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->host, "127.0.0.1");

  o.backend_options["ifname"] = "braid-bogus0";
  parsed = ParseTcpOptions(o);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(parsed.status().message(), "braid-bogus0")) << parsed.status();
  EXPECT_TRUE(absl::StrContains(parsed.status().message(), "lo=127.0.0.1")) << parsed.status();

  o.backend_options["ifname"] = "lo";
  o.backend_options["host"] = "127.0.0.1";
  EXPECT_EQ(ParseTcpOptions(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::collectives::tcp
