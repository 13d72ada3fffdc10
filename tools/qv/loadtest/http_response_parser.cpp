#include "http_response_parser.h"

#include <algorithm>
#include <cstring>

namespace qv::loadtest {

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Does a comma-separated header value hold `token` (case-insensitive)?
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (equals_ignoring_case(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// The last coding of a Transfer-Encoding value decides whether the body is chunked.
bool last_coding_is_chunked(std::string_view value) {
  const size_t comma = value.rfind(',');
  std::string_view last = comma == std::string_view::npos ? value : value.substr(comma + 1);
  while (!last.empty() && (last.front() == ' ' || last.front() == '\t')) last.remove_prefix(1);
  while (!last.empty() && (last.back() == ' ' || last.back() == '\t')) last.remove_suffix(1);
  return equals_ignoring_case(last, "chunked");
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void HttpResponseParser::reset(bool response_to_head, bool keep_body) {
  state_ = State::kHeaders;
  started_ = false;
  response_to_head_ = response_to_head;
  keep_body_ = keep_body;
  keep_alive_ = true;
  status_ = 0;
  remaining_ = 0;
  body_bytes_ = 0;
  chunk_size_digits_ = 0;
  trailer_line_length_ = 0;
  pending_headers_.clear();
  body_.clear();
  error_ = "";
}

HttpResponseParser::Outcome HttpResponseParser::fail(const char* why) {
  error_ = why;
  return Outcome::kError;
}

void HttpResponseParser::keep(const char* data, size_t size) {
  body_bytes_ += size;
  if (keep_body_ && body_.size() < kMaxKeptBody) {
    body_.append(data, std::min(size, kMaxKeptBody - body_.size()));
  }
}

HttpResponseParser::Outcome HttpResponseParser::parse_header_block(std::string_view block) {
  // Status line: HTTP/1.x SP 3DIGIT SP reason CRLF
  const size_t line_end = block.find("\r\n");
  const std::string_view line = block.substr(0, line_end);
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') {
    return fail("malformed status line");
  }
  const bool http_1_0 = line[7] == '0';
  int status = 0;
  for (int i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return fail("malformed status code");
    status = status * 10 + (line[i] - '0');
  }
  if (line.size() > 12 && line[12] != ' ') return fail("malformed status line");
  status_ = status;
  keep_alive_ = !http_1_0;

  bool chunked = false, has_length = false;
  bool other_coding = false;  // a Transfer-Encoding whose body this parser cannot frame
  uint64_t length = 0;
  std::string_view rest = block.substr(line_end + 2);
  while (!rest.empty()) {
    const size_t end = rest.find("\r\n");
    const std::string_view header = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 2);
    if (header.empty()) break;
    const size_t colon = header.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail("malformed header line");
    const std::string_view name = header.substr(0, colon);
    std::string_view value = header.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (equals_ignoring_case(name, "content-length")) {
      if (value.empty()) return fail("malformed Content-Length");
      uint64_t parsed = 0;
      for (char c : value) {
        if (c < '0' || c > '9' || parsed > (UINT64_MAX - 9) / 10) {
          return fail("malformed Content-Length");
        }
        parsed = parsed * 10 + static_cast<uint64_t>(c - '0');
      }
      if (has_length && parsed != length) return fail("conflicting Content-Length headers");
      has_length = true;
      length = parsed;
    } else if (equals_ignoring_case(name, "transfer-encoding")) {
      chunked = last_coding_is_chunked(value);
      other_coding = !chunked;
    } else if (equals_ignoring_case(name, "connection")) {
      if (has_token(value, "close")) keep_alive_ = false;
      if (has_token(value, "keep-alive")) keep_alive_ = keep_alive_ || http_1_0;
    }
  }

  // RFC 9112 §6.3: the body's length, in order of precedence.
  if (status_ == 101) {  // Switching Protocols: the last HTTP/1.1 on this connection
    keep_alive_ = false;
    state_ = State::kDone;
    return Outcome::kComplete;
  }
  if (status_ >= 100 && status_ < 200) {
    state_ = State::kHeaders;  // an interim response: the real one follows
    return Outcome::kNeedMore;
  }
  if (response_to_head_ || status_ == 204 || status_ == 304) {
    state_ = State::kDone;  // no body, whatever the headers say
  } else if (other_coding) {
    return fail("unsupported Transfer-Encoding");
  } else if (chunked) {
    state_ = State::kChunkSize;
  } else if (has_length) {
    remaining_ = length;
    state_ = length ? State::kBodyLength : State::kDone;
  } else {
    keep_alive_ = false;
    state_ = State::kUntilClose;
  }
  return state_ == State::kDone ? Outcome::kComplete : Outcome::kNeedMore;
}

HttpResponseParser::Outcome HttpResponseParser::feed(const char* data, size_t size,
                                                     size_t& consumed) {
  consumed = 0;
  if (size) started_ = true;
  while (consumed < size) {
    const char* at = data + consumed;
    const size_t left = size - consumed;
    switch (state_) {
      case State::kHeaders: {
        size_t block_end;  // bytes of `at` up to and including the blank line
        std::string_view block;
        if (pending_headers_.empty()) {
          const void* found = memmem(at, left, "\r\n\r\n", 4);
          if (!found) {
            if (left > kMaxHeaderBytes) return fail("response headers larger than 64 KiB");
            pending_headers_.assign(at, left);
            consumed = size;
            return Outcome::kNeedMore;
          }
          block_end = static_cast<size_t>(static_cast<const char*>(found) - at) + 4;
          block = std::string_view(at, block_end);
        } else {
          const size_t before = pending_headers_.size();
          pending_headers_.append(at, std::min(left, kMaxHeaderBytes + 4));
          const size_t search_from = before >= 3 ? before - 3 : 0;
          const size_t found = pending_headers_.find("\r\n\r\n", search_from);
          if (found == std::string::npos) {
            if (pending_headers_.size() > kMaxHeaderBytes) {
              return fail("response headers larger than 64 KiB");
            }
            consumed = size;
            return Outcome::kNeedMore;
          }
          block_end = found + 4 - before;
          pending_headers_.resize(found + 4);
          block = pending_headers_;
        }
        // (A block that ended within the first read may still be above the limit.)
        if (block.size() > kMaxHeaderBytes + 4) return fail("response headers larger than 64 KiB");
        consumed += block_end;
        const Outcome outcome = parse_header_block(block);
        pending_headers_.clear();
        if (outcome != Outcome::kNeedMore) return outcome;
        break;
      }
      case State::kBodyLength: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, left));
        keep(at, take);
        consumed += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          state_ = State::kDone;
          return Outcome::kComplete;
        }
        break;
      }
      case State::kChunkSize: {
        const char c = *at;
        ++consumed;
        const int digit = hex_digit(c);
        if (digit >= 0) {
          if (++chunk_size_digits_ > 15) return fail("chunk size too large");
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(digit);
        } else if (chunk_size_digits_ == 0) {
          return fail("malformed chunk size");
        } else if (c == '\n') {
          chunk_size_digits_ = 0;
          state_ = remaining_ ? State::kChunkData : State::kTrailers;
          trailer_line_length_ = 0;
        } else {
          state_ = State::kChunkExtension;  // ";name=value", or the CR before LF
        }
        break;
      }
      case State::kChunkExtension: {
        const void* newline = memchr(at, '\n', left);
        if (!newline) {
          consumed = size;
          break;
        }
        consumed += static_cast<size_t>(static_cast<const char*>(newline) - at) + 1;
        chunk_size_digits_ = 0;
        state_ = remaining_ ? State::kChunkData : State::kTrailers;
        trailer_line_length_ = 0;
        break;
      }
      case State::kChunkData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, left));
        keep(at, take);
        consumed += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kChunkDataEnd;
        break;
      }
      case State::kChunkDataEnd: {
        const char c = *at;
        ++consumed;
        if (c == '\n') {
          state_ = State::kChunkSize;
        } else if (c != '\r') {
          return fail("missing CRLF after chunk data");
        }
        break;
      }
      case State::kTrailers: {
        const char c = *at;
        ++consumed;
        if (c == '\n') {
          if (trailer_line_length_ == 0) {
            state_ = State::kDone;
            return Outcome::kComplete;
          }
          trailer_line_length_ = 0;
        } else if (c != '\r') {
          if (++trailer_line_length_ > kMaxHeaderBytes) return fail("trailers too large");
        }
        break;
      }
      case State::kUntilClose:
        keep(at, left);
        consumed = size;
        break;
      case State::kDone:
        return Outcome::kComplete;
    }
  }
  return state_ == State::kDone ? Outcome::kComplete : Outcome::kNeedMore;
}

HttpResponseParser::Outcome HttpResponseParser::finish_at_close() {
  if (state_ == State::kUntilClose || state_ == State::kDone) {
    state_ = State::kDone;
    return Outcome::kComplete;
  }
  return fail(started_ ? "connection closed in the middle of a response"
                       : "connection closed before a response");
}

}  // namespace qv::loadtest
