// Errors as values for the load tester: an Error carries a message that names the field and
// the problem ("thresholds.http_req_duration[0]: cannot parse 'p(95)<<200'"), and Result<T>
// holds a value or an Error, read the simdjson way with get(T&). The load tester takes only
// core's JSON helpers (writing strings, positions in a scenario's text), not its status-coded
// errors, so it keeps this small type of its own.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace qv::loadtest {

struct Error {
  std::string message;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return state_.index() == 0; }
  const Error& error() const { return std::get<1>(state_); }
  T& value() { return std::get<0>(state_); }
  const T& value() const { return std::get<0>(state_); }

  // Moves the value into out when there is one; returns true on success.
  [[nodiscard]] bool get(T& out) {
    if (!ok()) return false;
    out = std::move(std::get<0>(state_));
    return true;
  }

 private:
  std::variant<T, Error> state_;
};

struct Ok {};
using Status = Result<Ok>;

// Prefixes an error's message with a field path: in_field("stages[0]", e) -> "stages[0]: ...".
inline Error in_field(const std::string& field, Error error) {
  return Error{field + ": " + error.message};
}

}  // namespace qv::loadtest
