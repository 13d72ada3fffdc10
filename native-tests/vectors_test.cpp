// Runs every behavioural test vector (modules/*/vectors/*.json) through the native shim,
// exactly as docs/test-vectors.md specifies: per case a fresh instance, a fresh in-memory
// KV holding `kv`, a clock fixed at `nowMs`; `setup` calls first; then the call, compared
// with `expect` and `expectKv`. The Node.js and edge-runtime runners read the same files.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <optional>
#include <sstream>

#include "qv/host/instance.h"
#include "simdjson.h"
#include "support/environment.h"
#include "support/test_host.h"

namespace fs = std::filesystem;
using qv::host::Answer;
using qv::host::FetchReply;
using qv::host::FetchRequest;
using qv::host::MemoryKv;
using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {

std::vector<fs::path> vector_files() {
  std::vector<fs::path> files;
  const fs::path modules = fs::path(qv::test::source_dir()) / "modules";
  std::error_code error;
  for (const auto& module : fs::directory_iterator(modules, error)) {
    const fs::path vectors = module.path() / "vectors";
    if (!fs::is_directory(vectors)) continue;
    for (const auto& file : fs::directory_iterator(vectors)) {
      if (file.path().extension() == ".json") files.push_back(file.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string json_text(element value) {
  return simdjson::minify(value);
}

// The value of a number element (integers included), NaN for anything else.
double number_of(element value) {
  double number = 0;
  if (value.get_double().get(number)) return std::nan("");
  return number;
}

bool is_number(element value) {
  const auto type = value.type();
  return type == element_type::INT64 || type == element_type::UINT64 ||
         type == element_type::DOUBLE;
}

// Compares an answer with the expected JSON. subset: keys the expectation leaves out may
// exist (outputIncludes), else the objects must have the same keys (output). Returns ""
// when they match, else where and how they differ.
std::string difference(element actual, element expected, bool subset, const std::string& path) {
  const std::string where = path.empty() ? "output" : path;
  if (is_number(expected)) {
    if (!is_number(actual))
      return where + ": expected " + json_text(expected) + ", got " + json_text(actual);
    const double a = number_of(actual), e = number_of(expected);
    // Within 1e-9 relative, or absolute near zero.
    if (std::fabs(a - e) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(e)})) return "";
    return where + ": expected " + json_text(expected) + ", got " + json_text(actual);
  }
  if (expected.type() != actual.type()) {
    return where + ": expected " + json_text(expected) + ", got " + json_text(actual);
  }
  switch (expected.type()) {
    case element_type::OBJECT: {
      simdjson::dom::object want = expected.get_object().value_unsafe();
      simdjson::dom::object have = actual.get_object().value_unsafe();
      for (auto field : want) {
        const std::string child =
            path.empty() ? std::string(field.key) : path + "." + std::string(field.key);
        element value;
        if (have.at_key(field.key).get(value)) return child + ": missing";
        if (auto diff = difference(value, field.value, subset, child); !diff.empty()) return diff;
      }
      if (!subset) {
        for (auto field : have) {
          element ignored;
          if (want.at_key(field.key).get(ignored)) {
            return (path.empty() ? std::string(field.key) : path + "." + std::string(field.key)) +
                   ": not expected (value " + json_text(field.value) + ")";
          }
        }
      }
      return "";
    }
    case element_type::ARRAY: {
      simdjson::dom::array want = expected.get_array().value_unsafe();
      simdjson::dom::array have = actual.get_array().value_unsafe();
      if (want.size() != have.size()) {
        return where + ": expected " + std::to_string(want.size()) + " elements, got " +
               std::to_string(have.size()) + " (" + json_text(actual) + ")";
      }
      size_t index = 0;
      auto it = have.begin();
      for (element item : want) {
        if (auto diff = difference(*it, item, subset, where + "[" + std::to_string(index) + "]");
            !diff.empty()) {
          return diff;
        }
        ++it;
        ++index;
      }
      return "";
    }
    default:
      return json_text(actual) == json_text(expected)
                 ? ""
                 : where + ": expected " + json_text(expected) + ", got " + json_text(actual);
  }
}

// The fields a case, its expectation and a setup call may have: a typo must fail, not be
// silently ignored.
std::string unknown_field(simdjson::dom::object object,
                          std::initializer_list<std::string_view> allowed) {
  for (auto field : object) {
    if (std::find(allowed.begin(), allowed.end(), field.key) == allowed.end()) {
      return std::string(field.key);
    }
  }
  return "";
}

std::string string_field(simdjson::dom::object object, std::string_view key) {
  std::string_view text;
  if (object[key].get_string().get(text)) return "";
  return std::string(text);
}

// A case's `origin`: the answers the host's fetch gives, in order, as libcurl hands a native
// host an answer: each header line as its own "name: value" line, so a field sent on several
// lines reaches the module on several lines (the JS runner's fetch() joins them). An answer's
// `request` names headers its request must carry (a string) or must not (null).
class VectorOrigin final : public qv::host::Fetcher {
 public:
  struct Answer {
    int64_t status = 200;
    std::string headers;
    std::string body;
    std::vector<std::pair<std::string, std::optional<std::string>>> request;
  };
  std::vector<Answer> answers;
  size_t taken = 0;
  std::vector<std::string> problems;

  FetchReply fetch(const FetchRequest& request) override {
    if (taken == answers.size())
      return FetchReply::failure(
          QV_UNAVAILABLE, "fetch " + request.url + ": the case gives no more origin answers");
    const Answer& answer = answers[taken];
    const std::string where = "origin[" + std::to_string(taken++) + "].request.";
    for (const auto& [name, want] : answer.request) {
      std::optional<std::string> sent;
      for (const auto& [header, value] : request.headers) {
        if (header == name && !sent) sent = value;
      }
      if (sent != want)
        problems.push_back(where + name + ": expected " + (want ? '"' + *want + '"' : "none") +
                           ", got " + (sent ? '"' + *sent + '"' : "none"));
    }
    FetchReply reply;
    reply.http_status = answer.status;
    reply.headers = answer.headers;
    reply.body = answer.body;
    return reply;
  }
};

// Reads a case's `origin` list into `origin`; "" when it is well formed, else what is wrong.
std::string read_origin(simdjson::dom::array list, VectorOrigin& origin) {
  size_t index = 0;
  for (element item : list) {
    const std::string where = "origin[" + std::to_string(index++) + "]";
    simdjson::dom::object object;
    if (item.get_object().get(object)) return where + ": expected an object";
    if (auto field = unknown_field(object, {"status", "headers", "body", "request"});
        !field.empty())
      return where + ": unknown field '" + field + "'";
    VectorOrigin::Answer answer;
    if (element status; !object["status"].get(status)) {
      if (!is_number(status)) return where + ".status: expected a number";
      answer.status = static_cast<int64_t>(number_of(status));
    }
    if (simdjson::dom::array lines; !object["headers"].get_array().get(lines)) {
      for (element line : lines) {
        simdjson::dom::array pair;
        std::string_view name, value;
        if (line.get_array().get(pair) || pair.size() != 2 || pair.at(0).get_string().get(name) ||
            pair.at(1).get_string().get(value))
          return where + ".headers: expected [name, value] pairs of strings";
        answer.headers += std::string(name) + ": " + std::string(value) + "\n";
      }
    }
    answer.body = string_field(object, "body");
    if (simdjson::dom::object request; !object["request"].get_object().get(request)) {
      for (auto field : request) {
        std::string_view value;
        if (field.value.is_null())
          answer.request.emplace_back(std::string(field.key), std::nullopt);
        else if (!field.value.get_string().get(value))
          answer.request.emplace_back(std::string(field.key), std::string(value));
        else
          return where + ".request." + std::string(field.key) + ": expected a string or null";
      }
    }
    origin.answers.push_back(std::move(answer));
  }
  return "";
}

// Runs one case; every failure is reported through Catch with the case named by INFO.
void run_case(simdjson::dom::object test_case) {
  if (auto field = unknown_field(test_case, {"name", "nowMs", "kv", "setup", "method", "input",
                                             "inputText", "expect", "expectKv", "origin"});
      !field.empty()) {
    FAIL("case: unknown field '" << field << "'");
  }
  double now_ms = qv::test::kDefaultNowMs;
  if (element now; !test_case["nowMs"].get(now)) {
    REQUIRE(is_number(now));
    now_ms = number_of(now);
  }
  qv::test::ManualClock clock;
  *clock.now = now_ms;
  auto kv = std::make_shared<MemoryKv>(clock.function());
  if (simdjson::dom::object stored; !test_case["kv"].get_object().get(stored)) {
    for (auto field : stored) {
      std::string_view value;
      if (field.value.get_string().get(value)) FAIL("kv." << field.key << ": expected a string");
      REQUIRE(kv->set(field.key, value, 0).ok());
    }
  }
  // Random bytes count up from 1 (1, 2, ..., 255, 1, ...), as the JS runner's do: a value
  // the module draws (a journal's epoch) is the same in every runner.
  qv::host::InstanceOptions options;
  options.environment = qv::test::fixed_environment(clock);
  options.environment.random_bytes = [next = std::make_shared<uint8_t>(0)](uint8_t* buf,
                                                                           uint32_t len) {
    for (uint32_t i = 0; i < len; ++i) buf[i] = *next = static_cast<uint8_t>(*next % 255 + 1);
  };
  options.kv = kv;
  auto origin = std::make_shared<VectorOrigin>();
  if (simdjson::dom::array answers; !test_case["origin"].get_array().get(answers)) {
    if (auto problem = read_origin(answers, *origin); !problem.empty()) FAIL(problem);
  }
  options.fetcher = origin;
  auto created = qv::host::Instance::create(std::move(options));
  REQUIRE(created.ok());
  qv::host::Instance instance = std::move(created.value());

  if (simdjson::dom::array setup; !test_case["setup"].get_array().get(setup)) {
    size_t index = 0;
    for (element step : setup) {
      INFO("setup[" << index++ << "]");
      simdjson::dom::object call;
      REQUIRE_FALSE(step.get_object().get(call));
      if (auto field = unknown_field(call, {"method", "input"}); !field.empty()) {
        FAIL("setup: unknown field '" << field << "'");
      }
      element input;
      REQUIRE_FALSE(call["input"].get(input));
      const Answer answer = instance.run(string_field(call, "method"), json_text(input));
      INFO("answer: " << answer.output);
      REQUIRE(qv::status_name(answer.status) == std::string("ok"));
    }
  }

  const std::string method = string_field(test_case, "method");
  REQUIRE_FALSE(method.empty());
  std::string input;
  element input_json;
  std::string_view input_text;
  const bool has_input = !test_case["input"].get(input_json);
  const bool has_text = !test_case["inputText"].get_string().get(input_text);
  if (has_input == has_text) FAIL("case: exactly one of input and inputText is required");
  input = has_input ? json_text(input_json) : std::string(input_text);

  const Answer answer = instance.run(method, input);
  INFO("answer: " << answer.output);

  simdjson::dom::object expect;
  if (test_case["expect"].get_object().get(expect)) FAIL("case: expect is required");
  if (auto field = unknown_field(expect, {"status", "output", "outputIncludes", "messageContains"});
      !field.empty()) {
    FAIL("expect: unknown field '" << field << "'");
  }
  const std::string status = string_field(expect, "status");
  if (status.empty()) FAIL("expect.status is required");
  CHECK(qv::status_name(answer.status) == status);

  simdjson::dom::parser parser;
  element actual;
  const bool parsed = !parser.parse(answer.output).get(actual);
  if (element output; !expect["output"].get(output)) {
    REQUIRE(parsed);
    CHECK(difference(actual, output, /*subset=*/false, "") == "");
  }
  if (element includes; !expect["outputIncludes"].get(includes)) {
    REQUIRE(parsed);
    CHECK(difference(actual, includes, /*subset=*/true, "") == "");
  }
  if (std::string_view contains; !expect["messageContains"].get_string().get(contains)) {
    CHECK_THAT(answer.message(), Catch::Matchers::Contains(std::string(contains)));
  }

  for (const auto& problem : origin->problems) CHECK(problem == "");
  CHECK(origin->taken == origin->answers.size());  // every origin answer was fetched

  if (simdjson::dom::object expect_kv; !test_case["expectKv"].get_object().get(expect_kv)) {
    for (auto field : expect_kv) {
      INFO("expectKv." << field.key);
      const auto stored = kv->get(field.key);
      if (field.value.is_null()) {
        CHECK(qv::status_name(stored.status) == std::string("not_found"));
      } else {
        std::string_view want;
        REQUIRE_FALSE(field.value.get_string().get(want));
        CHECK(qv::status_name(stored.status) == std::string("ok"));
        CHECK(stored.value == want);
      }
    }
  }
}

}  // namespace

TEST_CASE("every test vector passes through the native shim", "[vectors]") {
  const auto files = vector_files();
  const std::string root = qv::test::source_dir();
  INFO("looked in " << root << "/modules/*/vectors/*.json");
  REQUIRE(!files.empty());

  size_t cases = 0;
  for (const auto& file : files) {
    const std::string name = fs::relative(file, root).string();
    simdjson::padded_string text;
    simdjson::dom::parser parser;  // one per file: the cases stay valid while they run
    element root;
    INFO("file " << name);
    REQUIRE_FALSE(simdjson::padded_string::load(file.string()).get(text));
    if (const auto error = parser.parse(text).get(root)) {
      FAIL("not JSON: " << simdjson::error_message(error));
    }
    simdjson::dom::object top;
    REQUIRE_FALSE(root.get_object().get(top));
    if (auto field = unknown_field(top, {"description", "cases"}); !field.empty()) {
      FAIL("unknown top-level field '" << field << "'");
    }
    simdjson::dom::array list;
    REQUIRE_FALSE(top["cases"].get_array().get(list));
    CHECK(list.size() > 0);
    for (element item : list) {
      simdjson::dom::object test_case;
      REQUIRE_FALSE(item.get_object().get(test_case));
      const std::string case_name = string_field(test_case, "name");
      DYNAMIC_SECTION(name << ": " << case_name) {
        run_case(test_case);
      }
      ++cases;
    }
  }
  CHECK(cases > 0);
}
