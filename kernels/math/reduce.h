// Per-element math of the reduction kernels (kernels/reduce.h), shared by the
// CPU loops and the CUDA kernels so both give bit-identical results.
//
// Each op is a struct with a static Apply(x, y) for the compute type: float
// for f32/f16/bf16 (16-bit types are widened by the caller and rounded once
// afterwards), and the integer type itself for i32/i64/u8. Integer sum and
// prod are done in the unsigned type of the same width, so overflow wraps
// modulo 2^bits instead of being undefined behaviour.
#ifndef BRAID_KERNELS_MATH_REDUCE_H_
#define BRAID_KERNELS_MATH_REDUCE_H_

#include <cstdint>
#include <type_traits>

#include "runtime/half.h"

namespace braid::kernels::math {

// The type arithmetic is done in for storage type T.
template <typename T>
struct ComputeType {
  using type = T;
};
template <>
struct ComputeType<runtime::Half> {
  using type = float;
};
template <>
struct ComputeType<runtime::BFloat16> {
  using type = float;
};

template <typename T>
BRAID_HOST_DEVICE inline typename ComputeType<T>::type Widen(T v) {
  return static_cast<typename ComputeType<T>::type>(v);
}
template <typename T>
BRAID_HOST_DEVICE inline T Narrow(typename ComputeType<T>::type v) {
  return T(v);
}

struct SumOp {
  template <typename C>
  BRAID_HOST_DEVICE static C Apply(C x, C y) {
    if constexpr (std::is_integral_v<C>) {
      using U = std::make_unsigned_t<C>;
      return static_cast<C>(static_cast<U>(static_cast<U>(x) + static_cast<U>(y)));
    } else {
      return x + y;
    }
  }
};

struct ProdOp {
  template <typename C>
  BRAID_HOST_DEVICE static C Apply(C x, C y) {
    if constexpr (std::is_integral_v<C>) {
      // uint8_t and friends promote to int: widen to at least unsigned int
      // so the multiply cannot overflow a signed type.
      using U =
          std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, std::make_unsigned_t<C>>;
      return static_cast<C>(static_cast<U>(x) * static_cast<U>(y));
    } else {
      return x * y;
    }
  }
};

// NaN-propagating min/max for floats (x != x is true only for NaN).
struct MinOp {
  template <typename C>
  BRAID_HOST_DEVICE static C Apply(C x, C y) {
    if constexpr (std::is_integral_v<C>) {
      return y < x ? y : x;
    } else {
      return (y < x || y != y) ? y : x;
    }
  }
};

struct MaxOp {
  template <typename C>
  BRAID_HOST_DEVICE static C Apply(C x, C y) {
    if constexpr (std::is_integral_v<C>) {
      return y > x ? y : x;
    } else {
      return (y > x || y != y) ? y : x;
    }
  }
};

// x / divisor for the avg step: IEEE division for floats, truncation toward
// zero for integers.
template <typename C>
BRAID_HOST_DEVICE inline C Divide(C x, int64_t divisor) {
  if constexpr (std::is_integral_v<C>) {
    return static_cast<C>(static_cast<int64_t>(x) / divisor);
  } else {
    return x / static_cast<C>(divisor);
  }
}

}  // namespace braid::kernels::math

#endif  // BRAID_KERNELS_MATH_REDUCE_H_
