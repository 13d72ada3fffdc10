#include "qv/cache/trace.h"

#include <lzma.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace qv::cache {

Result<TraceFormat> parse_trace_format(std::string_view name) {
  if (name == "lirs") return TraceFormat::kLirs;
  if (name == "cache2k") return TraceFormat::kCache2k;
  if (name == "scarab") return TraceFormat::kScarab;
  return invalid_input("format: unknown trace format '" + std::string(name) +
                       "' (known: lirs, cache2k, scarab)");
}

// ---- parsing ---------------------------------------------------------------------------

namespace {

std::string_view format_name(TraceFormat format) {
  return format == TraceFormat::kLirs      ? "lirs"
         : format == TraceFormat::kCache2k ? "cache2k"
                                           : "scarab";
}

// The longest lirs line, its "\n" aside, checked however the reads split it.
constexpr size_t kMaxLine = 256;

size_t key_bytes(TraceFormat format) {
  return format == TraceFormat::kCache2k ? 4 : 8;
}

// A control character that text holds none of (tab, CR and LF aside): binary data.
bool control(unsigned char c) {
  return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

}  // namespace

Status TraceParser::refuse(std::string what) const {
  return invalid_input("not a " + std::string(format_name(format_)) + " trace: " + what);
}

Status TraceParser::refuse_line(std::string what) const {
  const bool binary = std::any_of(pending_.begin(), pending_.end(),
                                  [](char c) { return control(static_cast<unsigned char>(c)); });
  return refuse("line " + std::to_string(line_) + ": " + what +
                (binary ? " (binary data: --format cache2k or scarab?)" : ""));
}

Status TraceParser::end_line() {
  if (pending_.size() > kMaxLine) return refuse_line("longer than 256 bytes");
  std::string_view line = pending_;
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
    line.remove_suffix(1);
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  if (!line.empty() && line != "*") {
    uint64_t key = 0;
    for (char c : line) {
      const uint64_t digit = static_cast<uint64_t>(c - '0');
      if (c < '0' || c > '9' || key > (UINT64_MAX - digit) / 10)
        return refuse_line("expected a decimal key, got '" + shown_bytes(line.substr(0, 40)) + "'");
      key = key * 10 + digit;
    }
    out_.push_back(key);
    ++keys_;
  }
  pending_.clear();
  ++line_;
  return ok_status();
}

Status TraceParser::feed(std::string_view bytes) {
  bytes_ += bytes.size();
  if (format_ == TraceFormat::kLirs) {
    for (;;) {
      const size_t newline = bytes.find('\n');
      if (newline == std::string_view::npos) {
        pending_.append(bytes);
        // Checked here too, so a line without an end holds no more than that.
        if (pending_.size() > kMaxLine) return refuse_line("longer than 256 bytes");
        return ok_status();
      }
      pending_.append(bytes.substr(0, newline));
      if (auto s = end_line(); !s.ok()) return s;
      bytes.remove_prefix(newline + 1);
    }
  }
  // Whether everything so far reads as text (lines without control characters), which a
  // binary trace of keys all but never does: most hold a zero byte in their first keys.
  for (size_t i = 0; text_ && i < bytes.size(); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    text_ = !control(c);
    lines_ = lines_ || c == '\n';
  }
  const size_t width = key_bytes(format_);
  auto read_key = [&](const unsigned char* p) {
    uint64_t key = 0;
    for (size_t i = 0; i < width; ++i) key = key << 8 | p[i];
    out_.push_back(key);
    ++keys_;
  };
  while (!pending_.empty() && !bytes.empty()) {  // complete a key split across chunks
    pending_.push_back(bytes.front());
    bytes.remove_prefix(1);
    if (pending_.size() == width) {
      read_key(reinterpret_cast<const unsigned char*>(pending_.data()));
      pending_.clear();
    }
  }
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t whole = bytes.size() / width;
  for (size_t i = 0; i < whole; ++i) read_key(p + i * width);
  pending_.append(bytes.substr(whole * width));
  return ok_status();
}

Status TraceParser::finish() {
  if (format_ == TraceFormat::kLirs) {
    if (!pending_.empty())
      if (auto s = end_line(); !s.ok()) return s;
    if (keys_ == 0) return refuse("no keys in it (it is empty, or holds only blank and '*' lines)");
    return ok_status();
  }
  const std::string width = std::to_string(key_bytes(format_));
  if (text_ && lines_) {
    return refuse("it is text (lines without control characters), where " +
                  std::string(format_name(format_)) + " keys are " + width +
                  "-byte big-endian binary; a text trace is --format lirs");
  }
  if (!pending_.empty()) {
    return refuse(std::to_string(bytes_) + " bytes is not a whole number of " + width +
                  "-byte keys (" + std::to_string(pending_.size()) + " left over)");
  }
  if (keys_ == 0) return refuse("no keys in it (it is empty)");
  return ok_status();
}

// ---- decompression ---------------------------------------------------------------------

namespace {

constexpr size_t kChunk = 1 << 16;

Error read_error(std::string_view name) {
  return {QV_UNAVAILABLE, std::string(name) + ": cannot read (" + std::strerror(errno) + ")"};
}

Error in_file(std::string_view name, const Error& error) {
  return {error.status, std::string(name) + ": " + error.message};
}

// Hands decompressed bytes to the parser. Its first error waits until the stream has been
// decompressed to the end and its checksum checked: a damaged file reads as garbage (a
// line that is not a key) well before that, and is corrupt, not in the wrong format.
class Sink {
 public:
  Sink(TraceParser& parser, std::string_view name) : parser_(parser), name_(name) {}
  void feed(std::string_view bytes) {
    if (!error_.ok()) return;
    if (auto s = parser_.feed(bytes); !s.ok()) error_ = in_file(name_, s.error());
  }
  Status& error() { return error_; }

