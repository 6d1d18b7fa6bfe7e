// Errors as values. Every fallible wmeta call returns Result<T>
// (std::expected<T, Error>) or Status; no exception crosses a component
// boundary.
//
// Thread-safety: plain values.

#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace wmeta {

// Values travel in the client protocol: append new codes, never renumber.
enum class ErrorCode : uint8_t {
  // The caller passed something malformed: bad JSON, an unknown kind, a bad
  // flag value.
  kInvalidArgument,
  // The named thing does not exist (a data dir, an entity, a record).
  kNotFound,
  // An offset below the first one still retained.
  kOutOfRange,
  // An offset beyond the last one written.
  kFutureOffset,
  // Stored or received bytes are damaged: failed verification, a gap, a
  // checksum.
  kCorruption,
  // The operating system or the storage engine failed (including a full disk).
  kIoError,
  // Another writer holds the data dir.
  kBusy,
  // The data dir is not a wmeta store, or of a format this build does not read.
  kUnsupportedFormat,
  // The operation refers to a different store (offsets of a wiped and recreated
  // data dir).
  kStoreMismatch,
  // The component is shutting down or in a failed state after an earlier error.
  kUnavailable,
  // A broken invariant: a bug in wmeta.
  kInternal,
  // The peer did not present the credentials a listener requires.
  kPermissionDenied,
};

// The stable lower-case name of a code, e.g. "out_of_range".
std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;

  // "<code name>: <message>".
  std::string ToString() const;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> MakeError(ErrorCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}

}  // namespace wmeta

#define WMETA_CONCAT_INNER_(a, b) a##b
#define WMETA_CONCAT_(a, b) WMETA_CONCAT_INNER_(a, b)

// Returns the error of `expr` (a Result or Status) from the enclosing function.
#define WMETA_RETURN_IF_ERROR(expr)                             \
  do {                                                          \
    if (auto wmeta_status_ = (expr); !wmeta_status_) {          \
      return std::unexpected(std::move(wmeta_status_).error()); \
    }                                                           \
  } while (false)

// Declares or assigns `lhs` from the value of the Result `expr`, or returns its
// error.
#define WMETA_ASSIGN_OR_RETURN(lhs, expr)                                   \
  WMETA_ASSIGN_OR_RETURN_IMPL_(WMETA_CONCAT_(wmeta_result_, __LINE__), lhs, \
                               expr)
#define WMETA_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp) {                                        \
    return std::unexpected(std::move(tmp).error());  \
  }                                                  \
  lhs = std::move(*tmp)
