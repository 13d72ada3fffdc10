// Readers of cache access traces, one per format, as the files come (see
// ../shared/traces/README.md): gzip or xz compressed (detected by their magic bytes) or
// plain. Native only: they use zlib and liblzma, which the WebAssembly bundle does not link.
//
//   lirs     text, one decimal key per line; empty lines and lines "*" are skipped
//   cache2k  big-endian unsigned 32-bit keys, back to back
//   scarab   big-endian unsigned 64-bit keys, back to back
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
  // The input ended: a partial key left over is an error.
  Status finish();

 private:
  Status end_line();
  TraceFormat format_;
  std::vector<uint64_t>& out_;
  std::string pending_;  // bytes of a key split across chunks
  uint64_t line_ = 1;    // lirs: the line being read
  uint64_t offset_ = 0;  // binary formats: bytes consumed
};

}  // namespace qv::cache
