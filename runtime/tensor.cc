#include "runtime/tensor.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/cuda_memory.h"
#include "runtime/status_macros.h"

namespace braid::runtime {
namespace {

constexpr size_t kCpuAlignment = 64;

// Calls fn(dst_offset, src_offset) (in elements) for every element of `shape`,
// walking both tensors' strides in row-major order.
template <typename Fn>
void ForEachIndex(absl::Span<const int64_t> shape, absl::Span<const int64_t> a_strides,
                  absl::Span<const int64_t> b_strides, Fn&& fn) {
  const int nd = static_cast<int>(shape.size());
  const int64_t n = NumElements(shape);
  if (n == 0) return;
  absl::InlinedVector<int64_t, 6> idx(nd, 0);
  int64_t a = 0, b = 0;
  for (int64_t i = 0; i < n; ++i) {
    fn(a, b);
    for (int d = nd - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        a += a_strides[d];
        b += b_strides[d];
        break;
      }
      a -= a_strides[d] * (shape[d] - 1);
      b -= b_strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

// Strided host copy of elements of `elem` bytes.
void StridedCopyCpu(char* dst, absl::Span<const int64_t> dst_strides, const char* src,
                    absl::Span<const int64_t> src_strides, absl::Span<const int64_t> shape,
                    size_t elem) {
  ForEachIndex(shape, dst_strides, src_strides, [&](int64_t d, int64_t s) {
    std::memcpy(dst + d * static_cast<int64_t>(elem), src + s * static_cast<int64_t>(elem), elem);
  });
}

template <typename T>
T FromDouble(double v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return T(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}

template <typename T>
double ToDouble(const T& v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return static_cast<double>(static_cast<float>(v));
  } else {
    return static_cast<double>(v);
  }
}

}  // namespace

int64_t NumElements(absl::Span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Strides ContiguousStrides(absl::Span<const int64_t> shape) {
  Strides strides(shape.size());
  int64_t s = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

std::string ShapeToString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

std::string ToString(const Device& device) {
  return device.is_cpu() ? std::string("cpu") : absl::StrCat("cuda:", device.index);
}

// ---- Storage --------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<Storage>> Storage::Allocate(size_t size_bytes, Device device) {
  if (device.is_cpu()) {
    const size_t rounded = (size_bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    void* p = rounded == 0 ? nullptr : std::aligned_alloc(kCpuAlignment, rounded);
    if (rounded != 0 && p == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("out of host memory allocating ", size_bytes, " bytes"));
    }
    return std::shared_ptr<Storage>(new Storage(p, size_bytes, device, [](void* q) { std::free(q); }));
  }
  BRAID_ASSIGN_OR_RETURN(void* p, cuda::Malloc(size_bytes, device.index));
  const int ordinal = device.index;
  return std::shared_ptr<Storage>(
      new Storage(p, size_bytes, device, [ordinal](void* q) { cuda::Free(q, ordinal); }));
}

std::shared_ptr<Storage> Storage::Wrap(void* data, size_t size_bytes, Device device,
                                       std::function<void(void*)> deleter) {
  return std::shared_ptr<Storage>(new Storage(data, size_bytes, device, std::move(deleter)));
}

Storage::~Storage() {
  if (deleter_) deleter_(data_);
}

// ---- Tensor: construction ---------------------------------------------------------

absl::StatusOr<Tensor> Tensor::Empty(Shape shape, DType dtype, Device device) {
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("Tensor::Empty: negative dimension in shape ", ShapeToString(shape)));
    }
  }
  const size_t bytes = static_cast<size_t>(NumElements(shape)) * SizeOf(dtype);
  BRAID_ASSIGN_OR_RETURN(std::shared_ptr<Storage> storage, Storage::Allocate(bytes, device));
  Strides strides = ContiguousStrides(shape);
  return Tensor(std::move(storage), std::move(shape), std::move(strides), 0, dtype);
}

absl::StatusOr<Tensor> Tensor::Zeros(Shape shape, DType dtype, Device device) {
  BRAID_ASSIGN_OR_RETURN(Tensor t, Empty(std::move(shape), dtype, device));
  if (device.is_cpu()) {
    if (t.nbytes() > 0) std::memset(t.raw_data(), 0, t.nbytes());
  } else {
    BRAID_RETURN_IF_ERROR(cuda::Memset(t.raw_data(), 0, t.nbytes(), device.index));
  }
  return t;
}

absl::StatusOr<Tensor> Tensor::Full(Shape shape, DType dtype, double value, Device device) {
  BRAID_ASSIGN_OR_RETURN(Tensor t, Empty(std::move(shape), dtype, device));
  BRAID_RETURN_IF_ERROR(t.Fill(value));
  return t;
}

absl::StatusOr<Tensor> Tensor::FromBlob(void* data, Shape shape, DType dtype, Device device) {
  if (data == nullptr && NumElements(shape) > 0) {
    return absl::InvalidArgumentError("Tensor::FromBlob: null data for a non-empty shape");
  }
  const size_t bytes = static_cast<size_t>(NumElements(shape)) * SizeOf(dtype);
  Strides strides = ContiguousStrides(shape);
  return Tensor(Storage::Wrap(data, bytes, device, nullptr), std::move(shape), std::move(strides),
                0, dtype);
}

// ---- Tensor: views ------------------------------------------------------------------

void* Tensor::raw_data() const {
  if (!storage_ || storage_->data() == nullptr) return nullptr;
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(SizeOf(dtype_));
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int d = ndim() - 1; d >= 0; --d) {
    if (shape_[d] == 1) continue;
    if (strides_[d] != expected) return false;
    expected *= shape_[d];
  }
  return true;
}