 private:
  TraceParser& parser_;
  std::string_view name_;
  Status error_ = ok_status();
};

// Feeds everything from `file` (starting with `head`, the bytes already read) through
// `inflate`, a function that decompresses one input chunk into the parser.
template <typename Decoder>
Status pump(std::FILE* file, std::string_view name, std::string_view head, Decoder&& decode) {
  std::vector<char> in(kChunk);
  if (auto s = decode(head, false); !s.ok()) return s;
  for (;;) {
    const size_t got = std::fread(in.data(), 1, in.size(), file);
    if (got == 0) {
      if (std::ferror(file)) return read_error(name);
      return decode({}, true);
    }
    if (auto s = decode(std::string_view(in.data(), got), false); !s.ok()) return s;
  }
}

Status gunzip(std::FILE* file, std::string_view name, std::string_view head, Sink& sink) {
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 32) != Z_OK)  // 15: largest window; +32: gzip or zlib header
    return Error{QV_INTERNAL, "zlib: cannot initialise"};
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&stream, inflateEnd);
  std::vector<char> out(4 * kChunk);
  bool ended = false;
  return pump(file, name, head, [&](std::string_view chunk, bool last) -> Status {
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(chunk.data()));
    stream.avail_in = static_cast<uInt>(chunk.size());
    for (;;) {
      if (ended) {
        if (stream.avail_in == 0) return ok_status();
        // Concatenated gzip members (as `cat a.gz b.gz` makes them) continue the stream.
        if (inflateReset(&stream) != Z_OK) return Error{QV_INTERNAL, "zlib: cannot reset"};
        ended = false;
      }
      if (stream.avail_in == 0 && !last) return ok_status();  // wants the next chunk
      stream.next_out = reinterpret_cast<Bytef*>(out.data());
      stream.avail_out = static_cast<uInt>(out.size());
      const int rc = inflate(&stream, Z_NO_FLUSH);
      const size_t produced = out.size() - stream.avail_out;
      sink.feed(std::string_view(out.data(), produced));
      if (rc == Z_STREAM_END) {
        ended = true;
      } else if (rc == Z_BUF_ERROR || (rc == Z_OK && last && produced == 0)) {
        if (last) return invalid_input(std::string(name) + ": truncated gzip data");
        return ok_status();
      } else if (rc != Z_OK) {
        return invalid_input(std::string(name) + ": corrupt gzip data (" +
                             (stream.msg ? stream.msg : "zlib error " + std::to_string(rc)) + ")");
      }
    }
  });
}

// What a liblzma error says about the data, in xz's own words (as zlib's messages are).
std::string lzma_problem(lzma_ret rc) {
  switch (rc) {
    case LZMA_DATA_ERROR:
      return "compressed data is corrupt";
    case LZMA_FORMAT_ERROR:
      return "file format not recognized";
    case LZMA_OPTIONS_ERROR:
      return "unsupported options";
    case LZMA_MEM_ERROR:
      return "memory allocation failed";
    default:
      return "liblzma error " + std::to_string(rc);
  }
}

