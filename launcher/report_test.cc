// Unit tests of what braidrun reports at the end of a job: the failure report
// with its root cause, and the merged trace.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "launcher/failure_report.h"
#include "launcher/trace_merge.h"

namespace braid::launcher {
namespace {

WorkerFailure Failure(int rank, absl::Time ended, std::optional<absl::Time> recorded) {
  WorkerFailure f;
  f.global_rank = rank;
  f.local_rank = rank;
  f.pid = 100 + rank;
  f.exit = ExitInfo{true, 1, 0};
  f.ended = ended;
  f.error_file = absl::StrCat("/run/attempt_0/", rank, "/error.json");
  f.tail = {absl::StrCat("line of rank ", rank)};
  if (recorded.has_value()) {
    runtime::ErrorRecord r;
    r.global_rank = rank;
    r.code = rank == 2 ? "INTERNAL" : "ABORTED";
    r.message = absl::StrCat("failure of rank ", rank);
    r.timestamp = *recorded;
    r.stack = {"0x0000000000401000 braid::Step()", "0x0000000000401100 main"};
    f.error = r;
  }
  return f;
}

TEST(FailureReportTest, RootCauseIsTheEarliestRecordedFailure) {
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  // Rank 2 recorded first but was seen to exit last: the record's time wins.
  std::vector<WorkerFailure> f = {Failure(0, t0 + absl::Seconds(1), t0 + absl::Milliseconds(500)),
                                  Failure(1, t0 + absl::Seconds(2), t0 + absl::Milliseconds(600)),
                                  Failure(2, t0 + absl::Seconds(3), t0 + absl::Milliseconds(100))};
  EXPECT_EQ(RootCause(f), 2u);
  const std::string report = FormatFailureReport(f);
  EXPECT_TRUE(absl::StrContains(report, "root cause (first failure): rank 2 (local 2, pid 102)"))
      << report;
  EXPECT_TRUE(absl::StrContains(report, "error: INTERNAL: failure of rank 2")) << report;
  EXPECT_TRUE(absl::StrContains(report, "error file: /run/attempt_0/2/error.json")) << report;
  EXPECT_TRUE(absl::StrContains(report, "#0 0x0000000000401000 braid::Step()")) << report;
  EXPECT_TRUE(absl::StrContains(report, "last output of rank 2:\n      | line of rank 2\n"))
      << report;
  EXPECT_FALSE(absl::StrContains(report, "| line of rank 0")) << report;
  // Every failure is in the table, with its error.
  EXPECT_TRUE(absl::StrContains(report, "ABORTED: failure of rank 0")) << report;
  EXPECT_TRUE(absl::StrContains(report, "ABORTED: failure of rank 1")) << report;
  EXPECT_TRUE(absl::StrContains(report, "2027-01-15 08:00:00.100000 UTC")) << report;
}

TEST(FailureReportTest, WorkerWithoutRecordUsesItsExitTime) {
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  // Rank 1 was killed (no record) before rank 0 recorded its error.
  std::vector<WorkerFailure> f = {Failure(0, t0 + absl::Seconds(2), t0 + absl::Seconds(1)),
                                  Failure(1, t0 + absl::Milliseconds(900), std::nullopt)};
  f[1].exit = ExitInfo{false, 0, 9};
  EXPECT_EQ(RootCause(f), 1u);
  const std::string report = FormatFailureReport(f);
  EXPECT_TRUE(absl::StrContains(report, "root cause (first failure): rank 1")) << report;
  EXPECT_TRUE(absl::StrContains(report, "signal 9")) << report;
  EXPECT_TRUE(absl::StrContains(report, "wrote no error file")) << report;
  // Ties go to the lower rank.
  std::vector<WorkerFailure> tie = {Failure(3, t0, t0), Failure(1, t0, t0)};
  EXPECT_EQ(RootCause(tie), 1u);
}

TEST(FailureReportTest, LongStacksAreCut) {
  WorkerFailure f = Failure(0, absl::UnixEpoch(), absl::UnixEpoch());
  f.error->stack.assign(30, "0x1 frame");
  f.tail.clear();
  f.error_file_problem = "";
  const std::string report = FormatFailureReport({f}, 5);
  EXPECT_TRUE(absl::StrContains(report, "#4 0x1 frame")) << report;
  EXPECT_FALSE(absl::StrContains(report, "#5 ")) << report;
  EXPECT_TRUE(absl::StrContains(report, "... 25 more")) << report;
  EXPECT_TRUE(absl::StrContains(report, "rank 0 wrote no output")) << report;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::string RankTrace(int rank, const std::string& name, int dropped) {
  return absl::StrCat(
      "{\"traceEvents\":[\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":", rank,
      ",\"tid\":0,\"args\":{\"name\":\"rank ", rank, "\"}},\n{\"name\":\"", name,
      "\",\"cat\":\"compute\",\"ph\":\"X\",\"ts\":1.000,\"pid\":", rank,
      ",\"tid\":1,\"dur\":2.000}\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"rank\":", rank,
      ",\"dropped_events\":", dropped, "}}\n");
}

TEST(TraceMergeTest, MergesRankFilesIntoOne) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/trace_merge_", ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // Names with brackets and braces inside strings must not confuse the merge.
  Write(dir + "/trace_rank0.json", RankTrace(0, "fwd [a] {b}", 0));
  Write(dir + "/trace_rank10.json", RankTrace(10, "bwd \\\"]", 3));
  Write(dir + "/trace_rank2.json", RankTrace(2, "opt", 1));
  Write(dir + "/trace_rank3.json", "{\"traceEvents\":[{\"name\":");  // torn: skipped
  Write(dir + "/other.json", "not a trace");
  absl::StatusOr<TraceMergeResult> r = MergeTraces(dir);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->path, dir + "/trace.json");
  EXPECT_EQ(r->ranks, (std::vector<int>{0, 2, 10}));
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(r->skipped[0], "trace_rank3.json: ")) << r->skipped[0];
  const std::string merged = ReadAll(r->path);
  EXPECT_TRUE(absl::StartsWith(merged, "{\"traceEvents\":[\n")) << merged;
  for (const char* needle :
       {"\"name\":\"fwd [a] {b}\"", "\"name\":\"bwd \\\"]\"", "\"name\":\"opt\"",
        "\"pid\":0,", "\"pid\":2,", "\"pid\":10,", "\"args\":{\"name\":\"rank 10\"}",
        "\"otherData\":{\"ranks\":[0,2,10],\"dropped_events\":4}"}) {
    EXPECT_TRUE(absl::StrContains(merged, needle)) << needle << "\n" << merged;
  }
  // Rank order: rank 0's events before rank 2's before rank 10's.
  EXPECT_LT(merged.find("fwd [a]"), merged.find("\"opt\""));
  EXPECT_LT(merged.find("\"opt\""), merged.find("bwd "));
  // Balanced: as many opening as closing brackets outside strings is what a
  // JSON reader needs; a cheap check is that the file ends the object.
  EXPECT_TRUE(absl::EndsWith(merged, "}}\n"));
  EXPECT_FALSE(std::filesystem::exists(r->path + ".tmp"));
  std::filesystem::remove_all(dir);
}

TEST(TraceMergeTest, NothingToMerge) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/trace_merge_empty_", ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  absl::StatusOr<TraceMergeResult> r = MergeTraces(dir);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->path, "");
  EXPECT_FALSE(std::filesystem::exists(dir + "/trace.json"));
  std::filesystem::remove_all(dir);
  EXPECT_EQ(MergeTraces(dir).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace braid::launcher
