#include "url.h"

#include <algorithm>

namespace qv::host {

namespace {

// The authority that begins at start and ends before the first '/', '?' or '#' after it.
Authority authority_from(std::string_view url, size_t start) {
  Authority authority;
  authority.start = start;
  authority.end = std::min(url.find_first_of("/?#", start), url.size());
  const size_t at = url.substr(start, authority.end - start).rfind('@');
  authority.host = at == std::string_view::npos ? start : start + at + 1;
  return authority;
}

}  // namespace

Authority authority_of(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {url.size(), url.size(), url.size()};
  return authority_from(url, scheme_end + 3);
}

}  // namespace qv::host
