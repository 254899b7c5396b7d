// Tensor: a typed, strided view of shared storage on the CPU or a CUDA device.
//
// A Tensor is a cheap handle (a shared_ptr to its Storage plus shape, strides
// and an element offset). Copying a Tensor copies the handle, not the bytes;
// View, Slice and Transpose return new handles onto the same storage. Clone
// and To copy bytes.
//
//   BRAID_ASSIGN_OR_RETURN(Tensor x, Tensor::Zeros({8, 1024}, DType::kF32));
//   BRAID_ASSIGN_OR_RETURN(Tensor rows, x.Slice(0, 2, 6));   // no copy
//   float* p = rows.data<float>();                           // rows 2..5
//
// Thread-safety: a Tensor handle is a value; distinct handles may be used from
// distinct threads. Writing the same bytes from several threads is a race the
// caller must prevent, as with any buffer.
//
// Errors: shape/dtype/device mistakes are kInvalidArgument; device problems
// (no GPU) are kFailedPrecondition; allocation failure is kResourceExhausted.
#ifndef BRAID_RUNTIME_TENSOR_H_
#define BRAID_RUNTIME_TENSOR_H_

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/device.h"
#include "runtime/dtype.h"

namespace braid::runtime {

using Shape = absl::InlinedVector<int64_t, 6>;
using Strides = absl::InlinedVector<int64_t, 6>;  // in elements, not bytes

// Number of elements of `shape` (1 for a 0-d shape).
int64_t NumElements(absl::Span<const int64_t> shape);
// Row-major strides for `shape`.
Strides ContiguousStrides(absl::Span<const int64_t> shape);
// "[2, 3, 4]".
std::string ShapeToString(absl::Span<const int64_t> shape);

// A block of bytes on one device, shared by all tensors that view it. CPU
// storage is 64-byte aligned.
class Storage {
 public:
  // Allocates uninitialised memory.
  static absl::StatusOr<std::shared_ptr<Storage>> Allocate(size_t size_bytes, Device device);
  // Adopts memory owned elsewhere; `deleter` (may be empty) runs when the last
  // tensor referring to it is destroyed.
  static std::shared_ptr<Storage> Wrap(void* data, size_t size_bytes, Device device,
                                       std::function<void(void*)> deleter);

  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t size_bytes() const { return size_bytes_; }
  Device device() const { return device_; }

 private:
  Storage(void* data, size_t size_bytes, Device device, std::function<void(void*)> deleter)
      : data_(data), size_bytes_(size_bytes), device_(device), deleter_(std::move(deleter)) {}

  void* data_;
  size_t size_bytes_;
  Device device_;
  std::function<void(void*)> deleter_;
};

class Tensor {
 public:
  // An undefined tensor (defined() is false); assign a real one before use.
  Tensor() = default;

  // Uninitialised contiguous tensor.
  static absl::StatusOr<Tensor> Empty(Shape shape, DType dtype, Device device = Device::Cpu());
  static absl::StatusOr<Tensor> Zeros(Shape shape, DType dtype, Device device = Device::Cpu());
  static absl::StatusOr<Tensor> Full(Shape shape, DType dtype, double value,
                                     Device device = Device::Cpu());
  // A CPU tensor holding a copy of `values`; NumElements(shape) must equal
  // values.size().
  template <typename T>
  static absl::StatusOr<Tensor> FromVector(const std::vector<T>& values, Shape shape);
  // A tensor over caller-owned memory (not freed by braid); the caller keeps
  // it alive while any view exists.
  static absl::StatusOr<Tensor> FromBlob(void* data, Shape shape, DType dtype,
                                         Device device = Device::Cpu());

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::Cpu(); }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  // Size of dimension `d`; negative `d` counts from the end.
  int64_t dim(int d) const { return shape_[d < 0 ? d + ndim() : d]; }
  int64_t numel() const { return NumElements(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * SizeOf(dtype_); }
  size_t element_size() const { return SizeOf(dtype_); }
  // Offset of element [0,...,0] from the start of storage, in elements.
  int64_t storage_offset() const { return offset_; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Address of element [0,...,0].
  void* raw_data() const;
  // Typed address of element [0,...,0]. REQUIRES: DTypeOf<T>() == dtype().
  template <typename T>
  T* data() const {
    return static_cast<T*>(raw_data());
  }

  bool is_contiguous() const;
  bool SharesStorageWith(const Tensor& other) const { return storage_ == other.storage_; }

  // Same elements under a new shape (one entry may be -1, inferred).
  // REQUIRES: is_contiguous().
  absl::StatusOr<Tensor> View(Shape new_shape) const;
  // Elements [start, end) along `dim`, sharing storage.
  absl::StatusOr<Tensor> Slice(int dim, int64_t start, int64_t end) const;
  // Index `index` along `dim`, dropping that dimension, sharing storage.
  absl::StatusOr<Tensor> Select(int dim, int64_t index) const;
  // Swaps two dimensions, sharing storage (the result is usually not contiguous).
  absl::StatusOr<Tensor> Transpose(int dim0, int dim1) const;
  // This tensor if contiguous, otherwise a contiguous copy on the same device.
  absl::StatusOr<Tensor> Contiguous() const;

  // A contiguous copy on `device` (host<->device copies are synchronous).
  absl::StatusOr<Tensor> To(Device device) const;
  // A contiguous copy on the same device.
  absl::StatusOr<Tensor> Clone() const;
  // Copies the elements of `src` (same shape and dtype, any device, any
  // strides) into this tensor. Strided copies that touch a GPU are staged
  // through host memory (correct, not fast: make GPU tensors contiguous with a
  // kernel on hot paths).
  absl::Status CopyFrom(const Tensor& src);
  // Sets every element to `value` converted to dtype().
  absl::Status Fill(double value);

  // "Tensor(f32, [2, 3], cpu)"; with values for small CPU tensors.
  std::string DebugString() const;

 private:
  Tensor(std::shared_ptr<Storage> storage, Shape shape, Strides strides, int64_t offset,
         DType dtype)
      : storage_(std::move(storage)),
        shape_(std::move(shape)),
        strides_(std::move(strides)),
        offset_(offset),
        dtype_(dtype) {}

  absl::StatusOr<int> NormalizeDim(int dim) const;
  // Elements of storage from element [0,...,0] to the last element this view
  // reaches (strides are never negative).
  int64_t SpanElements() const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Strides strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::kF32;
};

// Test helpers. Both compare element by element in shape order and work on any
// device (non-CPU tensors are copied to the host first).
// True when shapes and dtypes match and every byte of every element is equal.
bool BitwiseEqual(const Tensor& a, const Tensor& b);
// True when shapes match and |a - b| <= atol + rtol * |b| for every element
// (values converted to double; NaNs are never close).
bool AllClose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
// Every element as double, in shape order (host copy).
absl::StatusOr<std::vector<double>> ToDoubleVector(const Tensor& t);

template <typename T>
absl::StatusOr<Tensor> Tensor::FromVector(const std::vector<T>& values, Shape shape) {
  if (NumElements(shape) != static_cast<int64_t>(values.size())) {
    return absl::InvalidArgumentError("Tensor::FromVector: shape " + ShapeToString(shape) +
                                      " does not hold " + std::to_string(values.size()) +
                                      " values");
  }
  absl::StatusOr<Tensor> t = Empty(std::move(shape), DTypeOf<T>());
  if (!t.ok()) return t.status();
  if (!values.empty()) std::memcpy(t->raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}

}  // namespace braid::runtime

#endif  // BRAID_RUNTIME_TENSOR_H_
