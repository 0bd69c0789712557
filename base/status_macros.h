// Small Status helpers: Abseil 20220623 ships no RETURN_IF_ERROR / ASSIGN_OR_RETURN.
#ifndef FEDRELAY_BASE_STATUS_MACROS_H_
#define FEDRELAY_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FEDRELAY_CONCAT_INNER_(a, b) a##b
#define FEDRELAY_CONCAT_(a, b) FEDRELAY_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` yields a non-OK Status.
#define RETURN_IF_ERROR(expr)                           \
  do {                                                  \
    ::absl::Status fedrelay_status_ = (expr);           \
    if (!fedrelay_status_.ok()) return fedrelay_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, Foo());` binds the value of a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(FEDRELAY_CONCAT_(fedrelay_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#endif  // FEDRELAY_BASE_STATUS_MACROS_H_
