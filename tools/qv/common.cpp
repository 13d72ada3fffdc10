#include <unistd.h>

#include <iostream>
#include <sstream>

#include "command.h"
#include "loadtest/text_file.h"
#include "qv/host/curl_fetcher.h"
#include "qv/host/redis_kv.h"
#include "simdjson.h"

namespace qv::cli {

Result<std::string> read_input(const std::string& path_or_dash) {
  if (path_or_dash == "-") {
    std::ostringstream text;
    text << std::cin.rdbuf();
    if (std::cin.bad()) return Error{QV_INVALID_INPUT, "stdin: cannot be read"};
    return text.str();
  }
  // The load tester's reader: a directory or an unreadable file is an error naming the
  // system's reason, where a stream's failed read would throw past us and abort.
  auto text = loadtest::read_text_file(path_or_dash);
  if (!text.ok()) return Error{QV_INVALID_INPUT, text.error().message};
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

int print_answer(const host::Answer& answer, const OutputStyle& style, const std::string& file) {
  if (!answer.ok()) {
    std::string message = answer.message();
    if (message.empty()) message = answer.output;
    if (!file.empty() && file != "-") message = file + ": " + message;
    std::cerr << "qv: " << status_name(answer.status) << ": " << message << "\n";
    return kExitFailed;
  }
  if (style.use_pretty()) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (!parser.parse(answer.output).get(root)) {
      const std::string pretty = simdjson::prettify(root);
      std::cout << pretty << (pretty.empty() || pretty.back() != '\n' ? "\n" : "");
      return 0;
    }
  }
  std::cout << answer.output << "\n";
  return 0;
}

int fail(const std::string& message) {
  std::cerr << "qv: " << message << "\n";
  return kExitFailed;
}

}  // namespace qv::cli
