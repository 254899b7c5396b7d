#include "nn/init.h"

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "runtime/dtype.h"
#include "runtime/philox.h"
#include "runtime/status_macros.h"

namespace braid::nn {
namespace {

// Checks `t` and runs `fill` on a host tensor that is `t` itself (CPU) or a
// staging copy that is then copied to the device.
absl::Status FillVia(absl::string_view what, const runtime::Tensor& t,
                     absl::FunctionRef<absl::Status(runtime::Tensor&)> fill) {
  if (!t.defined()) {
    return absl::InvalidArgumentError(absl::StrCat("nn::", what, ": undefined tensor"));
  }
  if (!runtime::IsFloatingPoint(t.dtype())) {
    return absl::InvalidArgumentError(absl::StrCat("nn::", what, ": tensor is ",
                                                   runtime::ToString(t.dtype()),
                                                   "; parameters are f32, f16 or bf16"));
  }
  if (t.device().is_cpu()) {
    runtime::Tensor handle = t;
    return fill(handle);
  }
  BRAID_ASSIGN_OR_RETURN(runtime::Tensor host,
                         runtime::Tensor::Empty(t.shape(), t.dtype(), runtime::Device::Cpu()));
  BRAID_RETURN_IF_ERROR(fill(host));
  runtime::Tensor dst = t;
  return dst.CopyFrom(host);
}

}  // namespace

absl::Status InitNormal(const runtime::Tensor& t, float stddev, uint64_t seed, uint64_t stream) {
  if (!(stddev >= 0.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("nn::InitNormal: stddev ", stddev, " must be >= 0"));
  }
  return FillVia("InitNormal", t, [&](runtime::Tensor& host) {
    return runtime::FillNormal(host, seed, stream, /*offset=*/0, 0.0f, stddev);
  });
}

absl::Status InitUniform(const runtime::Tensor& t, float lo, float hi, uint64_t seed,
                         uint64_t stream) {
  if (!(lo <= hi)) {
    return absl::InvalidArgumentError(
        absl::StrCat("nn::InitUniform: lo ", lo, " must be <= hi ", hi));
  }
  return FillVia("InitUniform", t, [&](runtime::Tensor& host) {
    return runtime::FillUniform(host, seed, stream, /*offset=*/0, lo, hi);
  });
}

absl::Status InitConstant(const runtime::Tensor& t, double value) {
  return FillVia("InitConstant", t, [&](runtime::Tensor& host) { return host.Fill(value); });
}

}  // namespace braid::nn
