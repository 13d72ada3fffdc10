// Status names, apart from the ABI's exported functions so that code using only core's
// JSON and errors (the load tester) links without a bundle of methods.
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

}  // namespace qv
