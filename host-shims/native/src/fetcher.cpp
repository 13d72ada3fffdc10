#include "qv/host/fetcher.h"

#include <string_view>

#include "url.h"

namespace qv::host {

namespace {

// RFC 9110 token characters: what a method and a header name may hold.
bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (unsigned char c : text) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum &&
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

Result<FetchRequest> parse_fetch_op(const Op& op) {
  FetchRequest request;
  request.url = op.key;
  request.body = op.value;
  request.timeout_ms = op.duration_ms;
  if (request.url.empty()) return invalid_input("fetch: the URL is empty");

  // Messages name the fetch as every fetch message does, "fetch METHOD URL" ("fetch URL" when
  // the method is what is wrong), the URL without credentials, in the JS host's words too: a
  // request that cannot be made reads the same on both hosts.
  const std::string url = without_credentials(request.url);
  std::string_view meta = op.meta;
  const size_t first_end = meta.find('\n');
  const std::string_view method = meta.substr(0, first_end);
  if (!is_token(method)) {
    return invalid_input("fetch " + url + ": method '" + std::string(method) +
                         "' is not an HTTP token");
  }
  request.method.assign(method);
  const std::string what = "fetch " + request.method + " " + url;
  // Refused here, for every fetcher, as the JS host refuses it before fetch() sees it.
  if (authority_of(request.url).has_credentials()) return invalid_input(what + kCredentialsRefused);
  if (first_end == std::string_view::npos) return request;

  std::string_view rest = meta.substr(first_end + 1);
  size_t line_number = 0;
  while (!rest.empty()) {
    ++line_number;
    const size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return invalid_input(what + ": header line " + std::to_string(line_number) +
                           " has no ':' (expected 'name: value')");
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (!is_token(name)) {
      return invalid_input(what + ": header name '" + std::string(name) + "' is not an HTTP token");
    }
    if (value.find_first_of("\r\n") != std::string_view::npos ||
        value.find('\0') != std::string_view::npos) {
      return invalid_input(what + ": header '" + std::string(name) + "' holds a line break or NUL");
    }
    request.headers.emplace_back(std::string(name), std::string(value));
  }
  return request;
}

}  // namespace qv::host
