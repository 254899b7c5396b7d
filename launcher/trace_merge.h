// MergeTraces: joins the per-rank Chrome-trace files that workers write with
// BRAID_TRACE=dir (dir/trace_rank<N>.json, runtime/trace.h) into one file,
// dir/trace.json, that Perfetto (https://ui.perfetto.dev) or
// chrome://tracing opens with one process per rank (pid = global rank, as
// each rank's tracer writes it).
//
// The merged file is the Chrome "JSON Object Format":
//   {"traceEvents":[<rank 0's events>,<rank 1's events>,...],
//    "displayTimeUnit":"ms","otherData":{"ranks":[0,1,...],"dropped_events":N}}
// where dropped_events sums the ranks' counts. Timestamps are copied as they
// are: ranks on one host share CLOCK_MONOTONIC and line up; ranks of other
// hosts are not aligned.
//
// braidrun calls it when its workers have ended (docs/tracing.md). A file
// that cannot be read or parsed is skipped and named in `skipped`.
//
// Thread-safety: plain function; concurrent merges of one folder each write
// a whole file (temporary name, then rename).
#ifndef BRAID_LAUNCHER_TRACE_MERGE_H_
#define BRAID_LAUNCHER_TRACE_MERGE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace braid::launcher {

struct TraceMergeResult {
  // dir/trace.json, or "" when no rank file was found (nothing written).
  std::string path;
  // Global ranks merged, ascending.
  std::vector<int> ranks;
  // "trace_rank3.json: <why>" for each file left out.
  std::vector<std::string> skipped;
};

// Merges dir/trace_rank<N>.json into dir/trace.json. kNotFound when `dir`
// does not exist; kInternal when the merged file cannot be written.
absl::StatusOr<TraceMergeResult> MergeTraces(const std::string& dir);

}  // namespace braid::launcher

#endif  // BRAID_LAUNCHER_TRACE_MERGE_H_
