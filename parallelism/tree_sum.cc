#include "parallelism/tree_sum.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/elementwise.h"
#include "runtime/status_macros.h"

namespace braid::parallelism {
namespace {

using runtime::Tensor;

int LargestPowerOfTwoBelow(int n) {
  int h = 1;
  while (h * 2 < n) h *= 2;
  return h;
}

absl::Status SumRange(const Tensor& buffer, int first, int n, int64_t chunk) {
  if (n == 1) return absl::OkStatus();
  const int h = LargestPowerOfTwoBelow(n);
  BRAID_RETURN_IF_ERROR(SumRange(buffer, first, h, chunk));
  BRAID_RETURN_IF_ERROR(SumRange(buffer, first + h, n - h, chunk));
  BRAID_ASSIGN_OR_RETURN(Tensor left, buffer.Slice(0, first * chunk, (first + 1) * chunk));
  BRAID_ASSIGN_OR_RETURN(Tensor right, buffer.Slice(0, (first + h) * chunk, (first + h + 1) * chunk));
  return kernels::Add(left, right, left);
}

}  // namespace

absl::Status TreeSumChunks(const Tensor& buffer, int n, int64_t chunk) {
  if (n < 1 || buffer.numel() < n * chunk) {
    return absl::InvalidArgumentError(absl::StrCat("TreeSumChunks: ", n, " chunks of ", chunk,
                                                   " elements do not fit ", buffer.numel()));
  }
  if (chunk == 0) return absl::OkStatus();
  return SumRange(buffer, 0, n, chunk);
}

absl::StatusOr<Tensor> TreeAccumulator::ZeroedBuffer() {
  if (!pool_.empty()) {
    Tensor t = pool_.back();
    pool_.pop_back();
    BRAID_RETURN_IF_ERROR(t.Fill(0.0));
    return t;
  }
  BRAID_ASSIGN_OR_RETURN(Tensor t, Tensor::Zeros({numel_}, runtime::DType::kF32, device_));
  ++allocated_;
  return t;
}

absl::StatusOr<Tensor> TreeAccumulator::Push(const Tensor& leaf) {
  Tensor carry = leaf;
  size_t level = 0;
  while (level < levels_.size() && occupied_[level]) {
    // The earlier block is the left operand; write the sum into it and
    // recycle the carry's buffer.
    const Tensor left = levels_[level];
    BRAID_RETURN_IF_ERROR(kernels::Add(left, carry, left));
    occupied_[level] = false;
    pool_.push_back(carry);
    carry = left;
    ++level;
  }
  if (level == levels_.size()) {
    levels_.push_back(carry);
    occupied_.push_back(true);
  } else {
    levels_[level] = carry;
    occupied_[level] = true;
  }
  return ZeroedBuffer();
}

absl::Status TreeAccumulator::FoldInto(const Tensor& last, int64_t begin, int64_t end) const {
  if (begin >= end) return absl::OkStatus();
  BRAID_ASSIGN_OR_RETURN(Tensor acc, last.Slice(0, begin, end));
  // Lowest level first: acc = level_l + acc keeps the right-nested grouping
  // of the tree (the smaller, later blocks are summed before the larger).
  for (size_t l = 0; l < levels_.size(); ++l) {
    if (!occupied_[l]) continue;
    BRAID_ASSIGN_OR_RETURN(Tensor part, levels_[l].Slice(0, begin, end));
    BRAID_RETURN_IF_ERROR(kernels::Add(part, acc, acc));
  }
  return absl::OkStatus();
}

void TreeAccumulator::Reset() {
  for (size_t l = 0; l < levels_.size(); ++l) {
    if (occupied_[l]) pool_.push_back(levels_[l]);
    occupied_[l] = false;
  }
}

}  // namespace braid::parallelism
