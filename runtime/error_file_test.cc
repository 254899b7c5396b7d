#include "runtime/error_file.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/config.h"
#include "tests/testing/run_ranks.h"

namespace braid::runtime {
namespace {

using braid::testing::RankResults;
using braid::testing::RunRanks;
using braid::testing::RunRanksOptions;

// Sanitizers put their own fatal-signal handlers behind ours; they may end
// the process with an exit code instead of the signal.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kThreadSanitized = true;
#else
constexpr bool kThreadSanitized = false;
#endif
#else
constexpr bool kThreadSanitized = false;
#endif

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "/error_file_test_", ::getpid(), "_", name);
}

void WriteText(const std::string& path, absl::string_view text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// In a rank process: turn reporting on the way Bootstrap does, from the
// environment the parent gave (BRAID_ERROR_FILE).
void InstallFromEnvironment() {
  absl::StatusOr<Config> config = Config::FromEnvironment();
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_FALSE(config->error_file.empty());
  ASSERT_TRUE(InstallErrorReporting({.path = config->error_file, .global_rank = 7}).ok());
  ASSERT_TRUE(ErrorReportingEnabled());
}

TEST(ErrorFileTest, FormatAndParseRoundTrip) {
  ErrorRecord r;
  r.global_rank = 3;
  r.pid = 4711;
  r.code = "ABORTED";
  r.message = "peer \"1\" died\n\tat C:\\x \x01 \xc3\xa9";
  r.timestamp = absl::FromUnixMicros(1795460401123456);
  r.stack = {"0x0000000000401000 main", "0x0000000000401100 (unknown)"};
  const std::string json = FormatErrorRecord(r);
  EXPECT_EQ(json.back(), '\n');
  EXPECT_EQ(std::count(json.begin(), json.end(), '\n'), 1) << json;
  absl::StatusOr<ErrorRecord> back = ParseErrorRecord(json);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << json;
  EXPECT_EQ(back->global_rank, 3);
  EXPECT_EQ(back->pid, 4711);
  EXPECT_EQ(back->code, "ABORTED");
  EXPECT_EQ(back->signal, 0);
  EXPECT_EQ(back->message, r.message);
  EXPECT_EQ(back->timestamp, r.timestamp);
  EXPECT_EQ(back->stack, r.stack);
  EXPECT_EQ(back->Summary(), absl::StrCat("ABORTED: ", r.message));
}

TEST(ErrorFileTest, ParseAcceptsUnknownKeysAndEscapes) {
  absl::StatusOr<ErrorRecord> r = ParseErrorRecord(
      R"( { "extra": {"a": [1, 2.5e3, true, null, "x"]}, "code" : "INTERNAL",
            "message": "caf\u00e9 \ud83d\ude00 \/", "timestamp_us": 5, "stack": [] } )");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->code, "INTERNAL");
  EXPECT_EQ(r->message, "caf\xc3\xa9 \xf0\x9f\x98\x80 /");
  EXPECT_EQ(r->timestamp, absl::FromUnixMicros(5));
  EXPECT_EQ(r->global_rank, -1);
}

