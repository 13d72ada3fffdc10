// Errors as values: an Error (status + message naming the field and the problem) and a
// Result<T> that holds either a value or an Error, in the manner of simdjson's
// simdjson_result: check with error(), read with get(T&).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "qv_abi.h"

namespace qv {

// Stable lower-case names for statuses, used in JSON error objects and logs.
const char* status_name(qv_status status);

struct Error {
  qv_status status = QV_INTERNAL;
  std::string message;  // names the field and the problem, e.g. "history[2].date: ..."
};

// Bytes as a message quotes them when they may be anything (not UTF-8, control characters):
// those outside printable ASCII as \xNN ("\xff\x00abc").
std::string shown_bytes(std::string_view bytes);

inline Error invalid_input(std::string message) {
  return {QV_INVALID_INPUT, std::move(message)};
}
inline Error not_found(std::string message) {
  return {QV_NOT_FOUND, std::move(message)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return state_.index() == 0; }
  // Returns QV_OK or the error's status.
  qv_status status() const { return ok() ? QV_OK : std::get<1>(state_).status; }
  const Error& error() const { return std::get<1>(state_); }

  // Moves the value into out when there is one; returns the status either way.
  [[nodiscard]] qv_status get(T& out) {
    if (!ok()) return status();
    out = std::move(std::get<0>(state_));
    return QV_OK;
  }
  T& value() { return std::get<0>(state_); }
  const T& value() const { return std::get<0>(state_); }
  Error take_error() { return std::move(std::get<1>(state_)); }

 private:
  std::variant<T, Error> state_;
};

// For operations that produce nothing but may fail.
struct Unit {};
using Status = Result<Unit>;
inline Status ok_status() {
  return Unit{};
}

}  // namespace qv
