// Element types of tensors and collective payloads.
#ifndef BRAID_RUNTIME_DTYPE_H_
#define BRAID_RUNTIME_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "runtime/half.h"

namespace braid::runtime {

enum class DType : uint8_t {
  kF32 = 0,
  kF16 = 1,
  kBF16 = 2,
  kI32 = 3,
  kI64 = 4,
  kU8 = 5,
};

// Every DType, in enum order (for parameterised tests and loops).
inline constexpr DType kAllDTypes[] = {DType::kF32, DType::kF16, DType::kBF16,
                                       DType::kI32, DType::kI64, DType::kU8};

// Bytes per element.
constexpr size_t SizeOf(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
    case DType::kU8: return 1;
  }
  return 0;
}

constexpr bool IsFloatingPoint(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

// "f32", "f16", "bf16", "i32", "i64", "u8".
absl::string_view ToString(DType dtype);

// Parses the names ToString returns (also "float32", "float16", "bfloat16",
// "int32", "int64", "uint8"); kInvalidArgument otherwise.
absl::StatusOr<DType> ParseDType(absl::string_view name);

// Maps a C++ element type to its DType: DTypeOf<float>() == DType::kF32.
template <typename T> constexpr DType DTypeOf();
template <> constexpr DType DTypeOf<float>() { return DType::kF32; }
template <> constexpr DType DTypeOf<Half>() { return DType::kF16; }
template <> constexpr DType DTypeOf<BFloat16>() { return DType::kBF16; }
template <> constexpr DType DTypeOf<int32_t>() { return DType::kI32; }
template <> constexpr DType DTypeOf<int64_t>() { return DType::kI64; }
template <> constexpr DType DTypeOf<uint8_t>() { return DType::kU8; }

// Calls fn.template operator()<T>() with T the C++ type of `dtype`:
//   VisitDType(t.dtype(), [&]<typename T>() { Fill<T>(...); });
template <typename Fn>
decltype(auto) VisitDType(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kF32: return fn.template operator()<float>();
    case DType::kF16: return fn.template operator()<Half>();
    case DType::kBF16: return fn.template operator()<BFloat16>();
    case DType::kI32: return fn.template operator()<int32_t>();
    case DType::kI64: return fn.template operator()<int64_t>();
    case DType::kU8: return fn.template operator()<uint8_t>();
  }
  return fn.template operator()<float>();  // unreachable for valid enums
}

}  // namespace braid::runtime

#endif  // BRAID_RUNTIME_DTYPE_H_
