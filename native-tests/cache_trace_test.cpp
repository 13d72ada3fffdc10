// Trace readers: the three formats, plain, gzip (zlib) and xz (liblzma), split across read
// chunks; malformed content is an error naming the line or what is left over.
#include <catch2/catch.hpp>

#include <lzma.h>
#include <zlib.h>

#include <cstdio>
#include <string>
#include <vector>

#include "qv/cache/trace.h"

using namespace qv::cache;

namespace {

std::string gzip(const std::string& text) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
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
  CHECK(bad.error().message == "test: line 3: expected a decimal key, got 'three'");
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
        "test: the input ends inside a key: 4 bytes left over, keys are 8 bytes");
  auto truncated = read_bytes(xz(u32).substr(0, 200), TraceFormat::kCache2k);
  REQUIRE(!truncated.ok());
  CHECK(truncated.error().message.find("test: truncated xz data") == 0);
}

TEST_CASE("formats and files are named in errors") {
  CHECK(parse_trace_format("arc").error().message ==
        "format: unknown trace format 'arc' (known: lirs, cache2k, scarab)");
  auto missing = read_trace(std::string("/nonexistent/trace.gz"), TraceFormat::kLirs);
  REQUIRE(!missing.ok());
  CHECK(missing.error().status == QV_NOT_FOUND);
  CHECK(missing.error().message.find("/nonexistent/trace.gz: cannot open") == 0);
}
