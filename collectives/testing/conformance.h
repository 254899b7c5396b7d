// Conformance suite for collectives::Communicator: the one set of checks every
// backend (tcp, mpi, nccl, the device-dispatching composite) must pass.
//
// Each check runs on every rank of a communicator at once: it builds this
// rank's input from a deterministic pattern of (rank, element index), runs one
// operation, computes locally what the operation must have produced on this
// rank, and compares. It returns OK, or a Status naming the first mismatch:
//
//   AllReduce(sum, f16, count=7, in-place) on rank 1/4 (backend mpi, epoch 0):
//   element 3: expected 2.5, got 3
//
// Reduction inputs are small integers (halves for floating types), so sums,
// products, minima and maxima are exact in every dtype at up to 16 ranks;
// only avg of floating types can round, and f16/bf16 results are compared
// with a tolerance of a few units in the last place. Integer avg must
// truncate toward zero (DECISIONS.md). Data-movement checks (AllGather,
// Broadcast, AllToAll(V), Send/Recv) use values that encode (source rank,
// destination, element), so a chunk in the wrong place is caught.
//
// Every check is collective: all ranks of the communicator must call the same
// checks with the same arguments in the same order. A mismatch does not stop
// the other ranks (they still run the same operations), so after a mismatch
// the remaining checks stay meaningful; an operation that FAILS (its Work
// returns an error) usually leaves the communicator broken, so the suite
// stops there. IsMismatch() tells the two apart.
//
// How a backend test uses it:
//
//   * tcp (ranks forked by RunRanks, bootstrapped through a store):
//       TEST(TcpConformanceTest, FourRanks) {
//         ... start a store server in the parent, pass its address in env ...
//         RankResults r = RunRanks(4, [&](int rank, int world_size) {
//           CommunicatorOptions o; o.rank = rank; o.size = world_size; o.store = ...;
//           auto comm = CreateTcpCommunicator(o);
//           ASSERT_TRUE(comm.ok()) << comm.status();
//           RunConformanceSuite(**comm, ConformanceOptions{});
//         }, run_options);
//         EXPECT_TRUE(r.AllSucceeded()) << r.Summary();
//       }
//
//   * mpi (the ctest test is `mpiexec -np 4 <test binary>`; every rank runs
//     every TEST, and a rank's gtest failure makes mpiexec exit non-zero):
//       TEST(MpiConformanceTest, World) {
//         auto comm = MpiCommunicator::CreateWorld(session, options);
//         ASSERT_TRUE(comm.ok()) << comm.status();
//         RunConformanceSuite(**comm, ConformanceOptions{});
//       }
//
//   * nccl / CUDA tensors: set ConformanceOptions::device = Device::Cuda(n);
//     inputs are built on the host and copied to the device, results are
//     copied back for comparison.
//
// In-place variants follow NCCL's convention where input and output differ in
// size: in-place ReduceScatter passes output = the rank's chunk of input (a
// view), in-place AllGather passes input = the rank's chunk of output, and
// the other operations pass the same tensor as input and output.
//
// Thread-safety: the checks use only the communicator they are given and
// their own tensors; run them from the thread that posts the communicator's
// operations.
#ifndef BRAID_COLLECTIVES_TESTING_CONFORMANCE_H_
#define BRAID_COLLECTIVES_TESTING_CONFORMANCE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "collectives/communicator.h"
#include "runtime/device.h"
#include "runtime/dtype.h"

