#include "qv/url.h"

#include <algorithm>
#include <cstdint>

#include "qv/result.h"

namespace qv {

std::string url_problem(std::string_view url) {
  size_t scheme = 0;
  if (url.rfind("https://", 0) == 0) {
    scheme = 8;
  } else if (url.rfind("http://", 0) == 0) {
    scheme = 7;
  }
  if (scheme == 0) return "expected an http:// or https:// URL";
  if (url.size() > 2048) return "expected at most 2048 bytes, got " + std::to_string(url.size());
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7F) {
      return "expected a URL without spaces or control characters, got '" +
             shown_bytes(without_credentials(url)) + "'";
    }
  }
  const std::string got = ", got '" + std::string(url) + "'";
  const std::string_view authority = url.substr(scheme, url.find_first_of("/?#", scheme) - scheme);
  if (authority.find('@') != std::string_view::npos) {
    return "must not hold a user name or password (fetch refuses them), got '" +
           without_credentials(url) + "'";
  }
  std::string_view host = authority, port;
  const size_t colon = authority.rfind(':'), bracket = authority.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return "expected a host after " + std::string(url.substr(0, scheme)) + got;
  bool host_ok = true;
  if (host[0] == '[') {
    host_ok = host.size() > 2 && host.back() == ']';
    for (char c : host.substr(1, host.size() - 2)) {
      host_ok = host_ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                            (c >= 'A' && c <= 'F') || c == ':' || c == '.');
    }
  } else {
    host_ok = host.find_first_of("%<>[\\]^|:") == std::string_view::npos;
  }
  if (!host_ok) return "expected a host name or address" + got;
  uint32_t number = 0;
  for (char c : port) {
    if (c < '0' || c > '9' || (number = number * 10 + static_cast<uint32_t>(c - '0')) > 65535) {
      number = 0;
      break;
    }
  }
  if (!port.empty() && number == 0) return "expected a port from 1 to 65535" + got;
  return {};
}

std::string without_credentials(std::string_view url) {
  const size_t scheme_end = url.find("://");
  const size_t start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const size_t end = std::min(url.find_first_of("/?#", start), url.size());
  const size_t at = url.substr(start, end - start).rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, start)) + std::string(url.substr(start + at + 1));
}

}  // namespace qv
