// http:// and https:// URLs as the load tester uses them: an origin (scheme, host, port) it
// connects to, and the request target (path and query) it sends.
#pragma once

#include <string>

#include "result.h"

namespace qv::loadtest {

struct Origin {
  std::string host;  // a name, an IPv4 address, or an IPv6 address (without its brackets)
  int port = 80;
  bool tls = false;         // https://
  std::string host_header;  // "host" or "host:port", sent as the Host header
  bool operator==(const Origin&) const = default;
  std::string to_string() const { return (tls ? "https://" : "http://") + host_header; }
};

struct SplitUrl {
  Origin origin;
  std::string target;  // "/path?query", at least "/"; may still hold {{template}} variables
};

// Splits "http[s]://host[:port][/path][?query]" (port 80 or 443 when left out). The origin
// part may not hold template variables.
Result<SplitUrl> split_url(const std::string& url);

// Joins a base URL ("http://host:port/prefix") with a request URL: an absolute http:// or
// https:// URL stands alone, a path is appended to the base's path.
Result<SplitUrl> resolve_url(const std::string& base_url, const std::string& url);

}  // namespace qv::loadtest