Status unxz(std::FILE* file, std::string_view name, std::string_view head, Sink& sink) {
  lzma_stream stream = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&stream, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
    return Error{QV_INTERNAL, "liblzma: cannot initialise"};
  std::unique_ptr<lzma_stream, void (*)(lzma_stream*)> guard(&stream, lzma_end);
  std::vector<char> out(4 * kChunk);
  bool ended = false;
  return pump(file, name, head, [&](std::string_view chunk, bool last) -> Status {
    stream.next_in = reinterpret_cast<const uint8_t*>(chunk.data());
    stream.avail_in = chunk.size();
    const lzma_action action = last ? LZMA_FINISH : LZMA_RUN;
    while (!ended) {
      stream.next_out = reinterpret_cast<uint8_t*>(out.data());
      stream.avail_out = out.size();
      const lzma_ret rc = lzma_code(&stream, action);
      const size_t produced = out.size() - stream.avail_out;
      sink.feed(std::string_view(out.data(), produced));
      if (rc == LZMA_STREAM_END) {
        ended = true;
        break;
      }
      if (rc != LZMA_OK) {
        return invalid_input(std::string(name) +
                             (rc == LZMA_BUF_ERROR && last
                                  ? ": truncated xz data"
                                  : ": corrupt xz data (" + lzma_problem(rc) + ")"));
      }
      if (stream.avail_in == 0 && stream.avail_out != 0) break;  // needs more input
    }
    if (last && !ended) return invalid_input(std::string(name) + ": truncated xz data");
    return ok_status();
  });
}

// The compressor of a file these readers do not decompress, known by its magic bytes, or
// empty: read as plain, its compressed bytes would pass for binary keys.
std::string_view unread_compression(std::string_view head) {
  if (head.substr(0, 4) == std::string_view("\x28\xB5\x2F\xFD", 4)) return "zstd";
  if (head.size() >= 4 && head.substr(0, 3) == "BZh" && head[3] >= '1' && head[3] <= '9')
    return "bzip2";
  if (head.substr(0, 4) == std::string_view("\x04\x22\x4D\x18", 4)) return "lz4";
  return {};
}

}  // namespace

Result<std::vector<uint64_t>> read_trace(std::FILE* file, std::string_view name,
                                         TraceFormat format) {
  std::vector<uint64_t> keys;
  TraceParser parser(format, keys);
  char head[6];
  const size_t got = std::fread(head, 1, sizeof head, file);
  if (got < sizeof head && std::ferror(file)) return read_error(name);
  const std::string_view start(head, got);
  Status status = ok_status();
  Sink sink(parser, name);
  if (got >= 2 && static_cast<unsigned char>(head[0]) == 0x1f &&
      static_cast<unsigned char>(head[1]) == 0x8b) {
    status = gunzip(file, name, start, sink);
  } else if (got == 6 && start == std::string_view("\xFD"
                                                   "7zXZ\0",
                                                   6)) {
    status = unxz(file, name, start, sink);
  } else if (const std::string_view compressor = unread_compression(start); !compressor.empty()) {
    const std::string tool(compressor);
    return invalid_input(std::string(name) + ": compressed with " + tool +
                         ", which is not read (gzip and xz are): decompress it first (" + tool +
                         " -d), or pipe it in as - (" + tool + " -dc)");
  } else {
    status = pump(file, name, start, [&](std::string_view chunk, bool) -> Status {
      if (auto s = parser.feed(chunk); !s.ok()) return in_file(name, s.error());
      return ok_status();
    });
  }
  if (!status.ok()) return status.take_error();
  if (!sink.error().ok()) return sink.error().take_error();
  if (auto s = parser.finish(); !s.ok()) return in_file(name, s.error());
  return keys;
}

Result<std::vector<uint64_t>> read_trace(const std::string& path, TraceFormat format) {
  if (path == "-") return read_trace(stdin, "standard input", format);
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) {
    return Error{errno == ENOENT ? QV_NOT_FOUND : QV_UNAVAILABLE,
                 path + ": cannot open (" + std::strerror(errno) + ")"};
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> guard(file, std::fclose);
  return read_trace(file, path, format);
}

}  // namespace qv::cache
