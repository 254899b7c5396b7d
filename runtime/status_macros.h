// Status propagation macros for absl::Status / absl::StatusOr.
//
// Debian's Abseil (20220623) ships no status macros, so braid defines exactly
// these two. braid never throws; every fallible call returns a Status.
//
//   BRAID_RETURN_IF_ERROR(DoThing());
//   BRAID_ASSIGN_OR_RETURN(Tensor t, Tensor::Empty({4}, DType::kF32));
#ifndef BRAID_RUNTIME_STATUS_MACROS_H_
#define BRAID_RUNTIME_STATUS_MACROS_H_

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status); returns it from the current function when
// it is not OK.
#define BRAID_RETURN_IF_ERROR(expr)                          \
  do {                                                       \
    ::absl::Status braid_status_ = (expr);                   \
    if (ABSL_PREDICT_FALSE(!braid_status_.ok())) return braid_status_; \
  } while (0)

#define BRAID_STATUS_MACROS_CONCAT_INNER_(a, b) a##b
#define BRAID_STATUS_MACROS_CONCAT_(a, b) BRAID_STATUS_MACROS_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status, else
// moves the value into `lhs` (a declaration or an lvalue).
#define BRAID_ASSIGN_OR_RETURN(lhs, rexpr)                                    \
  BRAID_ASSIGN_OR_RETURN_IMPL_(                                               \
      BRAID_STATUS_MACROS_CONCAT_(braid_statusor_, __LINE__), lhs, rexpr)

#define BRAID_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (ABSL_PREDICT_FALSE(!statusor.ok())) {                \
    return std::move(statusor).status();                   \
  }                                                        \
  lhs = std::move(statusor).value()

#endif  // BRAID_RUNTIME_STATUS_MACROS_H_
