// Where a URL's credentials are, for the native host's fetcher and KV: neither sends a URL's
// "user:password@" anywhere it does not belong, and no message quotes it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "qv/url.h"

namespace qv::host {

// Where an absolute URL's authority is: it begins at start (after "scheme://"), its host at
// host (after the credentials, "user:password@", when there are any) and it ends at end.
struct Authority {
  size_t start = 0;
  size_t host = 0;
  size_t end = 0;
  bool has_credentials() const { return host != start; }
};

// A URL without "://" has an empty authority at its end.
Authority authority_of(std::string_view url);

// What a fetch of a URL with credentials fails with, after "fetch METHOD URL" (the URL
// without them): libcurl would send them as Basic auth, an empty "@" too, and fetch() in the
// JS host refuses them; both hosts refuse such a URL in these words.
inline constexpr const char* kCredentialsRefused =
    ": the URL holds credentials (user:password@ before the host), which fetch() refuses: send "
    "them in a header";

// url without its credentials, for messages: they are never quoted (core's, which the
// modules name URLs by too).
using qv::without_credentials;

}  // namespace qv::host
