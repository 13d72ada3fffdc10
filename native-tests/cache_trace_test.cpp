// Trace readers: the three formats, plain, gzip (zlib) and xz (liblzma), split across read
// chunks; malformed content is an error naming the line or what is left over.
#include <catch2/catch.hpp>

#include <lzma.h>
#include <zlib.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "qv/cache/trace.h"

using namespace qv::cache;

namespace {

// level 0 stores the bytes as they are (in stored blocks), for tests that damage them.
std::string gzip(const std::string& text, int level = 9) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(text.size() + 1024, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  stream.avail_in = static_cast<uInt>(text.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&stream, Z_FINISH) == Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

std::string xz(const std::string& bytes) {
  std::string out(bytes.size() + 4096, '\0');
  size_t written = 0;
  REQUIRE(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr,
                                  reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                  reinterpret_cast<uint8_t*>(out.data()), &written,
                                  out.size()) == LZMA_OK);
  out.resize(written);
  return out;
}

qv::Result<std::vector<uint64_t>> read_bytes(const std::string& bytes, TraceFormat format) {
  std::FILE* file = std::tmpfile();
  std::fwrite(bytes.data(), 1, bytes.size(), file);
  std::rewind(file);
  auto keys = read_trace(file, "test", format);
  std::fclose(file);
  return keys;
}

}  // namespace

TEST_CASE("lirs text: one key per line, '*' and empty lines skipped, plain or gzip") {
  std::string text;
  std::vector<uint64_t> expected;
  for (uint64_t i = 0; i < 100000; ++i) {
    text += std::to_string(i * 7919 % 100003) + (i % 1000 == 0 ? "\r\n*\n\n" : "\n");
    expected.push_back(i * 7919 % 100003);
  }
  for (const std::string& bytes :
       {text, gzip(text), gzip(text.substr(0, 50000)) + gzip(text.substr(50000))}) {
    auto keys = read_bytes(bytes, TraceFormat::kLirs);
    INFO((keys.ok() ? "" : keys.error().message));
    REQUIRE(keys.ok());
    CHECK(keys.value() == expected);
  }
  auto bad = read_bytes("1\n2\nthree\n", TraceFormat::kLirs);
  REQUIRE(!bad.ok());
  CHECK(bad.error().message ==
        "test: not a lirs trace: line 3: expected a decimal key, got 'three'");
}

TEST_CASE("cache2k and scarab: big-endian 32 and 64-bit keys, plain or xz") {
  std::string u32, u64;
  std::vector<uint64_t> keys32, keys64;
  for (uint64_t i = 0; i < 300000; ++i) {
    const uint64_t k = i * 0x9e3779b97f4a7c15ull;
    keys32.push_back(k & 0xffffffffu);
    keys64.push_back(k);
    for (int b = 3; b >= 0; --b) u32.push_back(static_cast<char>((k >> (8 * b)) & 0xff));
    for (int b = 7; b >= 0; --b) u64.push_back(static_cast<char>((k >> (8 * b)) & 0xff));
  }
  CHECK(read_bytes(u32, TraceFormat::kCache2k).value() == keys32);
  CHECK(read_bytes(xz(u32), TraceFormat::kCache2k).value() == keys32);
  CHECK(read_bytes(xz(u64), TraceFormat::kScarab).value() == keys64);
  auto partial = read_bytes(u64.substr(0, 12), TraceFormat::kScarab);
  REQUIRE(!partial.ok());
  CHECK(partial.error().message ==
        "test: not a scarab trace: 12 bytes is not a whole number of 8-byte keys (4 left over)");
  auto truncated = read_bytes(xz(u32).substr(0, 200), TraceFormat::kCache2k);
  REQUIRE(!truncated.ok());
  CHECK(truncated.error().message.find("test: truncated xz data") == 0);
}

