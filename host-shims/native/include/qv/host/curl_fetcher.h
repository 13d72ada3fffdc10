// A Fetcher over libcurl's easy API. One easy handle is kept between requests so
// connections are reused; not thread-safe: use one CurlFetcher per thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "qv/host/fetcher.h"

namespace qv::host {

struct CurlOptions {
  uint32_t default_timeout_ms = 10000;  // for requests that give no timeout
  // The answer's body: a longer one fails with QV_TOO_LARGE. A redirect that is followed
  // is not held to it (its body is no part of the answer, as with fetch()).
  size_t max_response_bytes = 8u << 20;
  long max_redirects = 5;  // followed as fetch() follows them; 0: none
};

class CurlFetcher final : public Fetcher {
 public:
  explicit CurlFetcher(CurlOptions options = {});
  ~CurlFetcher() override;
  CurlFetcher(const CurlFetcher&) = delete;
  CurlFetcher& operator=(const CurlFetcher&) = delete;

  // Only http:// and https:// URLs are fetched, and none with credentials ("user:password@"
  // before the host, an empty "@" too): fetch() refuses those, and libcurl would send them as
  // Basic auth. The message names the URL without them.
  FetchReply fetch(const FetchRequest& request) override;

 private:
  // One request, without following a redirect: sets location to where a redirect points.
  FetchReply perform(const FetchRequest& request, const std::string& what, uint32_t timeout_ms,
                     int64_t left_ms, std::string& location);

  CurlOptions options_;
  void* easy_ = nullptr;  // CURL*, created on first use
};

}  // namespace qv::host
