#include "qv/host/curl_fetcher.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <initializer_list>
#include <memory>
#include <optional>

#include "url.h"

namespace qv::host {

namespace {

// curl_global_init once per process, before the first handle (it is not thread-safe in
// every libcurl build, and a function-local static is).
bool curl_ready() {
  static const bool ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  return ready;
}

// What the callbacks collect for one request.
struct Exchange {
  std::string body;
  std::string headers;
  std::string location;  // the current response's Location, as sent
  size_t max_body = 0;
  bool body_too_large = false;
  bool head_done = false;  // the current response's head has ended: fields now are trailers
};

// A header name in lower case, as the module and fetch() in the JS host name fields.
std::string lower_case(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Whether fetch() goes on from a response: a redirect status with a Location, while
// redirects are followed at all.
bool is_followed_redirect(int64_t status, const std::string& location, long max_redirects) {
  const bool redirect =
      status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
  return redirect && !location.empty() && max_redirects > 0;
}

// scheme://host[:port] of an absolute URL, lower-cased: what fetch() compares to decide
// whether a redirect leaves the origin (and so drops the request's credentials).
std::string origin_of(std::string_view url) {
  const Authority authority = authority_of(url);
  if (authority.start == url.size()) return lower_case(url);
  return lower_case(url.substr(0, authority.start)) +
         lower_case(url.substr(authority.host, authority.end - authority.host));
}

// A response's Location resolved against url as curl resolves it for CURLINFO_REDIRECT_URL
// (which a transfer stopped in the body does not give); "" when there is none or it does not
// resolve.
std::string resolved_location(const std::string& url, const std::string& value) {
  if (value.empty()) return {};
  std::string resolved;
  CURLU* parsed = curl_url();
  char* text = nullptr;
  if (parsed && curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_set(parsed, CURLUPART_URL, value.c_str(), 0) == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_URL, &text, 0) == CURLUE_OK) {
    resolved = text;
  }
  curl_free(text);
  curl_url_cleanup(parsed);
  return resolved;
}

void drop_headers(FetchRequest& request, std::initializer_list<std::string_view> names) {
  auto& headers = request.headers;
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [&](const auto& header) {
                                 const std::string name = lower_case(header.first);
                                 return std::find(names.begin(), names.end(), name) != names.end();
                               }),
                headers.end());
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& exchange = *static_cast<Exchange*>(user);
  const size_t bytes = size * count;
  if (exchange.body.size() + bytes > exchange.max_body) {
    exchange.body_too_large = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  exchange.body.append(data, bytes);
  return bytes;
}

// Called once per header line, status lines and the blank line ending each head of every
// response in a redirect chain included: only the last response's headers are kept.
// Trailers (fields after a chunked body, empty or not) come here too, after the blank
// line; they are left out, as fetch() in the JS host leaves them.
size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& exchange = *static_cast<Exchange*>(user);
  const size_t bytes = size * count;
  std::string_view line(data, bytes);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.substr(0, 5) == "HTTP/") {
    exchange.headers.clear();  // a new response begins
    exchange.location.clear();
    exchange.head_done = false;
    return bytes;
  }
  if (line.empty()) {
    exchange.head_done = true;  // the end of a head (or of the trailers)
    return bytes;
  }
  if (exchange.head_done) return bytes;  // a trailer
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return bytes;  // junk
  const std::string name = lower_case(line.substr(0, colon));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (name == "location") exchange.location.assign(value);
  exchange.headers += name;
  exchange.headers += ": ";
  exchange.headers += value;
  exchange.headers += '\n';
  return bytes;
}

struct HeaderList {
  curl_slist* list = nullptr;
  HeaderList() = default;
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;
  ~HeaderList() { clear(); }
  bool append(const std::string& line) {
    curl_slist* next = curl_slist_append(list, line.c_str());
    if (!next) return false;
    list = next;
    return true;
  }
  void clear() {
    curl_slist_free_all(list);
    list = nullptr;
  }
};

}  // namespace

// One request of a batch, over its redirects: the hop being made, on its own easy handle,
// and what the callbacks collect for it. Kept at one address while curl runs it.
struct CurlFetcher::Transfer {
  size_t index = 0;  // in the batch
  FetchRequest hop;  // the request, or where its last redirect pointed
  std::string what;  // "fetch METHOD URL" of the request (without credentials), for messages
  uint32_t timeout_ms = 0;
  std::chrono::steady_clock::time_point deadline;
  long redirects = 0;
  bool finished = false;  // its reply is in
  CURL* easy = nullptr;
  Exchange exchange;
  HeaderList headers;
  char error_buffer[CURL_ERROR_SIZE] = {0};

