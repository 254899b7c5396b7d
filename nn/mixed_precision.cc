// Mixed precision (nn/mixed_precision.h): compute copies through kernels::Cast.
#include "nn/mixed_precision.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cast.h"
#include "runtime/status_macros.h"

namespace braid::nn {
namespace {

using runtime::DType;
using runtime::Tensor;

// compute is value itself: same storage, element offset, dtype and shape.
bool IsSameTensor(const Tensor& a, const Tensor& b) {
  return a.defined() && a.SharesStorageWith(b) && a.storage_offset() == b.storage_offset() &&
         a.dtype() == b.dtype() && a.shape() == b.shape() && a.strides() == b.strides();
}

absl::Status CheckValue(absl::string_view op, const NamedParameter& p) {
  const Tensor& v = p.parameter->value;
  if (!v.defined() || v.dtype() != DType::kF32 || !v.is_contiguous()) {
    return absl::InvalidArgumentError(
        absl::StrCat("nn::", op, ": parameter '", p.name, "' value ",
                     v.defined() ? v.DebugString() : std::string("(undefined)"),
                     " must be a contiguous f32 tensor (the master weights)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EnableMixedPrecision(const std::vector<NamedParameter>& parameters,
                                  DType compute_dtype, const kernels::Stream& stream) {
  if (!runtime::IsFloatingPoint(compute_dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("nn::EnableMixedPrecision: compute dtype ",
                                                   runtime::ToString(compute_dtype),
                                                   " is not bf16, f16 or f32"));
  }
  for (const NamedParameter& p : parameters) {
    BRAID_RETURN_IF_ERROR(CheckValue("EnableMixedPrecision", p));
  }
  // Allocate and fill every new compute tensor first, then commit, so a
  // failure leaves the parameters unchanged.
  std::vector<Tensor> computes;
  computes.reserve(parameters.size());
  for (const NamedParameter& p : parameters) {
    const Tensor& value = p.parameter->value;
    const Tensor& current = p.parameter->compute;
    if (compute_dtype == DType::kF32) {
      computes.push_back(value);
      continue;
    }
    Tensor compute;
    if (current.defined() && current.dtype() == compute_dtype && current.shape() == value.shape() &&
        current.device() == value.device() && current.is_contiguous() &&
        !current.SharesStorageWith(value)) {
      compute = current;
    } else {
      BRAID_ASSIGN_OR_RETURN(compute, Tensor::Empty(value.shape(), compute_dtype, value.device()));
    }
    BRAID_RETURN_IF_ERROR(kernels::Cast(value, compute, stream));
    computes.push_back(std::move(compute));
  }
  for (size_t i = 0; i < parameters.size(); ++i) {
    parameters[i].parameter->compute = std::move(computes[i]);
  }
  return absl::OkStatus();
}

absl::Status RefreshComputeCopies(const std::vector<NamedParameter>& parameters,
                                  const kernels::Stream& stream) {
  for (const NamedParameter& p : parameters) {
    const Parameter& param = *p.parameter;
    if (!param.compute.defined()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "nn::RefreshComputeCopies: parameter '", p.name,
          "' has no compute tensor; create it with MakeParameter or EnableMixedPrecision"));
    }
    if (IsSameTensor(param.compute, param.value)) continue;
    BRAID_RETURN_IF_ERROR(CheckValue("RefreshComputeCopies", p));
    BRAID_RETURN_IF_ERROR(kernels::Cast(param.value, param.compute, stream));
  }
  return absl::OkStatus();
}

}  // namespace braid::nn
