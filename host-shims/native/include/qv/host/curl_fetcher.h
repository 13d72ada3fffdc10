// A Fetcher over libcurl's multi API: the fetches of a batch run together, each within its
// own timeout, size cap and redirects. The multi handle is kept between batches so
// connections are reused; not thread-safe: use one CurlFetcher per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

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
  // As fetch() for each, all at once, as the JS host's fetch() runs a batch's.
  std::vector<FetchReply> fetch_all(const std::vector<FetchRequest>& requests) override;

 private:
  struct Transfer;
  // Sets up the transfer's next hop and adds it to the multi handle, or says why not.
  std::optional<FetchReply> start(Transfer& transfer);
  // Reads a finished hop (result: its CURLcode): the reply, or none when a redirect is to
  // be followed (the transfer's hop then points there).
  std::optional<FetchReply> finish(Transfer& transfer, int result);

  CurlOptions options_;
  void* multi_ = nullptr;  // CURLM*, created on first use
};

}  // namespace qv::host