absl::StatusOr<int> Tensor::NormalizeDim(int dim) const {
  const int nd = ndim();
  const int d = dim < 0 ? dim + nd : dim;
  if (d < 0 || d >= nd) {
    return absl::InvalidArgumentError(absl::StrCat("dimension ", dim, " is out of range for a ",
                                                   nd, "-d tensor of shape ",
                                                   ShapeToString(shape_)));
  }
  return d;
}

absl::StatusOr<Tensor> Tensor::View(Shape new_shape) const {
  if (!is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Tensor::View needs a contiguous tensor; shape ", ShapeToString(shape_),
        " has strides ", ShapeToString(strides_), ". Call Contiguous() first"));
  }
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < static_cast<int>(new_shape.size()); ++i) {
    if (new_shape[i] == -1) {
      if (infer >= 0) return absl::InvalidArgumentError("Tensor::View: more than one -1 in shape");
      infer = i;
    } else if (new_shape[i] < 0) {
      return absl::InvalidArgumentError("Tensor::View: negative dimension " +
                                        ShapeToString(new_shape));
    } else {
      known *= new_shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0) {
      return absl::InvalidArgumentError(absl::StrCat("Tensor::View: cannot infer -1 in ",
                                                     ShapeToString(new_shape), " for ", numel(),
                                                     " elements"));
    }
    new_shape[infer] = numel() / known;
  }
  if (NumElements(new_shape) != numel()) {
    return absl::InvalidArgumentError(absl::StrCat("Tensor::View: shape ", ShapeToString(new_shape),
                                                   " does not hold the ", numel(),
                                                   " elements of shape ", ShapeToString(shape_)));
  }
  Strides strides = ContiguousStrides(new_shape);
  return Tensor(storage_, std::move(new_shape), std::move(strides), offset_, dtype_);
}

absl::StatusOr<Tensor> Tensor::Slice(int dim, int64_t start, int64_t end) const {
  BRAID_ASSIGN_OR_RETURN(int d, NormalizeDim(dim));
  if (start < 0 || end < start || end > shape_[d]) {
    return absl::InvalidArgumentError(absl::StrCat("Tensor::Slice: [", start, ", ", end,
                                                   ") is outside dimension ", d, " of size ",
                                                   shape_[d]));
  }
  Shape shape = shape_;
  shape[d] = end - start;
  return Tensor(storage_, std::move(shape), strides_, offset_ + start * strides_[d], dtype_);
}

