// Readers of cache access traces, one per format, as the files come (see
// ../shared/traces/README.md): gzip or xz compressed (detected by their magic bytes) or
// plain. Native only: they use zlib and liblzma, which the WebAssembly bundle does not link.
// A compressed stream cut short or damaged is an error of its own ("truncated gzip data",
// "corrupt xz data (...)"), found before a malformed key: the stream is checked to its end.
// A file compressed by zstd, bzip2 or lz4 (their magic bytes) is refused, naming the tool:
// read as plain, its bytes would pass for binary keys.
//
//   lirs     text, one decimal key per line; empty lines and lines "*" are skipped
//   cache2k  big-endian unsigned 32-bit keys, back to back
//   scarab   big-endian unsigned 64-bit keys, back to back
//
// An input that cannot be in its format is refused ("not a <format> trace: ..."): one with
// no keys; in lirs, a line that is not a key (up to 256 bytes; one holding control
// characters is said to look binary); in cache2k and scarab, a length that is not a whole
// number of keys, or text (lines without control characters: at least one line break, and
// no byte below 0x20 but tab and CR, nor 0x7f). cache2k and scarab cannot be told from each
// other (no header, and any 4 or 8 bytes are a key): only a length that is not a whole number
// of keys gives the wrong one away.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "qv/result.h"

namespace qv::cache {

enum class TraceFormat { kLirs, kCache2k, kScarab };

// "lirs", "cache2k" or "scarab"; anything else is an error naming the known formats.
Result<TraceFormat> parse_trace_format(std::string_view name);

// Reads every key of the file at `path` ("-": standard input). Errors name the file and,
// for malformed content, the line or byte offset.
Result<std::vector<uint64_t>> read_trace(const std::string& path, TraceFormat format);
// The same from an open stream; `name` is used in messages.
Result<std::vector<uint64_t>> read_trace(std::FILE* file, std::string_view name,
                                         TraceFormat format);

// Parses decompressed bytes of one format, chunk by chunk (chunks may split a key).
class TraceParser {
 public:
  TraceParser(TraceFormat format, std::vector<uint64_t>& out) : format_(format), out_(out) {}
  Status feed(std::string_view bytes);
  // The input ended: a partial key left over, text in a binary format, no keys at all are
  // errors.
  Status finish();

 private:
  Status end_line();
  // "not a <format> trace: <what>"; for a line, "line N: <what>", and whether it looks binary.
  Status refuse(std::string what) const;
  Status refuse_line(std::string what) const;
  TraceFormat format_;
  std::vector<uint64_t>& out_;
  std::string pending_;  // bytes of a key (a line, in lirs) split across chunks
  uint64_t line_ = 1;    // lirs: the line being read
  uint64_t keys_ = 0;    // keys read
  uint64_t bytes_ = 0;   // bytes fed
  bool text_ = true;     // binary formats: no control character so far (tab, CR, LF aside)
  bool lines_ = false;   // binary formats: a line break so far
};

}  // namespace qv::cache