TEST(ErrorFileTest, MalformedRecordsAreDataLoss) {
  for (absl::string_view bad :
       {"", "{", "[]", "{\"code\":\"X\"}", "{\"timestamp_us\":1}",
        "{\"code\":3,\"timestamp_us\":1}", "{\"code\":\"X\",\"timestamp_us\":\"1\"}",
        "{\"code\":\"X\",\"timestamp_us\":1} trailing", "{\"code\":\"X\",\"timestamp_us\":1,}",
        "{\"code\":\"\\q\",\"timestamp_us\":1}", "{\"code\":\"X\",\"timestamp_us\":1,\"stack\":[1]}",
        "{\"code\":\"unterminated,\"timestamp_us\":1}"}) {
    absl::StatusOr<ErrorRecord> r = ParseErrorRecord(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << "'" << bad << "' " << r.status();
  }
}

TEST(ErrorFileTest, ReadAndWriteFiles) {
  const std::string path = TempPath("rw.json");
  std::filesystem::remove(path);
  EXPECT_EQ(ReadErrorFile(path).status().code(), absl::StatusCode::kNotFound);
  ErrorRecord r;
  r.code = "DATA_LOSS";
  r.message = "checksum";
  r.timestamp = absl::FromUnixMicros(42);
  ASSERT_TRUE(WriteErrorFile(path, r).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  absl::StatusOr<ErrorRecord> back = ReadErrorFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->Summary(), "DATA_LOSS: checksum");
  WriteText(path, "{\"code\":");
  absl::StatusOr<ErrorRecord> torn = ReadErrorFile(path);
  EXPECT_EQ(torn.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(torn.status().message(), path)) << torn.status();
  EXPECT_EQ(WriteErrorFile("/nonexistent-dir/x.json", r).code(), absl::StatusCode::kInternal);
  std::filesystem::remove(path);
}

TEST(ErrorFileTest, NothingHappensWithoutInstall) {
  // This process never installs reporting, so RecordError writes nothing.
  EXPECT_FALSE(ErrorReportingEnabled());
  EXPECT_TRUE(RecordError(absl::InternalError("x")).ok());
  EXPECT_TRUE(InstallErrorReporting({}).ok());  // empty path: stays off
  EXPECT_FALSE(ErrorReportingEnabled());
  EXPECT_EQ(InstallErrorReporting({.path = std::string(5000, 'a')}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ErrorFileTest, RecordErrorWritesTheFirstStatus) {
  const std::string path = TempPath("status.json");
  std::filesystem::remove(path);
  const absl::Time before = absl::Now();
  RunRanksOptions options;
  options.env["BRAID_ERROR_FILE"] = path;
  RankResults results = RunRanks(
      1,
      [](int, int) {
        InstallFromEnvironment();
        EXPECT_TRUE(RecordError(absl::OkStatus()).ok());  // OK is not an error
        EXPECT_TRUE(RecordError(absl::AbortedError("peer 2 died in AllReduce")).ok());
        EXPECT_TRUE(RecordError(absl::InternalError("a consequence")).ok());
      },
      options);
  ASSERT_TRUE(results.AllSucceeded()) << results.Summary();
  absl::StatusOr<ErrorRecord> r = ReadErrorFile(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->code, "ABORTED");
  EXPECT_EQ(r->message, "peer 2 died in AllReduce");
  EXPECT_EQ(r->global_rank, 7);
  EXPECT_EQ(r->pid, results.ranks[0].pid);
  EXPECT_EQ(r->signal, 0);
  EXPECT_GE(r->timestamp, before - absl::Seconds(1));
  EXPECT_LE(r->timestamp, absl::Now() + absl::Seconds(1));
  ASSERT_FALSE(r->stack.empty());
  // The caller's frames are symbolised (test binaries keep their symbols).
  bool symbolised = false;
  for (const std::string& frame : r->stack) {
    EXPECT_TRUE(absl::StartsWith(frame, "0x")) << frame;
    symbolised |= !absl::EndsWith(frame, "(unknown)");
  }
  EXPECT_TRUE(symbolised);
  std::filesystem::remove(path);
}

// Crashes after installing the handler; the file must say so.
void ExpectCrashRecord(const char* name, int expected_signal, void (*crash)()) {
  const std::string path = TempPath(absl::StrCat(name, ".json"));
  std::filesystem::remove(path);
  RunRanksOptions options;
  options.env["BRAID_ERROR_FILE"] = path;
  const absl::Time before = absl::Now();
  RankResults results = RunRanks(
      1,
      [crash](int, int) {
        InstallFromEnvironment();
        crash();
      },
      options);
  ASSERT_EQ(results.ranks.size(), 1u);
  // The process still dies of the signal.
  EXPECT_TRUE(results.ranks[0].signal == expected_signal ||
              (kSanitized && !results.ranks[0].ok()))
      << results.Summary();
  absl::StatusOr<ErrorRecord> r = ReadErrorFile(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->code, name);
  EXPECT_EQ(r->signal, expected_signal);
  EXPECT_EQ(r->global_rank, 7);
  EXPECT_EQ(r->pid, results.ranks[0].pid);
  EXPECT_GE(r->timestamp, before - absl::Seconds(1));
  EXPECT_LE(r->timestamp, absl::Now() + absl::Seconds(1));
  EXPECT_FALSE(r->stack.empty());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::filesystem::remove(path);
}

void Segfault() {
  volatile int* volatile p = nullptr;
  *p = 1;
}
void Abort() { std::abort(); }
// Deep recursion: the handler must still run (on its alternate stack).
int Overflow(int depth) {
  volatile char pad[4096];
  pad[0] = static_cast<char>(depth);
  if (depth < 0) return 0;  // never: keeps the compiler from seeing endless recursion
  return Overflow(depth + 1) + pad[0];
}
void StackOverflow() { (void)Overflow(0); }

TEST(ErrorFileTest, SegfaultIsRecorded) { ExpectCrashRecord("SIGSEGV", SIGSEGV, Segfault); }
TEST(ErrorFileTest, AbortIsRecorded) { ExpectCrashRecord("SIGABRT", SIGABRT, Abort); }
TEST(ErrorFileTest, StackOverflowIsRecorded) {
  // TSan handles SIGSEGV itself first, on the exhausted stack, and then
  // sometimes ends the process before our handler runs; ASan and plain
  // builds check this.
  if (kThreadSanitized) GTEST_SKIP() << "TSan's own SIGSEGV handling races ours on overflow";
  ExpectCrashRecord("SIGSEGV", SIGSEGV, StackOverflow);
}

TEST(ErrorFileTest, CrashAfterAnErrorKeepsTheError) {
  const std::string path = TempPath("first.json");
  std::filesystem::remove(path);
  RunRanksOptions options;
  options.env["BRAID_ERROR_FILE"] = path;
  RankResults results = RunRanks(
      1,
      [](int, int) {
        InstallFromEnvironment();
        (void)RecordError(absl::DataLossError("bad checksum"));
        std::abort();
      },
      options);
  EXPECT_TRUE(results.ranks[0].signal == SIGABRT || (kSanitized && !results.ranks[0].ok()))
      << results.Summary();
  absl::StatusOr<ErrorRecord> r = ReadErrorFile(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->Summary(), "DATA_LOSS: bad checksum");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace braid::runtime
