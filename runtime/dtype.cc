#include "runtime/dtype.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace braid::runtime {

absl::string_view ToString(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kI32: return "i32";
    case DType::kI64: return "i64";
    case DType::kU8: return "u8";
  }
  return "invalid";
}

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  struct Entry { absl::string_view name; DType dtype; };
  static constexpr Entry kNames[] = {
      {"f32", DType::kF32},   {"float32", DType::kF32}, {"f16", DType::kF16},
      {"float16", DType::kF16}, {"bf16", DType::kBF16}, {"bfloat16", DType::kBF16},
      {"i32", DType::kI32},   {"int32", DType::kI32},   {"i64", DType::kI64},
      {"int64", DType::kI64}, {"u8", DType::kU8},       {"uint8", DType::kU8},
  };
  for (const Entry& e : kNames) {
    if (e.name == name) return e.dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype '", name, "'; use one of f32, f16, bf16, i32, i64, u8"));
}

}  // namespace braid::runtime
