// Parameter initialisation: deterministic fills from Philox (runtime/philox.h).
//
//   // in a layer's InitializeParameter(name, p, seed, stream):
//   if (name == "weight") return nn::InitNormal(p.value, options_.init_std, seed, stream);
//   return nn::InitConstant(p.value, 0.0);
//
// A fill is a pure function of (seed, stream) and the element's row-major
// index, so a parameter gets the same values on every rank, on CPU and GPU,
// and whatever the other parameters are (Layer::Initialize uses the stream
// Layer::StreamOf(dotted name)). Element i of the tensor is element i of the
// Philox sequence (seed, stream, offset 0); normals use Box-Muller
// (runtime/philox.h), uniforms the top 24 bits.
//
// Tensors: f32 (the master copy), f16 or bf16 (computed in f32, rounded to
// nearest even), any strides, on the CPU or a CUDA device. GPU tensors are
// filled on the host and copied (synchronously): initialisation is not a hot
// path.
//
// Errors: kInvalidArgument for an undefined tensor, an integer dtype,
// stddev < 0 or lo > hi (nothing written); kFailedPrecondition for a CUDA
// tensor without CUDA or GPU; kResourceExhausted when the host staging buffer
// cannot be allocated.
//
// Thread-safety: thread-safe (writes only `t`).
#ifndef BRAID_NN_INIT_H_
#define BRAID_NN_INIT_H_

#include <cstdint>

#include "absl/status/status.h"
#include "runtime/tensor.h"

namespace braid::nn {

// t[i] = stddev * N(0, 1)[i] of Philox (seed, stream).
absl::Status InitNormal(const runtime::Tensor& t, float stddev, uint64_t seed, uint64_t stream);

// t[i] = lo + (hi - lo) * U[0, 1)[i] of Philox (seed, stream).
absl::Status InitUniform(const runtime::Tensor& t, float lo, float hi, uint64_t seed,
                         uint64_t stream);

// t[i] = value (converted to t's dtype).
absl::Status InitConstant(const runtime::Tensor& t, double value);

}  // namespace braid::nn

#endif  // BRAID_NN_INIT_H_
