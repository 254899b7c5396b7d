#include "runtime/philox.h"

#include <type_traits>

#include "absl/strings/str_cat.h"
#include "runtime/status_macros.h"
#include "runtime/tensor.h"

namespace braid::runtime {
namespace {

// Calls emit(j, block, lane) for j in [0, n), where element first + j uses
// lane (first + j) % 4 of counter offset + (first + j) / 4; one Philox call
// per counter value.
template <typename Emit>
void ForEachLane(uint64_t first, uint64_t n, uint64_t seed, uint64_t stream, uint64_t offset,
                 Emit&& emit) {
  uint64_t j = 0;
  while (j < n) {
    const uint64_t index = first + j;
    const PhiloxBlock b = PhiloxRandom(seed, stream, offset + index / 4);
    for (unsigned lane = static_cast<unsigned>(index % 4); lane < 4 && j < n; ++lane, ++j) {
      emit(j, b, lane);
    }
  }
}

// Writes the row-major elements of `tensor` from a float generator `gen(i)`
// that fills `count` consecutive values starting at index i into a buffer.
template <typename FillFloats>
absl::Status FillTensor(Tensor& tensor, const char* what, FillFloats&& fill_floats) {
  if (!tensor.defined()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": undefined tensor"));
  }
  if (!IsFloatingPoint(tensor.dtype())) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": dtype ", ToString(tensor.dtype()), " is not floating point; use f32, f16 or bf16"));
  }
  if (!tensor.device().is_cpu()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " fills CPU tensors; this one is on ", ToString(tensor.device()),
        ". Fill on the CPU and copy, or call PhiloxUniformAt/PhiloxNormalAt in a kernel"));
  }
  const uint64_t n = static_cast<uint64_t>(tensor.numel());
  if (n == 0) return absl::OkStatus();
  if (tensor.dtype() == DType::kF32 && tensor.is_contiguous()) {
    fill_floats(tensor.data<float>(), 0, n);
    return absl::OkStatus();
  }
  // Generate in f32 chunks, convert, and scatter through a contiguous staging
  // tensor when the target is strided.
  BRAID_ASSIGN_OR_RETURN(Tensor staged, tensor.is_contiguous()
                                            ? absl::StatusOr<Tensor>(tensor)
                                            : Tensor::Empty(tensor.shape(), tensor.dtype()));
  constexpr uint64_t kChunk = 4096;
  float buf[kChunk];
  for (uint64_t start = 0; start < n; start += kChunk) {
    const uint64_t count = std::min(kChunk, n - start);
    fill_floats(buf, start, count);
    VisitDType(staged.dtype(), [&]<typename T>() {
      T* out = staged.data<T>() + start;
      if constexpr (std::is_same_v<T, float>) {
        std::copy(buf, buf + count, out);
      } else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
        for (uint64_t k = 0; k < count; ++k) out[k] = T(buf[k]);
      }
    });
  }
  if (!staged.SharesStorageWith(tensor) || staged.storage_offset() != tensor.storage_offset()) {
    BRAID_RETURN_IF_ERROR(tensor.CopyFrom(staged));
  }
  return absl::OkStatus();
}

}  // namespace

void FillUniformRange(float* out, uint64_t first, uint64_t n, uint64_t seed, uint64_t stream,
                      uint64_t offset, float low, float high) {
  const float scale = high - low;
  ForEachLane(first, n, seed, stream, offset, [&](uint64_t j, const PhiloxBlock& b, unsigned lane) {
    out[j] = low + scale * PhiloxUniform(b.v[lane]);
  });
}

void FillNormalRange(float* out, uint64_t first, uint64_t n, uint64_t seed, uint64_t stream,
                     uint64_t offset, float mean, float stddev) {
  ForEachLane(first, n, seed, stream, offset, [&](uint64_t j, const PhiloxBlock& b, unsigned lane) {
    const unsigned pair = lane / 2;
    out[j] = mean + stddev * PhiloxNormal(b.v[2 * pair], b.v[2 * pair + 1], lane % 2 == 0);
  });
}

absl::Status FillUniform(Tensor& tensor, uint64_t seed, uint64_t stream, uint64_t offset,
                         float low, float high) {
  if (!(low <= high)) {
    return absl::InvalidArgumentError(
        absl::StrCat("FillUniform: low ", low, " > high ", high, "; expected low <= high"));
  }
  return FillTensor(tensor, "FillUniform", [&](float* out, uint64_t first, uint64_t n) {
    FillUniformRange(out, first, n, seed, stream, offset, low, high);
  });
}

absl::Status FillNormal(Tensor& tensor, uint64_t seed, uint64_t stream, uint64_t offset,
                        float mean, float stddev) {
  if (!(stddev >= 0.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("FillNormal: stddev ", stddev, " is negative; expected >= 0"));
  }
  return FillTensor(tensor, "FillNormal", [&](float* out, uint64_t first, uint64_t n) {
    FillNormalRange(out, first, n, seed, stream, offset, mean, stddev);
  });
}

}  // namespace braid::runtime
