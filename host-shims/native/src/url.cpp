#include "url.h"

#include <algorithm>

namespace qv::host {

Authority authority_of(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {url.size(), url.size(), url.size()};
  Authority authority;
  authority.start = scheme_end + 3;
  authority.end = std::min(url.find_first_of("/?#", authority.start), url.size());
  const size_t at = url.substr(authority.start, authority.end - authority.start).rfind('@');
  authority.host = at == std::string_view::npos ? authority.start : authority.start + at + 1;
  return authority;
}

std::string without_credentials(std::string_view url) {
  const Authority authority = authority_of(url);
  return std::string(url.substr(0, authority.start)) + std::string(url.substr(authority.host));
}

}  // namespace qv::host