  ~Transfer() {
    if (easy) curl_easy_cleanup(easy);
  }
};

CurlFetcher::CurlFetcher(CurlOptions options) : options_(options) {}

CurlFetcher::~CurlFetcher() {
  if (multi_) curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

FetchReply CurlFetcher::fetch(const FetchRequest& request) {
  return std::move(fetch_all({request}).front());
}

std::vector<FetchReply> CurlFetcher::fetch_all(const std::vector<FetchRequest>& requests) {
  std::vector<FetchReply> replies(requests.size());
  std::vector<std::unique_ptr<Transfer>> transfers;
  if (!multi_ && curl_ready()) multi_ = curl_multi_init();
  CURLM* multi = static_cast<CURLM*>(multi_);
  for (size_t i = 0; i < requests.size(); ++i) {
    const FetchRequest& request = requests[i];
    const std::string what = "fetch " + request.method + " " + without_credentials(request.url);
    // curl would send a URL's "user:password@" (an empty one too) as Basic auth; fetch() in
    // the JS host refuses such a URL, and so does this host.
    if (authority_of(request.url).has_credentials()) {
      replies[i] = FetchReply::failure(QV_UNAVAILABLE, what + kCredentialsRefused);
      continue;
    }
    if (!curl_ready()) {
      replies[i] = FetchReply::failure(QV_UNAVAILABLE, what + ": libcurl failed to start");
      continue;
    }
    auto transfer = std::make_unique<Transfer>();
    transfer->easy = multi ? curl_easy_init() : nullptr;
    if (!transfer->easy) {
      replies[i] = FetchReply::failure(QV_UNAVAILABLE, what + ": libcurl has no handle");
      continue;
    }
    transfer->index = i;
    transfer->hop = request;
    transfer->what = what;
    transfer->timeout_ms = request.timeout_ms ? request.timeout_ms : options_.default_timeout_ms;
    transfer->deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(transfer->timeout_ms);
    if (auto refused = start(*transfer)) {
      replies[i] = std::move(*refused);
      continue;
    }
    transfers.push_back(std::move(transfer));
  }

  // The requests run together on the multi handle (which keeps the connections between
  // batches), each within its own deadline; a finished hop that redirects starts the next.
  size_t running = transfers.size();
  while (running > 0) {
    int active = 0;
    CURLMcode code = curl_multi_perform(multi, &active);
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      char* data = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &data);
      Transfer* transfer = reinterpret_cast<Transfer*>(data);
      const CURLcode result = message->data.result;
      curl_multi_remove_handle(multi, transfer->easy);  // message is gone from here on
      std::optional<FetchReply> reply = finish(*transfer, result);
      if (!reply) reply = start(*transfer);  // the next hop, or why it cannot be made
      if (reply) {
        replies[transfer->index] = std::move(*reply);
        transfer->finished = true;
        --running;
      }
    }
    if (running > 0 && code == CURLM_OK) code = curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    if (code != CURLM_OK) {
      // The multi handle failed: what is still running fails with it.
      for (auto& transfer : transfers) {
        if (transfer->finished) continue;
        curl_multi_remove_handle(multi, transfer->easy);
        replies[transfer->index] = FetchReply::failure(
            QV_UNAVAILABLE, transfer->what + ": libcurl: " + curl_multi_strerror(code));
      }
      break;
    }
  }
  return replies;
}

