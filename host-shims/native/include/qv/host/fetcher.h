// The HTTP client a native host performs fetch operations with: a small interface, and
// the request and reply it speaks. curl_fetcher.h has the libcurl implementation.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "qv/host/op.h"
#include "qv/result.h"
#include "qv_abi.h"

namespace qv::host {

struct FetchRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // name, value; in order
  std::string body;
  uint32_t timeout_ms = 0;  // 0: the fetcher's default
};

struct FetchReply {
  qv_status status = QV_OK;  // QV_OK (any HTTP status), QV_TIMEOUT or QV_UNAVAILABLE
  int64_t http_status = 0;
  std::string body;
  std::string headers;  // "name: value\n" per response header, names lower-case
  std::string message;  // on failure: what went wrong, naming the URL

  static FetchReply failure(qv_status status, std::string message) {
    FetchReply reply;
    reply.status = status;
    reply.message = std::move(message);
    return reply;
  }
};

// Performs HTTP requests for modules. An HTTP error status (404, 503) is a successful
// fetch: the module decides what it means.
class Fetcher {
 public:
  virtual ~Fetcher() = default;

  // Sends request and waits for the whole response, at most request.timeout_ms. Returns
  // QV_OK + status, body and headers; QV_TIMEOUT when the time ran out; QV_UNAVAILABLE
  // with a message when the request could not be made or the response was unusable.
  virtual FetchReply fetch(const FetchRequest& request) = 0;

  // Performs every request of a batch, and returns their replies in the requests' order.
  // This one fetches them one after another; a fetcher that can run them together (as the
  // JS host's fetch() does) overrides it.
  virtual std::vector<FetchReply> fetch_all(const std::vector<FetchRequest>& requests) {
    std::vector<FetchReply> replies;
    replies.reserve(requests.size());
    for (const FetchRequest& request : requests) replies.push_back(fetch(request));
    return replies;
  }
};

// Reads a QV_OP_FETCH operation: key = URL, meta = "METHOD\n" then "name: value\n" per
// header, value = body, duration_ms = timeout. Errors name the fetch ("fetch METHOD URL",
// or "fetch URL" for a bad method; the URL without credentials) and what is malformed (a
// method or header name that is not an HTTP token, credentials in the URL, an empty "@" too,
// a header line without ':', a line break in a value), in the words the JS host's HostOps
// uses.
Result<FetchRequest> parse_fetch_op(const Op& op);

}  // namespace qv::host