absl::StatusOr<Tensor> Tensor::Select(int dim, int64_t index) const {
  BRAID_ASSIGN_OR_RETURN(int d, NormalizeDim(dim));
  if (index < 0 || index >= shape_[d]) {
    return absl::InvalidArgumentError(absl::StrCat("Tensor::Select: index ", index,
                                                   " is outside dimension ", d, " of size ",
                                                   shape_[d]));
  }
  Shape shape = shape_;
  Strides strides = strides_;
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  return Tensor(storage_, std::move(shape), std::move(strides), offset_ + index * strides_[d],
                dtype_);
}

absl::StatusOr<Tensor> Tensor::Transpose(int dim0, int dim1) const {
  BRAID_ASSIGN_OR_RETURN(int a, NormalizeDim(dim0));
  BRAID_ASSIGN_OR_RETURN(int b, NormalizeDim(dim1));
  Shape shape = shape_;
  Strides strides = strides_;
  std::swap(shape[a], shape[b]);
  std::swap(strides[a], strides[b]);
  return Tensor(storage_, std::move(shape), std::move(strides), offset_, dtype_);
}

absl::StatusOr<Tensor> Tensor::Contiguous() const {
  if (is_contiguous()) return *this;
  return Clone();
}

// ---- Tensor: copies ---------------------------------------------------------------

absl::StatusOr<Tensor> Tensor::To(Device device) const {
  if (!defined()) return absl::InvalidArgumentError("Tensor::To on an undefined tensor");
  BRAID_ASSIGN_OR_RETURN(Tensor out, Empty(shape_, dtype_, device));
  BRAID_RETURN_IF_ERROR(out.CopyFrom(*this));
  return out;
}

absl::StatusOr<Tensor> Tensor::Clone() const { return To(device()); }

absl::Status Tensor::CopyFrom(const Tensor& src) {
  if (!defined() || !src.defined()) {
    return absl::InvalidArgumentError("Tensor::CopyFrom with an undefined tensor");
  }
  if (src.shape_ != shape_ || src.dtype_ != dtype_) {
    return absl::InvalidArgumentError(
        absl::StrCat("Tensor::CopyFrom: source is ", ToString(src.dtype_), " ",
                     ShapeToString(src.shape_), ", destination is ", ToString(dtype_), " ",
                     ShapeToString(shape_)));
  }
  if (numel() == 0) return absl::OkStatus();
  const Device dst_dev = device(), src_dev = src.device();
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    if (is_contiguous() && src.is_contiguous()) {
      std::memmove(raw_data(), src.raw_data(), nbytes());
    } else {
      StridedCopyCpu(static_cast<char*>(raw_data()), strides_,
                     static_cast<const char*>(src.raw_data()), src.strides_, shape_,
                     element_size());
    }
    return absl::OkStatus();
  }
  if (is_contiguous() && src.is_contiguous()) {
    return cuda::Memcpy(raw_data(), dst_dev, src.raw_data(), src_dev, nbytes());
  }
  // A strided copy touching a GPU: stage through host copies of the storage
  // spans the two views cover, and do the strided copy on the host.
  const size_t elem = element_size();
  Tensor host_src = src;
  if (!src_dev.is_cpu()) {
    const int64_t n = src.SpanElements();
    BRAID_ASSIGN_OR_RETURN(Tensor span, Empty({n}, dtype_));
    BRAID_RETURN_IF_ERROR(
        cuda::Memcpy(span.raw_data(), Device::Cpu(), src.raw_data(), src_dev, n * elem));
    host_src = Tensor(span.storage_, src.shape_, src.strides_, 0, dtype_);
  }
  if (dst_dev.is_cpu()) return CopyFrom(host_src);
  const int64_t n = SpanElements();
  BRAID_ASSIGN_OR_RETURN(Tensor span, Empty({n}, dtype_));
  // Read-modify-write: bytes between this view's elements are not ours to change.
  BRAID_RETURN_IF_ERROR(cuda::Memcpy(span.raw_data(), Device::Cpu(), raw_data(), dst_dev, n * elem));
  Tensor host_dst(span.storage_, shape_, strides_, 0, dtype_);
  BRAID_RETURN_IF_ERROR(host_dst.CopyFrom(host_src));
  return cuda::Memcpy(raw_data(), dst_dev, span.raw_data(), Device::Cpu(), n * elem);
}

