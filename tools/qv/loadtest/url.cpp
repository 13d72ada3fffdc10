#include "url.h"

#include <strings.h>

#include <charconv>
#include <cstdio>

namespace qv::loadtest {

namespace {

// Whether url starts with prefix, the scheme in any case (RFC 3986: HTTP:// is http://).
bool starts_with_scheme(const std::string& url, std::string_view prefix) {
  return url.size() >= prefix.size() && strncasecmp(url.data(), prefix.data(), prefix.size()) == 0;
}

// What is wrong with a request target that must go on the request line as it is: a space or
// a control character (RFC 9112 3.2; a NUL or an escape would reach the server raw), or "".
// The URL is shown with control characters escaped, as header values are.
std::string target_problem(const std::string& url, const std::string& target) {
  for (const char c : target) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte > 0x20 && byte != 0x7f) continue;
    std::string shown;
    for (const char u : url) {
      const auto b = static_cast<unsigned char>(u);
      if (b >= 0x20 && b != 0x7f) {
        shown += u;
        continue;
      }
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", b);
      shown += escaped;
    }
    return "'" + shown +
           "': spaces, line breaks and other control characters must be percent-encoded";
  }
  return "";
}

}  // namespace

Result<SplitUrl> split_url(const std::string& url) {
  const bool tls = starts_with_scheme(url, "https://");
  const std::string_view scheme = tls ? "https://" : "http://";
  if (!starts_with_scheme(url, scheme)) {
    return Error{"'" + url + "': expected an http:// or https:// URL"};
  }
  const size_t authority_start = scheme.size();
  size_t authority_end = url.find_first_of("/?#", authority_start);
  if (authority_end == std::string::npos) authority_end = url.size();
  const std::string authority = url.substr(authority_start, authority_end - authority_start);
  if (authority.empty()) return Error{"'" + url + "': no host"};
  if (authority.find("{{") != std::string::npos) {
    return Error{"'" + url + "': template variables may appear in the path and query only"};
  }
  if (authority.find('@') != std::string::npos) {
    return Error{"'" + url + "': user information in URLs is not supported"};
  }
  SplitUrl split;
  std::string host = authority, port_text;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) return Error{"'" + url + "': unterminated [IPv6] host"};
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return Error{"'" + url + "': malformed host"};
      port_text = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.rfind(':');
    if (colon != std::string::npos) {
      host = authority.substr(0, colon);
      port_text = authority.substr(colon + 1);
    }
  }
  if (host.empty()) return Error{"'" + url + "': no host"};
  int port = tls ? 443 : 80;
  if (!port_text.empty()) {
    const auto [end, error] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (error != std::errc() || end != port_text.data() + port_text.size() || port < 1 ||
        port > 65535) {
      return Error{"'" + url + "': port '" + port_text + "' is not a number from 1 to 65535"};
    }
  }
  split.origin.host = host;
  split.origin.port = port;
  split.origin.tls = tls;
  split.origin.host_header = authority;
  std::string target = url.substr(authority_end);
  if (const size_t hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  if (target.empty() || target.front() == '?') target.insert(0, "/");
  if (auto problem = target_problem(url, target); !problem.empty()) return Error{problem};
  split.target = std::move(target);
  return split;
}

Result<SplitUrl> resolve_url(const std::string& base_url, const std::string& url) {
  if (starts_with_scheme(url, "http://") || starts_with_scheme(url, "https://")) {
    return split_url(url);
  }
  if (base_url.empty()) {
    return Error{"'" + url + "' is a path, but no baseUrl is set (set baseUrl or --base-url)"};
  }
  auto base = split_url(base_url);
  if (!base.ok()) return Error{"baseUrl " + base.error().message};
  SplitUrl joined = base.value();
  std::string prefix = joined.target;
  if (const size_t query = prefix.find('?'); query != std::string::npos) prefix.resize(query);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  std::string path = url;
  if (path.empty() || (path.front() != '/' && path.front() != '?')) path.insert(0, "/");
  joined.target = prefix + path;
  if (auto problem = target_problem(url, joined.target); !problem.empty()) return Error{problem};
  return joined;
}

}  // namespace qv::loadtest
