// The URLs a module hands its host to fetch, checked as the hosts' fetch would take them.
#pragma once

#include <string>
#include <string_view>

namespace qv {

// Why fetch could not use a URL, or "" when it could: http:// or https://, at most 2048
// bytes, no spaces or control characters, a host (a name, an IPv4 address or a bracketed
// IPv6 one), a port from 1 to 65535 if any, no user name or password. The hosts would fail
// such a fetch each in its own words, or not at all (fetch() encodes a space that libcurl
// refuses), so a module refuses the URL as its input's.
std::string url_problem(std::string_view url);

// url without the "user:password@" before its host, for messages: no message quotes a URL's
// credentials (the modules' and the native host's alike). In one without "://" they are
// what lies before the last '@' ahead of the first '/', '?' or '#'.
std::string without_credentials(std::string_view url);

}  // namespace qv
