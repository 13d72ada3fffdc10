// Status names and shown bytes, apart from the ABI's exported functions so that code using only
// core's JSON and errors (the load tester) links without a bundle of methods.
#include "qv/result.h"

namespace qv {

const char* status_name(qv_status status) {
  switch (status) {
    case QV_OK:
      return "ok";
    case QV_PENDING:
      return "pending";
    case QV_INVALID_INPUT:
      return "invalid_input";
    case QV_NOT_FOUND:
      return "not_found";
    case QV_BAD_HANDLE:
      return "bad_handle";
    case QV_BAD_STATE:
      return "bad_state";
    case QV_UNAVAILABLE:
      return "unavailable";
    case QV_TIMEOUT:
      return "timeout";
    case QV_TOO_LARGE:
      return "too_large";
    case QV_INTERNAL:
      return "internal";
  }
  return "unknown";
}

std::string shown_bytes(std::string_view bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace qv