namespace braid::collectives::testing {

struct ConformanceOptions {
  // Where the tensors live (CUDA tensors for nccl).
  runtime::Device device = runtime::Device::Cpu();
  // Element types and reductions to cover. Default: all of them.
  std::vector<runtime::DType> dtypes = {std::begin(runtime::kAllDTypes),
                                        std::end(runtime::kAllDTypes)};
  std::vector<ReduceOp> ops = {std::begin(kAllReduceOps), std::end(kAllReduceOps)};
  // Element counts run for every dtype (per rank or per peer where the op
  // splits its buffer). Default: empty, one element, an odd count, and 1000.
  std::vector<int64_t> counts = {0, 1, 7, 1000};
  // A ~1 MB case (count of f32 elements; odd on purpose): AllReduce for every
  // dtype with sum and for f32 with every op, plus f32 runs of the other
  // operations. 0 disables it.
  int64_t large_count = 262147;
  // Also run the in-place variant of each operation (see the file comment).
  bool in_place = true;
  // Send/Recv around a ring, and AllToAllV, each needing size() >= 2.
  bool point_to_point = true;
  // Receives are posted in the reverse tag order of the sends, so a backend
  // that ignores tags (or serialises p2p by posting order) fails.
  bool out_of_order_tags = true;
  // Split into parity groups (with one rank opting out when size() > 2) and
  // reduce in each.
  bool split = true;
  // Calls with bad arguments (mismatched sizes, bad root/peer) must fail with
  // kInvalidArgument through Work::Wait, without communicating.
  bool argument_errors = true;
  // Each Work::Wait gets absl::Now() + op_timeout (scaled by the caller under
  // sanitizers if needed).
  absl::Duration op_timeout = absl::Seconds(60);
};

// True when `status` came from a check's comparison (the operation itself
// succeeded, the data was wrong), false for errors of the operation.
bool IsMismatch(const absl::Status& status);

// ---- Deterministic patterns and references (usable by benchmarks and other
// tests that want the same numbers) -------------------------------------------

// The value rank `rank` contributes at element `index` to a reduction `op`:
// a small integer in [-5, 5] ([0, 10] for u8; {-1, 1, 2} for prod), halved
// for floating types.
double ReductionInput(runtime::DType dtype, ReduceOp op, int rank, int64_t index);

// What element `index` of the reduction over ranks 0..world_size-1 must be,
// rounded to `dtype` (integer avg truncated toward zero).
double ReductionReference(runtime::DType dtype, ReduceOp op, int world_size, int64_t index);

// A value identifying (a, b, index), exactly representable in `dtype`.
double MovementValue(runtime::DType dtype, int64_t a, int64_t b, int64_t index);

// ---- Checks (collective: every rank calls the same one) -----------------------

absl::Status CheckAllReduce(Communicator& comm, runtime::DType dtype, ReduceOp op, int64_t count,
                            bool in_place, const ConformanceOptions& options);
absl::Status CheckReduceScatter(Communicator& comm, runtime::DType dtype, ReduceOp op,
                                int64_t count_per_rank, bool in_place,
                                const ConformanceOptions& options);
absl::Status CheckAllGather(Communicator& comm, runtime::DType dtype, int64_t count_per_rank,
                            bool in_place, const ConformanceOptions& options);
absl::Status CheckBroadcast(Communicator& comm, runtime::DType dtype, int64_t count, int root,
                            const ConformanceOptions& options);
absl::Status CheckReduce(Communicator& comm, runtime::DType dtype, ReduceOp op, int64_t count,
                         int root, bool in_place, const ConformanceOptions& options);
absl::Status CheckAllToAll(Communicator& comm, runtime::DType dtype, int64_t count_per_peer,
                           bool in_place, const ConformanceOptions& options);
// Rank i sends ((i + 2 j) % 3) * scale elements to rank j: uneven, with zeros.
absl::Status CheckAllToAllV(Communicator& comm, runtime::DType dtype, int64_t scale,
                            const ConformanceOptions& options);
// Each rank sends two messages (tags 3 and 11) to rank + 1 and receives two
// from rank - 1. REQUIRES: comm.size() >= 2.
absl::Status CheckSendRecvRing(Communicator& comm, runtime::DType dtype, int64_t count,
                               const ConformanceOptions& options);
// ---- Variable counts, rooted movement, pre-multiplied sums
// (conformance_vector.cc) ------------------------------------------------------

// counts[j] = ((j + 1) % 3) * scale: uneven, with a zero when size() >= 3.
// In place: input is this rank's segment of output.
absl::Status CheckAllGatherV(Communicator& comm, runtime::DType dtype, int64_t scale,
                             bool in_place, const ConformanceOptions& options);
// Same counts; in place: output is this rank's segment of input.
absl::Status CheckReduceScatterV(Communicator& comm, runtime::DType dtype, ReduceOp op,
                                 int64_t scale, bool in_place, const ConformanceOptions& options);
// In place: on the root, input is the root's chunk of output.
absl::Status CheckGather(Communicator& comm, runtime::DType dtype, int64_t count, int root,
                         bool in_place, const ConformanceOptions& options);
// In place: on the root, output is the root's chunk of input.
absl::Status CheckScatter(Communicator& comm, runtime::DType dtype, int64_t count, int root,
                          bool in_place, const ConformanceOptions& options);
// AllReducePreMulSum (or ReduceScatterPreMulSum with `count` per rank) with
// scale 0.5 for floating types and 3 for integers.
absl::Status CheckPreMulSum(Communicator& comm, runtime::DType dtype, int64_t count,
                            bool reduce_scatter, bool in_place,
                            const ConformanceOptions& options);
// AllToAllV with input == output (one buffer large enough for both layouts).
absl::Status CheckAllToAllVInPlace(Communicator& comm, runtime::DType dtype, int64_t scale,
                                   const ConformanceOptions& options);
// Local only, like CheckArgumentErrors, for the operations above.
absl::Status CheckVectorArgumentErrors(Communicator& comm, const ConformanceOptions& options);

absl::Status CheckBarrier(Communicator& comm, const ConformanceOptions& options);
absl::Status CheckSplit(Communicator& comm, const ConformanceOptions& options);
// Local only: no rank communicates, so ranks need not agree on it.
absl::Status CheckArgumentErrors(Communicator& comm, const ConformanceOptions& options);

// Runs every check selected by `options`, in a fixed order; returns the first
// failure (mismatch or operation error).
absl::Status RunConformanceChecks(Communicator& comm, const ConformanceOptions& options);

// The gtest entry: runs the same checks as RunConformanceChecks, recording
// each failure with ADD_FAILURE(); goes on after a mismatch and stops after an
// operation error. Call from inside a TEST body on every rank.
void RunConformanceSuite(Communicator& comm, const ConformanceOptions& options);

}  // namespace braid::collectives::testing

#endif  // BRAID_COLLECTIVES_TESTING_CONFORMANCE_H_