TEST_CASE("an input that cannot be in the format is refused, naming the file and the format") {
  auto refused = [](const std::string& bytes, TraceFormat format) {
    auto keys = read_bytes(bytes, format);
    INFO(bytes.size() << " bytes");
    REQUIRE(!keys.ok());
    CHECK(keys.error().status == QV_INVALID_INPUT);
    return keys.error().message;
  };
  // No keys: empty (plain or compressed), or, in lirs, only blank and '*' lines.
  for (const std::string& empty : {std::string(), gzip(""), xz("")}) {
    CHECK(refused(empty, TraceFormat::kLirs) ==
          "test: not a lirs trace: no keys in it (it is empty, or holds only blank and '*' lines)");
    CHECK(refused(empty, TraceFormat::kCache2k) ==
          "test: not a cache2k trace: no keys in it (it is empty)");
    CHECK(refused(empty, TraceFormat::kScarab) ==
          "test: not a scarab trace: no keys in it (it is empty)");
  }
  CHECK(refused("\n*\r\n\n", TraceFormat::kLirs) ==
        "test: not a lirs trace: no keys in it (it is empty, or holds only blank and '*' lines)");
  // Text given as a binary format: a whole number of keys or not, plain or compressed.
  for (const std::string& text : {std::string("1\n2\n"), std::string("10\r\n20\r\n300\n"),
                                  gzip("7\n8\n9\n10\n"), std::string("caf\xc3\xa9\n")}) {
    CHECK(refused(text, TraceFormat::kCache2k) ==
          "test: not a cache2k trace: it is text (lines without control characters), where "
          "cache2k keys are 4-byte big-endian binary; a text trace is --format lirs");
    CHECK(refused(text, TraceFormat::kScarab).find("test: not a scarab trace: it is text") == 0);
  }
  CHECK(refused(std::string("\0\0\0\5\0\0", 6), TraceFormat::kCache2k) ==
        "test: not a cache2k trace: 6 bytes is not a whole number of 4-byte keys (2 left over)");
  // Binary given as lirs: its bytes escaped in the message.
  CHECK(refused(std::string("\0\0\0\5\0\0\0\x0a\0\0\0\7", 12), TraceFormat::kLirs) ==
        "test: not a lirs trace: line 1: expected a decimal key, got "
        "'\\x00\\x00\\x00\\x05\\x00\\x00\\x00' "
        "(binary data: --format cache2k or scarab?)");
  CHECK(refused(std::string(300, '\x01'), TraceFormat::kLirs) ==
        "test: not a lirs trace: line 1: longer than 256 bytes (binary data: --format cache2k or "
        "scarab?)");
  CHECK(refused(std::string(300, '7'), TraceFormat::kLirs) ==
        "test: not a lirs trace: line 1: longer than 256 bytes");
  // Whether or not its line break comes in the same read: a key of 300 digits, or 7 after
  // 300 spaces, is refused whole as it is split across reads.
  CHECK(refused("1\n" + std::string(299, '0') + "7\n2\n", TraceFormat::kLirs) ==
        "test: not a lirs trace: line 2: longer than 256 bytes");
  CHECK(refused("1\n" + std::string(300, ' ') + "7\n", TraceFormat::kLirs) ==
        "test: not a lirs trace: line 2: longer than 256 bytes");
  CHECK(refused("12\n99999999999999999999\n", TraceFormat::kLirs) ==
        "test: not a lirs trace: line 2: expected a decimal key, got '99999999999999999999'");
  // Binary keys that happen to hold no control characters but no line break either are keys.
  CHECK(read_bytes("ABCDEFGH", TraceFormat::kCache2k).value() ==
        std::vector<uint64_t>{0x41424344u, 0x45464748u});
}

TEST_CASE("a damaged compressed trace is said to be corrupt, not in the wrong format") {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += std::to_string(1000 + i) + "\n";
  const std::string intact = gzip(text, 0);
  REQUIRE(read_bytes(intact, TraceFormat::kLirs).ok());
  // One key's digit damaged in the stored data: inflate hands the parser "1x00", and only
  // the checksum at the end of the stream tells it from a trace with a bad line.
  std::string damaged = intact;
  const size_t at = damaged.find("\n1500\n");
  REQUIRE(at != std::string::npos);
  damaged[at + 2] = 'x';
  auto keys = read_bytes(damaged, TraceFormat::kLirs);
  REQUIRE(!keys.ok());
  CHECK(keys.error().message == "test: corrupt gzip data (incorrect data check)");
  // Damaged xz data is told in xz's words, not by liblzma's error number.
  std::string u32;
  for (int i = 0; i < 1000; ++i) u32 += std::string("\0\0", 2) + char(i >> 8) + char(i);
  std::string xz_damaged = xz(u32);
  xz_damaged[xz_damaged.size() / 2] ^= 0x55;
  auto xz_keys = read_bytes(xz_damaged, TraceFormat::kCache2k);
  REQUIRE(!xz_keys.ok());
  CHECK(xz_keys.error().message == "test: corrupt xz data (compressed data is corrupt)");
  // An intact stream with a bad line is still a malformed trace.
  auto bad = read_bytes(gzip("1\n2\nthree\n4\n"), TraceFormat::kLirs);
  REQUIRE(!bad.ok());
  CHECK(bad.error().message ==
        "test: not a lirs trace: line 3: expected a decimal key, got 'three'");
}

TEST_CASE("a trace compressed by a tool the readers do not decompress is refused, naming it") {
  // Read as plain, a zstd, bzip2 or lz4 file of a whole number of keys passed for cache2k or
  // scarab keys: a replay of garbage, exit 0. Each is known by its magic bytes.
  const std::string keys("\0\0\0\1\0\0\0\2", 8);
  const std::pair<std::string, std::string> files[] = {
      {std::string("\x28\xB5\x2F\xFD", 4) + keys, "zstd"},
      {"BZh9" + keys, "bzip2"},
      {std::string("\x04\x22\x4D\x18", 4) + keys, "lz4"},
  };
  for (const auto& [bytes, tool] : files) {
    for (TraceFormat format : {TraceFormat::kLirs, TraceFormat::kCache2k, TraceFormat::kScarab}) {
      auto read = read_bytes(bytes, format);
      REQUIRE(!read.ok());
      CHECK(read.error().status == QV_INVALID_INPUT);
      CHECK(read.error().message == "test: compressed with " + tool +
                                        ", which is not read (gzip and xz are): decompress it "
                                        "first (" +
                                        tool + " -d), or pipe it in as - (" + tool + " -dc)");
    }
  }
  // "BZh" with no block size after it is not bzip2's header: keys.
  CHECK(read_bytes("BZhA", TraceFormat::kCache2k).value() == std::vector<uint64_t>{0x425a6841u});
}

TEST_CASE("formats and files are named in errors") {
  CHECK(parse_trace_format("arc").error().message ==
        "format: unknown trace format 'arc' (known: lirs, cache2k, scarab)");
  auto missing = read_trace(std::string("/nonexistent/trace.gz"), TraceFormat::kLirs);
  REQUIRE(!missing.ok());
  CHECK(missing.error().status == QV_NOT_FOUND);
  CHECK(missing.error().message.find("/nonexistent/trace.gz: cannot open") == 0);
}
