// The native benchmarks' input files, read whole.
#pragma once

#include <fstream>
#include <optional>
#include <string>

namespace qv::bench {

// The file's bytes, or nullopt when it cannot be opened or read (a directory opens, then its
// read fails: std::istreambuf_iterator over it throws, where istream::read sets badbit).
inline std::optional<std::string> read_file(const char* path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::string bytes;
  char chunk[1 << 16];
  while (file.read(chunk, sizeof chunk) || file.gcount() > 0) {
    bytes.append(chunk, static_cast<size_t>(file.gcount()));
  }
  if (file.bad()) return std::nullopt;
  return bytes;
}

}  // namespace qv::bench