int64_t Tensor::SpanElements() const {
  if (numel() == 0) return 0;
  int64_t n = 1;
  for (int d = 0; d < ndim(); ++d) n += (shape_[d] - 1) * strides_[d];
  return n;
}

absl::Status Tensor::Fill(double value) {
  if (!defined()) return absl::InvalidArgumentError("Tensor::Fill on an undefined tensor");
  if (numel() == 0) return absl::OkStatus();
  if (!device().is_cpu()) {
    BRAID_ASSIGN_OR_RETURN(Tensor host, Empty(shape_, dtype_));
    BRAID_RETURN_IF_ERROR(host.Fill(value));
    return CopyFrom(host);
  }
  VisitDType(dtype_, [&]<typename T>() {
    const T v = FromDouble<T>(value);
    T* base = static_cast<T*>(raw_data());
    if (is_contiguous()) {
      std::fill(base, base + numel(), v);
    } else {
      ForEachIndex(shape_, strides_, strides_, [&](int64_t o, int64_t) { base[o] = v; });
    }
  });
  return absl::OkStatus();
}

std::string Tensor::DebugString() const {
  if (!defined()) return "Tensor(undefined)";
  std::string out = absl::StrCat("Tensor(", ToString(dtype_), ", ", ShapeToString(shape_), ", ",
                                 ToString(device()));
  if (numel() <= 16) {
    if (absl::StatusOr<std::vector<double>> v = ToDoubleVector(*this); v.ok()) {
      absl::StrAppend(&out, ", {", absl::StrJoin(*v, ", "), "}");
    }
  }
  absl::StrAppend(&out, ")");
  return out;
}

// ---- Test helpers --------------------------------------------------------------------

absl::StatusOr<std::vector<double>> ToDoubleVector(const Tensor& t) {
  if (!t.defined()) return absl::InvalidArgumentError("ToDoubleVector: undefined tensor");
  BRAID_ASSIGN_OR_RETURN(Tensor host, t.device().is_cpu() ? t.Contiguous() : t.To(Device::Cpu()));
  std::vector<double> out(static_cast<size_t>(host.numel()));
  VisitDType(host.dtype(), [&]<typename T>() {
    const T* p = host.data<T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = ToDouble(p[i]);
  });
  return out;
}

bool BitwiseEqual(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  absl::StatusOr<Tensor> ha = a.device().is_cpu() ? a.Contiguous() : a.To(Device::Cpu());
  absl::StatusOr<Tensor> hb = b.device().is_cpu() ? b.Contiguous() : b.To(Device::Cpu());
  if (!ha.ok() || !hb.ok()) return false;
  return ha->nbytes() == 0 || std::memcmp(ha->raw_data(), hb->raw_data(), ha->nbytes()) == 0;
}

bool AllClose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.shape() != b.shape()) return false;
  absl::StatusOr<std::vector<double>> va = ToDoubleVector(a);
  absl::StatusOr<std::vector<double>> vb = ToDoubleVector(b);
  if (!va.ok() || !vb.ok()) return false;
  for (size_t i = 0; i < va->size(); ++i) {
    const double x = (*va)[i], y = (*vb)[i];
    if (std::isnan(x) || std::isnan(y)) return false;
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y) return false;
      continue;
    }
    if (std::fabs(x - y) > atol + rtol * std::fabs(y)) return false;
  }
  return true;
}

}  // namespace braid::runtime
