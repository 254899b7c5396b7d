// Helpers shared by the conformance suite's files (conformance.cc,
// conformance_vector.cc): building tensors from values, waiting for a Work,
// comparing against a reference, and labelling checks. Test-only, internal.
#ifndef BRAID_COLLECTIVES_TESTING_CONFORMANCE_INTERNAL_H_
#define BRAID_COLLECTIVES_TESTING_CONFORMANCE_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "collectives/communicator.h"
#include "collectives/testing/conformance.h"
#include "runtime/device.h"
#include "runtime/dtype.h"
#include "runtime/tensor.h"

namespace braid::collectives::testing::internal {

// `v` as stored in `dtype` and read back.
double RoundTo(runtime::DType dtype, double v);
// A comparison failure (IsMismatch() is true for it).
absl::Status Mismatch(const std::string& what, absl::string_view detail);
// "AllReduce(...) on rank 1/4 (backend mpi, epoch 0)".
std::string Describe(Communicator& comm, absl::string_view op);
// A 1-D tensor of `values` in `dtype` on `device`.
absl::StatusOr<runtime::Tensor> MakeTensor(const std::vector<double>& values,
                                           runtime::DType dtype, runtime::Device device);
// Values nobody should produce: marks output not written.
std::vector<double> Sentinel(runtime::DType dtype, int64_t count);
// Waits with options.op_timeout; the error names `what`.
absl::Status WaitFor(const std::shared_ptr<Work>& work, const std::string& what,
                     const ConformanceOptions& options);
// A Mismatch unless got_tensor equals expected (within the dtype's tolerance).
absl::Status Compare(const std::string& what, runtime::DType dtype,
                     const runtime::Tensor& got_tensor, const std::vector<double>& expected);
// "AllReduce(sum, f16, count=7, in-place)".
std::string Label(absl::string_view op, absl::string_view extra, runtime::DType dtype,
                  int64_t count, bool in_place);
// OK when the Work fails with kInvalidArgument, else a Mismatch.
absl::Status ExpectInvalidArgument(const std::shared_ptr<Work>& work, const std::string& what,
                                   const ConformanceOptions& options);

}  // namespace braid::collectives::testing::internal

#endif  // BRAID_COLLECTIVES_TESTING_CONFORMANCE_INTERNAL_H_
