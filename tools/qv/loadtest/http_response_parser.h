// An incremental parser for HTTP/1.1 responses on the client side: the status code, how the
// body is framed (Content-Length, chunked, or until the server closes), and whether the
// connection stays open. It never allocates on the common path: a header block that arrives
// whole in one read is parsed in place; only one split across reads is copied.
//
// Hand-written on purpose. Debian 12 packages only nodejs/http-parser 2.9
// (libhttp-parser-dev), which its maintainers archived in favour of llhttp; llhttp itself is
// not packaged in Debian 12 as a C library, and npm's `llhttp` package is the TypeScript
// generator (1.0.1, 2019), not the C parser. A load tester needs far less than a general
// parser (no requests, no URL parsing, no upgrade): the framing rules of RFC 9112 §6 and the
// status line, which is what this implements.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qv::loadtest {

class HttpResponseParser {
 public:
  enum class Outcome { kNeedMore, kComplete, kError };

  // Starts a new response. A response to HEAD has no body whatever its headers say;
  // keep_body asks the parser to keep up to kMaxKeptBody bytes of the body (for checks).
  void reset(bool response_to_head, bool keep_body);

  // Feeds bytes received from the socket; `consumed` says how many belong to this response.
  Outcome feed(const char* data, size_t size, size_t& consumed);

  // The server closed the connection: completes a response framed by the close, else error.
  Outcome finish_at_close();

  bool started() const { return started_; }
  int status() const { return status_; }
  bool keep_alive() const { return keep_alive_; }
  uint64_t body_bytes() const { return body_bytes_; }
  std::string_view body() const { return body_; }
  // Why the last feed returned kError.
  const char* error() const { return error_; }

  static constexpr size_t kMaxHeaderBytes = 64 * 1024;
  static constexpr size_t kMaxKeptBody = 1024 * 1024;

 private:
  enum class State {
    kHeaders,
    kBodyLength,
    kChunkSize,
    kChunkExtension,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kUntilClose,
    kDone
  };

  Outcome parse_header_block(std::string_view block);
  Outcome fail(const char* why);
  void keep(const char* data, size_t size);

  State state_ = State::kHeaders;
  bool started_ = false;
  bool response_to_head_ = false;
  bool keep_body_ = false;
  bool keep_alive_ = true;
  int status_ = 0;
  uint64_t remaining_ = 0;  // body bytes, or bytes of the current chunk
  uint64_t body_bytes_ = 0;
  int chunk_size_digits_ = 0;
  size_t trailer_line_length_ = 0;
  std::string pending_headers_;  // a header block split across reads
  std::string body_;
  const char* error_ = "";
};

}  // namespace qv::loadtest