std::optional<FetchReply> CurlFetcher::start(Transfer& transfer) {
  const FetchRequest& request = transfer.hop;
  const std::string& what = transfer.what;
  if (request.url.rfind("http://", 0) != 0 && request.url.rfind("https://", 0) != 0) {
    return FetchReply::failure(QV_UNAVAILABLE, what + ": only http:// and https:// URLs, got '" +
                                                   without_credentials(request.url) + "'");
  }
  CURL* curl = transfer.easy;
  curl_easy_reset(curl);  // forgets the previous hop
  transfer.exchange = Exchange{};
  transfer.exchange.max_body = options_.max_response_bytes;
  transfer.headers.clear();
  transfer.error_buffer[0] = 0;
  // A declared Content-Length above the limit is refused before any of the body is read;
  // not a HEAD's, which sizes a body that is not sent (as fetch() in the JS host reads it).
  if (request.method != "HEAD") {
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(options_.max_response_bytes));
  }
  HeaderList& headers = transfer.headers;
  for (const auto& [name, value] : request.headers) {
    // "name;" is how curl sends a header with an empty value ("name:" would remove it).
    if (!headers.append(value.empty() ? name + ";" : name + ": " + value)) {
      return FetchReply::failure(QV_UNAVAILABLE, what + ": out of memory");
    }
  }
  headers.append("Expect:");  // no "100-continue" round trip before a large body
  // curl labels a body it sends as a form unless told otherwise; fetch() sends a body of
  // bytes without a Content-Type of its own.
  const bool typed = std::any_of(request.headers.begin(), request.headers.end(), [](const auto& h) {
    return lower_case(h.first) == "content-type";
  });
  if (!typed) headers.append("Content-Type:");

  // What is left of the request's time, redirects included.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      transfer.deadline - std::chrono::steady_clock::now());
  curl_easy_setopt(curl, CURLOPT_PRIVATE, &transfer);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, transfer.error_buffer);
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  // As fetch() does: ask for every encoding this libcurl decodes, and hand on the body
  // decoded (the answer's Content-Encoding stays among its headers, as fetch() keeps it).
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(left.count(), 1)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for timeouts: threads are safe
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer.exchange);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer.exchange);
  // As fetch() in the JS host: a GET or HEAD sends no body; other methods send theirs as
  // is (also when empty), by name.
  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    if (request.method != "POST") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
  }
  const CURLMcode added = curl_multi_add_handle(static_cast<CURLM*>(multi_), curl);
  if (added != CURLM_OK) {
    return FetchReply::failure(QV_UNAVAILABLE, what + ": libcurl: " + curl_multi_strerror(added));
  }
  return std::nullopt;
}

std::optional<FetchReply> CurlFetcher::finish(Transfer& transfer, int result) {
  const CURLcode code = static_cast<CURLcode>(result);
  CURL* curl = transfer.easy;
  const std::string& what = transfer.what;
  Exchange& exchange = transfer.exchange;
  FetchRequest& hop = transfer.hop;
  long http_status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_status);
  // Where a redirect points, resolved against the request's URL (curl's own resolution).
  std::string location;
  const char* redirect_url = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &redirect_url) == CURLE_OK && redirect_url) {
    location = redirect_url;
  }
  if (code != CURLE_OK) {
    if (exchange.body_too_large || code == CURLE_FILESIZE_EXCEEDED) {
      // The body of a redirect that is followed is no part of the answer, whatever its
      // size: fetch() in the JS host reads only the last response's.
      location = resolved_location(hop.url, exchange.location);
      if (!is_followed_redirect(http_status, location, options_.max_redirects)) {
        return FetchReply::failure(QV_TOO_LARGE, what + ": the answer's body is over " +
                                                     std::to_string(options_.max_response_bytes) +
                                                     " bytes (max_response_bytes)");
      }
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
      return FetchReply::failure(
          QV_TIMEOUT, what + ": no answer within " + std::to_string(transfer.timeout_ms) + " ms");
    } else {
      const std::string detail =
          transfer.error_buffer[0] ? std::string(transfer.error_buffer) : curl_easy_strerror(code);
      return FetchReply::failure(QV_UNAVAILABLE, what + ": " + detail);
    }
  } else if (!is_followed_redirect(http_status, location, options_.max_redirects)) {
    FetchReply reply;
    reply.http_status = http_status;
    reply.body = std::move(exchange.body);
    reply.headers = std::move(exchange.headers);
    return reply;
  }

  // Redirects are followed here rather than by curl, which keeps a method set by name
  // (PUT, DELETE) on a 303 and drops a PUT's body on a 301 while keeping the PUT. This is
  // fetch()'s redirect step, so both hosts send the same requests.
  if (authority_of(location).has_credentials()) {  // fetch() fails it, as a network error
    return FetchReply::failure(QV_UNAVAILABLE,
                               what +
                                   ": a redirect to a URL with credentials (user:password@), "
                                   "which fetch() refuses");
  }
  if (transfer.redirects == options_.max_redirects) {
    return FetchReply::failure(QV_UNAVAILABLE, what + ": more than " +
                                                   std::to_string(options_.max_redirects) +
                                                   " redirects (max_redirects)");
  }
  ++transfer.redirects;
  if ((http_status == 303 && hop.method != "GET" && hop.method != "HEAD") ||
      ((http_status == 301 || http_status == 302) && hop.method == "POST")) {
    hop.method = "GET";
    hop.body.clear();
    drop_headers(hop, {"content-type", "content-encoding", "content-language", "content-location",
                       "content-length"});
  }
  if (origin_of(location) != origin_of(hop.url)) {
    drop_headers(hop, {"authorization", "proxy-authorization", "cookie"});
  }
  hop.url = std::move(location);
  return std::nullopt;
}

}  // namespace qv::host
