#include "launcher/output.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace braid::launcher {
namespace {

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

void WriteAll(int fd, const std::string& s) {
  ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()));
}

TEST(OutputTest, PrefixesWholeLinesAndKeepsTail) {
  OutputForwarder::Options o;
  o.tail_lines = 2;
  o.max_line_bytes = 16;
  auto fwd = OutputForwarder::Create(o);
  ASSERT_TRUE(fwd.ok()) << fwd.status();
  int console[2], a[2], b[2];
  ASSERT_EQ(::pipe(console), 0);
  ASSERT_EQ(::pipe(a), 0);
  ASSERT_EQ(::pipe(b), 0);
  const std::string log = absl::StrCat(::testing::TempDir(), "/output_test_", ::getpid(), "/a.log");
  ASSERT_TRUE((*fwd)->AddStream(1, a[0], {"[rank0]:", console[1], log}).ok());
  ASSERT_TRUE((*fwd)->AddStream(2, b[0], {"[rank1]:", console[1], ""}).ok());
  // Partial lines from two writers, interleaved in time.
  WriteAll(a[1], "hel");
  WriteAll(b[1], "wor");
  WriteAll(a[1], "lo\nsecond");
  WriteAll(b[1], "ld\n");
  WriteAll(a[1], " line\n0123456789abcdefXYZ\nlast");
  ::close(a[1]);
  ::close(b[1]);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  ASSERT_TRUE((*fwd)->Drain(1, deadline).ok());
  ASSERT_TRUE((*fwd)->Drain(2, deadline).ok());
  (*fwd)->WriteDirect(console[1], "braidrun: done\n");
  fwd->reset();
  ::close(console[1]);
  const std::string out = ReadAll(console[0]);
  EXPECT_NE(out.find("[rank0]:hello\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[rank1]:world\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[rank0]:second line\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[rank0]:0123456789abcdef\n[rank0]:XYZ\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[rank0]:last\n"), std::string::npos) << out;
  EXPECT_NE(out.find("braidrun: done\n"), std::string::npos) << out;
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "hello\nsecond line\n0123456789abcdef\nXYZ\nlast\n");
  std::filesystem::remove_all(std::filesystem::path(log).parent_path());
}

TEST(OutputTest, TailLines) {
  OutputForwarder::Options o;
  o.tail_lines = 2;
  auto fwd = OutputForwarder::Create(o);
  ASSERT_TRUE(fwd.ok());
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_TRUE((*fwd)->AddStream(7, p[0], {"", -1, ""}).ok());
  WriteAll(p[1], "1\n2\n3\n");
  ::close(p[1]);
  ASSERT_TRUE((*fwd)->Drain(7, absl::Now() + absl::Seconds(20)).ok());
  EXPECT_EQ((*fwd)->TailLines(7), (std::vector<std::string>{"2", "3"}));
  EXPECT_TRUE((*fwd)->TailLines(99).empty());
}

TEST(OutputTest, DrainTimesOutWhileOpen) {
  auto fwd = OutputForwarder::Create({});
  ASSERT_TRUE(fwd.ok());
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_TRUE((*fwd)->AddStream(1, p[0], {"", -1, ""}).ok());
  EXPECT_EQ((*fwd)->Drain(1, absl::Now() + absl::Milliseconds(50)).code(),
            absl::StatusCode::kDeadlineExceeded);
  ::close(p[1]);
  EXPECT_TRUE((*fwd)->Drain(1, absl::Now() + absl::Seconds(20)).ok());
}

TEST(OutputTest, BadLogPathIsAnError) {
  auto fwd = OutputForwarder::Create({});
  ASSERT_TRUE(fwd.ok());
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  EXPECT_EQ((*fwd)->AddStream(1, p[0], {"", -1, "/proc/nope/x.log"}).code(),
            absl::StatusCode::kInvalidArgument);
  ::close(p[1]);
}

}  // namespace
}  // namespace braid::launcher
