#include <unistd.h>

#include <iostream>
#include <optional>
#include <sstream>
#include <string_view>

#include "command.h"
#include "loadtest/text_file.h"
#include "qv/host/curl_fetcher.h"
#include "qv/host/redis_kv.h"
#include "qv/json.h"

namespace qv::cli {

Result<std::string> read_input(const std::string& path_or_dash) {
  if (path_or_dash == "-") {
    // A second input given as - would read what the first left: nothing, refused as empty
    // JSON ("got the end of the text"), which does not say why.
    static bool read = false;
    if (read) {
      return Error{QV_INVALID_INPUT,
                   "-: standard input is read once, for the first input given as -; give the "
                   "others as files"};
    }
    read = true;
    std::ostringstream text;
    text << std::cin.rdbuf();
    if (std::cin.bad()) return Error{QV_INVALID_INPUT, "stdin: cannot be read"};
    return text.str();
  }
  // The load tester's reader: a directory or an unreadable file is an error naming the
  // system's reason, where a stream's failed read would throw past us and abort.
  auto text = loadtest::read_text_file(path_or_dash);
  if (!text.ok()) return Error{QV_INVALID_INPUT, text.error().message};
  // Above the modules' input limit: refused here, naming the file, in the words the module
  // refuses an input with (after its status, as printed), where the input a command builds
  // around it was refused as a whole ('input: N bytes'), no file named.
  if (text.value().size() > kMaxInputBytes) {
    return Error{QV_TOO_LARGE, std::string(status_name(QV_TOO_LARGE)) + ": " + path_or_dash + ": " +
                                   std::to_string(text.value().size()) +
                                   " bytes is above the limit of " +
                                   std::to_string(kMaxInputBytes) + " bytes"};
  }
  return std::move(text.value());
}

bool OutputStyle::use_pretty() const {
  if (pretty) return true;
  if (compact) return false;
  return isatty(STDOUT_FILENO) == 1;
}

Result<host::Instance> make_instance(const std::string& redis_url) {
  host::InstanceOptions options;
  if (redis_url.empty()) {
    options.kv = std::make_shared<host::MemoryKv>();
  } else {
    auto redis = host::parse_redis_url(redis_url);
    if (!redis.ok()) return redis.take_error();
    options.kv = std::make_shared<host::RedisKv>(std::move(redis.value()));
  }
  options.fetcher = std::make_shared<host::CurlFetcher>();
  return host::Instance::create(std::move(options));
}

namespace {

// The module's JSON laid out as simdjson::prettify lays it out (four spaces a level, "key":
// value, {} and [] when empty), whitespace added and nothing else changed: strings and
// numbers are copied byte for byte, so a header value an origin sent in latin-1 is printed as
// the bytes it is (simdjson refuses a text that is not UTF-8, and writes numbers its own
// way). nullopt when the text is not in JSON's shape (a bracket unmatched, a string left
// open): it is then printed as it is.
std::optional<std::string> indent_json(std::string_view json) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::string out;
  std::string closers;  // what closes each level open at this point
  const auto new_line = [&] {
    out += '\n';
    out.append(4 * closers.size(), ' ');
  };
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (is_space(c)) continue;
    if (c == '"') {
      const size_t start = i;
      for (++i; i < json.size() && json[i] != '"'; ++i) {
        if (json[i] == '\\') ++i;  // the escaped character, a quote too
      }
      if (i >= json.size()) return std::nullopt;
      out.append(json.substr(start, i + 1 - start));
    } else if (c == '{' || c == '[') {
      const char closer = c == '{' ? '}' : ']';
      size_t next = i + 1;
      while (next < json.size() && is_space(json[next])) ++next;
      out += c;
      if (next < json.size() && json[next] == closer) {
        out += closer;
        i = next;
        continue;
      }
      closers += closer;
      new_line();
    } else if (c == '}' || c == ']') {
      if (closers.empty() || closers.back() != c) return std::nullopt;
      closers.pop_back();
      new_line();
      out += c;
    } else if (c == ',') {
      out += c;
      new_line();
    } else if (c == ':') {
      out += ": ";
    } else {
      out += c;
    }
  }
  if (!closers.empty()) return std::nullopt;
  return out;
}

}  // namespace

int print_answer(const host::Answer& answer, const OutputStyle& style, const std::string& file) {
  if (!answer.ok()) {
    std::string message = answer.message();
    if (message.empty()) message = answer.output;
    if (!file.empty() && file != "-") message = file + ": " + message;
    std::cerr << "qv: " << status_name(answer.status) << ": " << message << "\n";
    return kExitFailed;
  }
  std::optional<std::string> pretty;
  if (style.use_pretty()) pretty = indent_json(answer.output);
  std::cout << (pretty ? *pretty : answer.output) << "\n";
  return 0;
}

int fail(const std::string& message) {
  std::cerr << "qv: " << message << "\n";
  return kExitFailed;
}

}  // namespace qv::cli
