#include "scenario.h"

#include <strings.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <thread>

#include "qv/json_text.h"
#include "simdjson.h"
#include "units.h"

namespace qv::loadtest {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

const char* executor_name(ExecutorKind kind) {
  switch (kind) {
    case ExecutorKind::kConstantVus:
      return "constant-vus";
    case ExecutorKind::kRampingVus:
      return "ramping-vus";
    case ExecutorKind::kConstantArrivalRate:
      return "constant-arrival-rate";
    case ExecutorKind::kRampingArrivalRate:
      return "ramping-arrival-rate";
  }
  return "";
}

Micros Executor::total_duration() const {
  if (kind == ExecutorKind::kConstantVus || kind == ExecutorKind::kConstantArrivalRate) {
    return duration;
  }
  Micros total = 0;
  for (const Stage& stage : stages) total += stage.duration;
  return total;
}

int64_t Executor::peak_vus() const {
  switch (kind) {
    case ExecutorKind::kConstantVus:
      return vus;
    case ExecutorKind::kRampingVus: {
      double peak = static_cast<double>(start_vus);
      for (const Stage& stage : stages) peak = std::max(peak, stage.target);
      return static_cast<int64_t>(peak);
    }
    default:
      return max_vus;
  }
}

int64_t Executor::vus_wanted(Micros elapsed) const {
  if (kind == ExecutorKind::kConstantVus) return vus;
  double from = static_cast<double>(start_vus);
  Micros at = 0;
  for (const Stage& stage : stages) {
    if (elapsed < at + stage.duration) {
      const double share = static_cast<double>(elapsed - at) / static_cast<double>(stage.duration);
      const double line = from + (stage.target - from) * share;
      return static_cast<int64_t>(stage.target < from ? std::ceil(line - 1e-9)
                                                      : std::floor(line + 1e-9));
    }
    from = stage.target;
    at += stage.duration;
  }
  return static_cast<int64_t>(from);
}

bool RequestSpec::keeps_body() const {
  return std::any_of(checks.begin(), checks.end(), [](const Check& c) { return c.needs_body(); });
}

std::vector<std::string> Scenario::request_names() const {
  std::vector<std::string> names;
  for (const RequestSpec& request : requests) {
    if (std::find(names.begin(), names.end(), request.name) == names.end()) {
      names.push_back(request.name);
    }
  }
  return names;
}

namespace {

const char* type_name(element_type type) {
  switch (type) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::STRING:
      return "a string";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a number";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "a value";
}

Error expected(const std::string& field, const char* what, element value) {
  return Error{field + ": expected " + what + ", got " + type_name(value.type())};
}

Status only_keys(object fields, const std::string& path,
                 std::span<const std::string_view> allowed) {
  for (auto [key, value] : fields) {
    (void)value;
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string known;
      for (std::string_view name : allowed)
        known += (known.empty() ? "" : ", ") + std::string(name);
      return Error{(path.empty() ? "" : path + ": ") + "unknown key '" + std::string(key) +
                   "' (known: " + known + ")"};
    }
  }
  return Ok{};
}

Status only_keys(object fields, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
  return only_keys(fields, path, std::span(allowed.begin(), allowed.size()));
}

// The executor's fields: at the top level of a scenario, and what an intensity may lay over
// them (read_executor).
constexpr std::string_view kExecutorKeys[] = {
    "executor",     "vus",          "duration",        "startVUs",        "stages",
    "rate",         "startRate",    "timeUnit",        "preAllocatedVUs", "maxVUs",
    "whenNoVuFree", "gracefulStop", "gracefulRampDown"};

// A key given twice anywhere in the file is an error, as an unknown one is: a reader
// keeps one of the two, so the other would go silently unused.
Status no_repeated_keys(element value, const std::string& path) {
  array items;
  if (!value.get_array().get(items)) {
    size_t index = 0;
    for (element item : items) {
      if (auto inner = no_repeated_keys(item, path + "[" + std::to_string(index++) + "]");
          !inner.ok())
        return inner;
    }
    return Ok{};
  }
  object fields;
  if (value.get_object().get(fields)) return Ok{};
  std::vector<std::string_view> seen;
  for (auto [key, item] : fields) {
    const std::string field = path.empty() ? std::string(key) : path + "." + std::string(key);
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      return Error{field + ": given twice"};
    seen.push_back(key);
    if (key == "body") continue;  // a request's body is sent as written, repeats and all
    if (auto inner = no_repeated_keys(item, field); !inner.ok()) return inner;
  }
  return Ok{};
}

Result<std::string> read_string(element value, const std::string& field) {
  std::string_view text;
  if (value.get_string().get(text)) return expected(field, "a string", value);
  return std::string(text);
}

// The boolean under `key` of `fields` into out; out stays as it is when the key is absent.
Status read_optional_bool(object fields, std::string_view key, const std::string& field,
                          bool& out) {
  element value;
  if (fields[key].get(value)) return Ok{};
  if (value.get_bool().get(out)) return expected(field, "true or false", value);
  return Ok{};
}

Result<double> read_number(element value, const std::string& field) {
  double number;
  if (value.get_double().get(number)) return expected(field, "a number", value);
  if (!std::isfinite(number)) return Error{field + ": not a finite number"};
  return number;
}

Result<int64_t> read_count(element value, const std::string& field, int64_t minimum) {
  auto number = read_number(value, field);
  if (!number.ok()) return number.error();
  const double n = number.value();
  if (n != std::floor(n) || n < static_cast<double>(minimum) || n > 1e7) {
    return Error{field + ": expected a whole number from " + std::to_string(minimum) +
                 " to 10000000, got " + format_number(n, 6)};
  }
  return static_cast<int64_t>(n);
}

Result<Micros> read_duration(element value, const std::string& field) {
  if (value.type() == element_type::STRING) {
    auto text = read_string(value, field);
    auto parsed = parse_duration(text.value());
    if (!parsed.ok()) return in_field(field, parsed.error());
    return parsed.value();
  }
  auto number = read_number(value, field);
  if (!number.ok()) return Error{field + ": expected a duration such as \"30s\" or \"5m\""};
  if (number.value() < 0) return Error{field + ": a duration cannot be negative"};
  if (number.value() > kMaxDurationSeconds) return Error{field + ": at most 1000000000 seconds"};
  return static_cast<Micros>(std::llround(number.value() * kMicrosPerSecond));
}

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

Status check_token(const std::string& text, const std::string& field, const char* what) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), is_token_char)) {
    return Error{field + ": '" + text + "' is not a valid " + what};
  }
  return Ok{};
}

Result<std::vector<Stage>> read_stages(element value, const std::string& field, bool vus) {
  array items;
  if (value.get_array().get(items)) return expected(field, "an array of stages", value);
  std::vector<Stage> stages;
  size_t index = 0;
  for (element item : items) {
    const std::string path = field + "[" + std::to_string(index++) + "]";
    object fields;
    if (item.get_object().get(fields)) return expected(path, "an object {duration, target}", item);
    if (auto keys = only_keys(fields, path, {"duration", "target"}); !keys.ok())
      return keys.error();
    element duration, target;
    if (fields["duration"].get(duration)) return Error{path + ".duration: missing"};
    if (fields["target"].get(target)) return Error{path + ".target: missing"};
    Stage stage;
    auto parsed_duration = read_duration(duration, path + ".duration");
    if (!parsed_duration.get(stage.duration)) return parsed_duration.error();
    if (vus) {
      auto count = read_count(target, path + ".target", 0);
      if (!count.ok()) return count.error();
      stage.target = static_cast<double>(count.value());
    } else {
      auto rate = read_number(target, path + ".target");
      if (!rate.get(stage.target)) return rate.error();
      if (stage.target < 0) return Error{path + ".target: a rate cannot be negative"};
    }
    stages.push_back(stage);
  }
  if (stages.empty()) return Error{field + ": at least one stage is needed"};
  return stages;
}

// The executor's fields, read from the top level of the scenario (as k6's scenario object),
// with an intensity's fields laid over them. vus_field: the field that sets the most VUs the
// executor can have ("vus", "intensities.high.maxVUs", "stages[1].target"), for errors.
Status read_executor(object top, std::optional<object> intensity, const std::string& intensity_path,
                     Executor& executor, std::string& vus_field) {
  auto field = [&](std::string_view key, element& out, std::string& path) {
    if (intensity && !(*intensity)[key].get(out)) {
      path = intensity_path + "." + std::string(key);
      return true;
    }
    path = std::string(key);
    return !top[key].get(out);
  };
  element value;
  std::string path;
  if (!field("executor", value, path))
    return Error{
        "executor: missing (constant-vus, ramping-vus, constant-arrival-rate, "
        "ramping-arrival-rate)"};
  auto name = read_string(value, path);
  if (!name.ok()) return name.error();
  const std::string& kind = name.value();
  if (kind == "constant-vus") {
    executor.kind = ExecutorKind::kConstantVus;
  } else if (kind == "ramping-vus") {
    executor.kind = ExecutorKind::kRampingVus;
  } else if (kind == "constant-arrival-rate") {
    executor.kind = ExecutorKind::kConstantArrivalRate;
  } else if (kind == "ramping-arrival-rate") {
    executor.kind = ExecutorKind::kRampingArrivalRate;
  } else {
    return Error{path + ": unknown executor '" + kind +
                 "' (known: constant-vus, ramping-vus, constant-arrival-rate, "
                 "ramping-arrival-rate)"};
  }

  // Which fields each executor takes; any other executor field is an error, so a typo or a
  // field from another executor never goes silently unused.
  struct Uses {
    const char* key;
    bool constant_vus, ramping_vus, constant_rate, ramping_rate;
  };
  static const Uses kUses[] = {
      {"vus", true, false, false, false},
      {"duration", true, false, true, false},
      {"startVUs", false, true, false, false},
      {"stages", false, true, false, true},
      {"rate", false, false, true, false},
      {"startRate", false, false, false, true},
      {"timeUnit", false, false, true, true},
      {"preAllocatedVUs", false, false, true, true},
      {"maxVUs", false, false, true, true},
      {"whenNoVuFree", false, false, true, true},
      {"gracefulRampDown", false, true, false, false},
  };
  const int column = static_cast<int>(executor.kind);
  for (const Uses& uses : kUses) {
    const bool used[] = {uses.constant_vus, uses.ramping_vus, uses.constant_rate,
                         uses.ramping_rate};
    if (!used[column] && field(uses.key, value, path)) {
      return Error{path + ": not used by the " + kind + " executor"};
    }
  }
  const bool arrival = executor.arrival_rate();
  const bool constant = executor.kind == ExecutorKind::kConstantVus ||
                        executor.kind == ExecutorKind::kConstantArrivalRate;

  if (executor.kind == ExecutorKind::kConstantVus) {
    if (!field("vus", value, path))
      return Error{"vus: missing (constant-vus needs vus and duration)"};
    auto vus = read_count(value, path, 1);
    if (!vus.get(executor.vus)) return vus.error();
    vus_field = path;
  }
  if (constant) {
    if (!field("duration", value, path))
      return Error{"duration: missing (" + kind + " needs a duration)"};
    auto duration = read_duration(value, path);
    if (!duration.get(executor.duration)) return duration.error();
    if (executor.duration <= 0) return Error{path + ": must be longer than 0"};
  } else {
    if (!field("stages", value, path)) return Error{"stages: missing (" + kind + " needs stages)"};
    auto stages = read_stages(value, path, executor.kind == ExecutorKind::kRampingVus);
    if (!stages.get(executor.stages)) return stages.error();
    if (executor.total_duration() <= 0) return Error{path + ": the stages last 0s"};
  }
  // Where the stages were given ("stages", "intensities.low.stages"), for errors on them.
  const std::string stages_path = constant ? "" : path;
  if (executor.kind == ExecutorKind::kRampingVus) {
    // The most VUs: startVUs, unless a stage's target is higher (the first of the highest).
    vus_field = "startVUs (by default 1)";
    if (field("startVUs", value, path)) {
      auto start = read_count(value, path, 0);
      if (!start.get(executor.start_vus)) return start.error();
      vus_field = path;
    }
    const auto peak =
        std::max_element(executor.stages.begin(), executor.stages.end(),
                         [](const Stage& a, const Stage& b) { return a.target < b.target; });
    if (peak != executor.stages.end() && peak->target > static_cast<double>(executor.start_vus))
      vus_field = stages_path + "[" + std::to_string(peak - executor.stages.begin()) + "].target";
    if (executor.peak_vus() < 1)
      return Error{stages_path + ": the executor never has a VU (every target is 0)"};
  }
  if (arrival) {
    Micros time_unit = kMicrosPerSecond;
    if (field("timeUnit", value, path)) {
      auto unit = read_duration(value, path);
      if (!unit.get(time_unit)) return unit.error();
      if (time_unit <= 0) return Error{path + ": must be longer than 0"};
    }
    const double per_second =
        static_cast<double>(kMicrosPerSecond) / static_cast<double>(time_unit);
    // Where the rate was given, an intensity's when it was, for the limit below.
    std::string rate_path = "rate", start_rate_path = "startRate";
    if (executor.kind == ExecutorKind::kConstantArrivalRate) {
      if (!field("rate", value, path))
        return Error{"rate: missing (constant-arrival-rate needs rate)"};
      auto rate = read_number(value, path);
      if (!rate.get(executor.rate)) return rate.error();
      if (executor.rate <= 0) return Error{path + ": must be more than 0"};
      executor.rate *= per_second;
      rate_path = path;
    } else {
      if (field("startRate", value, path)) {
        auto rate = read_number(value, path);
        if (!rate.get(executor.start_rate)) return rate.error();
        if (executor.start_rate < 0) return Error{path + ": a rate cannot be negative"};
        start_rate_path = path;
      }
      executor.start_rate *= per_second;
      for (Stage& stage : executor.stages) stage.target *= per_second;
    }
    // As quick mode's --rate: far past what one machine sends, where the counts of what
    // was sent and dropped stop meaning anything.
    const auto too_fast = [](double per_second_rate) { return per_second_rate > kMaxArrivalRate; };
    const std::string limit = ": at most 100000000 iterations a second (the rate over timeUnit)";
    if (too_fast(executor.rate)) return Error{rate_path + limit};
    if (too_fast(executor.start_rate)) return Error{start_rate_path + limit};
    for (size_t i = 0; i < executor.stages.size(); ++i) {
      if (too_fast(executor.stages[i].target))
        return Error{stages_path + "[" + std::to_string(i) + "].target" + limit};
    }
    if (!field("preAllocatedVUs", value, path)) {
      return Error{"preAllocatedVUs: missing (" + kind + " needs preAllocatedVUs)"};
    }
    auto pre = read_count(value, path, 1);
    if (!pre.get(executor.pre_allocated_vus)) return pre.error();
    executor.max_vus = executor.pre_allocated_vus;
    vus_field = path;  // maxVUs is preAllocatedVUs unless given
    if (field("maxVUs", value, path)) {
      auto max = read_count(value, path, 1);
      if (!max.get(executor.max_vus)) return max.error();
      vus_field = path;
      if (executor.max_vus < executor.pre_allocated_vus) {
        return Error{path + ": " + std::to_string(executor.max_vus) +
                     " is less than preAllocatedVUs (" +
                     std::to_string(executor.pre_allocated_vus) + ")"};
      }
    }
    if (field("whenNoVuFree", value, path)) {
      auto mode = read_string(value, path);
      if (!mode.ok()) return mode.error();
      if (mode.value() == "drop") {
        executor.drop_when_no_vu_free = true;
      } else if (mode.value() != "queue") {
        return Error{path + ": expected \"queue\" or \"drop\", got '" + mode.value() + "'"};
      }
    }
  }
  if (field("gracefulStop", value, path)) {
    auto stop = read_duration(value, path);
    if (!stop.get(executor.graceful_stop)) return stop.error();
  }
  if (executor.kind == ExecutorKind::kRampingVus && field("gracefulRampDown", value, path)) {
    auto ramp_down = read_duration(value, path);
    if (!ramp_down.get(executor.graceful_ramp_down)) return ramp_down.error();
  }
  return Ok{};
}

Result<Variable> read_variable(const std::string& name, element value, const std::string& path) {
  Variable variable;
  variable.name = name;
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
      })) {
    return Error{path + ": a variable name may hold only letters, digits and _"};
  }
  for (const char* builtin : kBuiltinNames) {
    if (name == builtin) return Error{path + ": '" + name + "' is a built-in variable"};
  }
  auto scalar_text = [](element item, std::string& out) {
    std::string_view text;
    if (!item.get_string().get(text)) return out = std::string(text), true;
    if (item.is_number()) return out = simdjson::minify(item), true;
    return false;
  };
  std::string text;
  if (scalar_text(value, text)) {
    variable.kind = Variable::Kind::kConstant;
    variable.values.push_back(text);
    return variable;
  }
  array list;
  object spec;
  if (value.get_array().get(list) == simdjson::SUCCESS) {
    variable.kind = Variable::Kind::kOneOf;
    size_t index = 0;
    for (element item : list) {
      if (!scalar_text(item, text)) {
        return expected(path + "[" + std::to_string(index) + "]", "a string or number", item);
      }
      variable.values.push_back(text);
      ++index;
    }
    if (variable.values.empty()) return Error{path + ": an empty list has nothing to pick"};
    return variable;
  }
  if (value.get_object().get(spec)) {
    return expected(path, "a string, a list to pick from, or {oneOf | range | sequence}", value);
  }
  if (auto keys = only_keys(spec, path, {"oneOf", "range", "sequence", "prefix"}); !keys.ok()) {
    return keys.error();
  }
  element item;
  if (!spec["prefix"].get(item)) {
    auto prefix = read_string(item, path + ".prefix");
    if (!prefix.get(variable.prefix)) return prefix.error();
  }
  const int kinds = !spec["oneOf"].error() + !spec["range"].error() + !spec["sequence"].error();
  if (kinds != 1) return Error{path + ": give exactly one of oneOf, range, sequence"};
  if (!spec["oneOf"].get(item)) {
    auto inner = read_variable(name, item, path + ".oneOf");
    if (!inner.ok()) return inner.error();
    if (inner.value().kind != Variable::Kind::kOneOf)
      return expected(path + ".oneOf", "a list", item);
    variable = inner.value();
    if (!variable.prefix.empty() || spec["prefix"].error() == simdjson::SUCCESS) {
      return Error{path + ".prefix: applies to range and sequence only"};
    }
    return variable;
  }
  if (!spec["range"].get(item)) {
    array bounds;
    std::vector<int64_t> numbers;
    if (item.get_array().get(bounds)) return expected(path + ".range", "[min, max]", item);
    for (element bound : bounds) {
      int64_t number;
      if (bound.get_int64().get(number))
        return expected(path + ".range", "[min, max] of whole numbers", bound);
      numbers.push_back(number);
    }
    if (numbers.size() != 2 || numbers[0] > numbers[1]) {
      return Error{path + ".range: expected [min, max] with min <= max"};
    }
    variable.kind = Variable::Kind::kRange;
    variable.min = numbers[0];
    variable.max = numbers[1];
    return variable;
  }
  bool sequence = false;
  if (spec["sequence"].get(item) || item.get_bool().get(sequence) || !sequence)
    return Error{path + ".sequence: expected true"};
  variable.kind = Variable::Kind::kSequence;
  return variable;
}

Result<Template> compile_field(std::string_view text, const std::vector<Variable>& variables,
                               const std::string& field) {
  auto compiled = Template::compile(text, variables);
  if (!compiled.ok()) return in_field(field, compiled.error());
  return compiled;
}

// Header names compare without case (tokens: ASCII), as the engine compares them.
bool same_header(const std::string& a, const std::string& b) {
  return strcasecmp(a.c_str(), b.c_str()) == 0;
}

// What RFC 9110 (5.5) forbids in a field value, named ("a line break"), or "" for none: a
// field value is visible characters, spaces, tabs and bytes above ASCII. A line break would
// end the line and start another header (or another request) on the wire, and a NUL or
// another control character makes servers refuse the request (nginx answers 400).
std::string header_value_problem(std::string_view value) {
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\r' || c == '\n') return "a line break";
    if (c == '\0') return "a NUL byte";
    if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", byte);
      return std::string("a control character (") + escape + ")";
    }
  }
  return {};
}

// A request header of a scenario or of -H: a token for a name, a field value for a value,
// and none of the framing headers the load tester writes from the body.
Status check_header(const std::string& name, std::string_view value, const std::string& field) {
  if (auto valid = check_token(name, field, "header name"); !valid.ok()) return valid.error();
  if (const std::string problem = header_value_problem(value); !problem.empty())
    return Error{field + ": a header value may not hold " + problem};
  if (same_header(name, "content-length") || same_header(name, "transfer-encoding"))
    return Error{field + ": set by the load tester from the body"};
  return Ok{};
}

// A header value's variables may not draw what the value itself may not hold: rendered
// into the header, it would be sent as it is.
Status check_header_variables(const Template& value, const std::vector<Variable>& variables,
                              const std::string& field) {
  for (size_t index : value.variables_used()) {
    const Variable& variable = variables[index];
    std::string problem = header_value_problem(variable.prefix);
    for (size_t each = 0; problem.empty() && each < variable.values.size(); ++each)
      problem = header_value_problem(variable.values[each]);
    if (!problem.empty()) {
      return Error{field + ": variable '" + variable.name + "' can hold " + problem +
                   ", which a header value may not"};
    }
  }
  return Ok{};
}

Result<RequestSpec> read_request(element value, const std::string& path, const Scenario& scenario) {
  object fields;
  if (value.get_object().get(fields))
    return expected(path, "an object {name, method, url, ...}", value);
  if (auto keys =
          only_keys(fields, path, {"name", "method", "url", "headers", "body", "weight", "checks"});
      !keys.ok()) {
    return keys.error();
  }
  RequestSpec request;
  element item;
  if (!fields["method"].get(item)) {
    auto method = read_string(item, path + ".method");
    if (!method.get(request.method)) return method.error();
    if (auto valid = check_token(request.method, path + ".method", "method"); !valid.ok()) {
      return valid.error();
    }
  }
  if (fields["url"].get(item)) return Error{path + ".url: missing"};
  auto url_text = read_string(item, path + ".url");
  if (!url_text.ok()) return url_text.error();
  auto url = resolve_url(scenario.base_url, url_text.value());
  if (!url.ok()) return in_field(path + ".url", url.error());
  request.origin = url.value().origin;
  auto target = compile_field(url.value().target, scenario.variables, path + ".url");
  if (!target.get(request.target)) return target.error();

  // The default name is the method and URL, each {{variable}} shown as :variable, so that
  // every request from one entry shares a name whatever its variables drew.
  request.name = request.method + " ";
  for (size_t at = 0; at < url_text.value().size();) {
    const std::string& url = url_text.value();
    const size_t open = url.find("{{", at),
                 close = url.find("}}", open == std::string::npos ? at : open);
    if (open == std::string::npos || close == std::string::npos) {
      request.name += url.substr(at);
      break;
    }
    std::string variable = url.substr(open + 2, close - open - 2);
    variable.erase(0, variable.find_first_not_of(' '));
    variable.erase(variable.find_last_not_of(' ') + 1);
    request.name += url.substr(at, open - at) + ":" + variable;
    at = close + 2;
  }
  if (!fields["name"].get(item)) {
    auto name = read_string(item, path + ".name");
    if (!name.get(request.name)) return name.error();
  }
  if (request.name.empty() || request.name.size() > 200 ||
      request.name.find_first_of("{}\r\n\t") != std::string::npos) {
    return Error{path + ".name: '" + request.name +
                 "' must be 1 to 200 characters without braces, tabs or line breaks"};
  }
  if (!fields["headers"].get(item)) {
    object headers;
    if (item.get_object().get(headers)) return expected(path + ".headers", "an object", item);
    for (auto [key, header_value] : headers) {
      const std::string header_path = path + ".headers." + std::string(key);
      auto text = read_string(header_value, header_path);
      if (!text.ok()) return text.error();
      if (auto valid = check_header(std::string(key), text.value(), header_path); !valid.ok())
        return valid.error();
      auto compiled = compile_field(text.value(), scenario.variables, header_path);
      if (!compiled.ok()) return compiled.error();
      if (auto valid = check_header_variables(compiled.value(), scenario.variables, header_path);
          !valid.ok())
        return valid.error();
      request.headers.emplace_back(std::string(key), compiled.value());
    }
  }
  if (!fields["body"].get(item)) {
    std::string text;
    std::string_view string_body;
    if (!item.get_string().get(string_body)) {
      text = std::string(string_body);
    } else if (item.type() == element_type::OBJECT || item.type() == element_type::ARRAY) {
      text = simdjson::minify(item);  // a JSON body written inline, sent minified
      request.json_body = true;
    } else {
      return expected(path + ".body", "a string, an object or an array", item);
    }
    auto compiled = compile_field(text, scenario.variables, path + ".body");
    if (!compiled.ok()) return compiled.error();
    request.body = compiled.value();
  }
  if (!fields["weight"].get(item)) {
    auto weight = read_number(item, path + ".weight");
    if (!weight.get(request.weight)) return weight.error();
    if (!(request.weight > 0)) return Error{path + ".weight: must be more than 0"};
  }
  if (!fields["checks"].get(item)) {
    object checks;
    if (item.get_object().get(checks)) {
      return expected(path + ".checks", "an object {\"check name\": \"status == 200\"}", item);
    }
    for (auto [key, check_value] : checks) {
      const std::string check_path = path + ".checks." + std::string(key);
      auto expression = read_string(check_value, check_path);
      if (!expression.ok()) return expression.error();
      auto check = Check::parse(std::string(key), expression.value());
      if (!check.ok()) return in_field(check_path, check.error());
      request.checks.push_back(check.value());
    }
  }
  return request;
}

Status read_thresholds(element value, std::vector<ThresholdSource>& out) {
  object metrics;
  if (value.get_object().get(metrics)) {
    return expected("thresholds", "an object {\"metric\": [\"p(95)<200\", ...]}", value);
  }
  for (auto [key, list_value] : metrics) {
    const std::string path = "thresholds." + std::string(key);
    array list;
    if (list_value.get_array().get(list))
      return expected(path, "an array of expressions", list_value);
    size_t index = 0;
    for (element item : list) {
      const std::string item_path = path + "[" + std::to_string(index++) + "]";
      ThresholdSource source;
      source.metric = std::string(key);
      std::string_view text;
      object detailed;
      if (!item.get_string().get(text)) {
        source.expression = std::string(text);
      } else if (!item.get_object().get(detailed)) {
        if (auto keys =
                only_keys(detailed, item_path, {"threshold", "abortOnFail", "delayAbortEval"});
            !keys.ok()) {
          return keys.error();
        }
        element field;
        if (detailed["threshold"].get(field)) return Error{item_path + ".threshold: missing"};
        auto expression = read_string(field, item_path + ".threshold");
        if (!expression.get(source.expression)) return expression.error();
        if (auto abort = read_optional_bool(detailed, "abortOnFail", item_path + ".abortOnFail",
                                            source.abort_on_fail);
            !abort.ok()) {
          return abort.error();
        }
        if (!detailed["delayAbortEval"].get(field)) {
          auto delay = read_duration(field, item_path + ".delayAbortEval");
          if (!delay.get(source.delay_abort_eval)) return delay.error();
        }
      } else {
        return expected(item_path, "a string or {threshold, abortOnFail, delayAbortEval}", item);
      }
      out.push_back(source);
    }
  }
  return Ok{};
}

void scale_duration(Executor& executor, Micros duration) {
  if (executor.kind == ExecutorKind::kConstantVus ||
      executor.kind == ExecutorKind::kConstantArrivalRate) {
    executor.duration = duration;
    return;
  }
  const double scale =
      static_cast<double>(duration) / static_cast<double>(executor.total_duration());
  Micros assigned = 0;
  for (size_t i = 0; i < executor.stages.size(); ++i) {
    Stage& stage = executor.stages[i];
    stage.duration =
        i + 1 == executor.stages.size()
            ? duration - assigned
            : static_cast<Micros>(std::llround(static_cast<double>(stage.duration) * scale));
    assigned += stage.duration;
  }
}

// sources: the file's thresholds, then from first_given on those of --threshold.
// threads_field: where the threads were given ("threads", "--threads", "-t"), or empty for
// the default; vus_field: the field that set the most VUs the executor can have ("vus",
// "intensities.high.maxVUs", "-c").
Status finish_scenario(Scenario& scenario, const std::vector<ThresholdSource>& sources,
                       size_t first_given, const std::string& threads_field,
                       const std::string& vus_field) {
  if (scenario.requests.empty()) return Error{"requests: at least one request is needed"};
  const std::vector<std::string> names = scenario.request_names();
  // The file's thresholds are listed by metric; each error names its metric and position.
  std::vector<std::pair<std::string, size_t>> positions;
  for (size_t i = 0; i < sources.size(); ++i) {
    const ThresholdSource& source = sources[i];
    auto position = std::find_if(positions.begin(), positions.end(),
                                 [&](const auto& p) { return p.first == source.metric; });
    if (position == positions.end())
      position = positions.insert(positions.end(), {source.metric, 0});
    const size_t index = position->second++;
    auto threshold = parse_threshold(source, names);
    if (!threshold.ok()) {
      return in_field(i >= first_given
                          ? "--threshold '" + source.metric + ":" + source.expression + "'"
                          : "thresholds." + source.metric + "[" + std::to_string(index) + "]",
                      threshold.error());
    }
    // One threshold stated twice is one threshold (and one key in the summary).
    auto held = std::find_if(scenario.thresholds.begin(), scenario.thresholds.end(),
                             [&](const Threshold& earlier) {
                               return earlier.source.metric == source.metric &&
                                      earlier.source.expression == source.expression;
                             });
    if (held != scenario.thresholds.end()) {
      held->source.abort_on_fail = held->source.abort_on_fail || source.abort_on_fail;
      continue;
    }
    // Beside the thresholds of the same metric (a --threshold after the file's), so the
    // summary, the report and the log list each metric's thresholds together, once.
    auto after = std::find_if(
        scenario.thresholds.rbegin(), scenario.thresholds.rend(),
        [&](const Threshold& earlier) { return earlier.source.metric == source.metric; });
    scenario.thresholds.insert(
        after == scenario.thresholds.rend() ? scenario.thresholds.end() : after.base(),
        threshold.value());
  }
  // Each thread runs VUs of its own. Threads given beyond the VUs are refused, as wrk refuses
  // more threads than connections: lowered, the run would not be the one asked for. The
  // default, one per core, is lowered to the VUs.
  const int64_t vus = scenario.executor.peak_vus();
  if (!threads_field.empty() && scenario.threads > vus) {
    return Error{threads_field + ": " + std::to_string(scenario.threads) + " is more than the " +
                 format_count(static_cast<uint64_t>(vus), "VU", "VUs") + " (" + vus_field +
                 "): each thread runs VUs of its own, so give at most " +
                 format_count(static_cast<uint64_t>(vus), "thread", "threads")};
  }
  if (scenario.threads <= 0) {
    scenario.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  scenario.threads = static_cast<int>(std::min<int64_t>(scenario.threads, vus));
  if (scenario.threads > 256)
    return Error{(threads_field.empty() ? std::string("threads") : threads_field) +
                 ": at most 256"};
  return Ok{};
}

// A header given on the command line, -H 'Name: value' (the value may use the variables).
Result<std::pair<std::string, Template>> header_option(const std::string& header,
                                                       const std::vector<Variable>& variables) {
  const std::string field = "-H '" + header + "'";
  const size_t colon = header.find(':');
  if (colon == std::string::npos) return Error{field + ": expected 'Name: value'"};
  std::string name = header.substr(0, colon);
  std::string value = header.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.erase(0, 1);
  if (auto valid = check_header(name, value, field); !valid.ok()) return valid.error();
  auto compiled = compile_field(value, variables, field);
  if (!compiled.ok()) return compiled.error();
  if (auto valid = check_header_variables(compiled.value(), variables, field); !valid.ok())
    return valid.error();
  return std::pair{std::move(name), std::move(compiled.value())};
}

Result<Scenario> read_scenario(std::string_view json, const ScenarioOverrides& overrides) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  element root;
  if (auto error = parser.parse(padded).get(root)) {
    // Core's words for a refused text, as the modules give them: the syntax problem's line
    // and column, a number out of range by its field, invalid UTF-8 where it is. The root is
    // unnamed: the file's name before the message names the scenario.
    return Error{refused_unnamed_text_error(json, simdjson::error_message(error)).message};
  }
  object top;
  if (root.get_object().get(top)) return expected("the scenario", "a JSON object", root);
  if (auto repeated = no_repeated_keys(root, ""); !repeated.ok()) return repeated.error();
  std::vector<std::string_view> top_keys = {"name", "description", "baseUrl"};
  top_keys.insert(top_keys.end(), std::begin(kExecutorKeys), std::end(kExecutorKeys));
  top_keys.insert(top_keys.end(), {"thinkTime", "timeouts", "threads", "seed", "variables",
                                   "requests", "thresholds", "intensities", "defaultIntensity",
                                   "insecureSkipTLSVerify", "tlsCaFile", "tlsResumeSessions"});
  if (auto keys = only_keys(top, "", top_keys); !keys.ok()) {
    return keys.error();
  }
  Scenario scenario;
  element item;
  if (!top["name"].get(item)) {
    auto name = read_string(item, "name");
    if (!name.get(scenario.name)) return name.error();
  }
  if (!top["description"].get(item)) {
    auto description = read_string(item, "description");
    if (!description.get(scenario.description)) return description.error();
  }
  if (!top["baseUrl"].get(item)) {
    auto base = read_string(item, "baseUrl");
    if (!base.get(scenario.base_url)) return base.error();
  }
  if (!overrides.base_url.empty()) scenario.base_url = overrides.base_url;
  if (!scenario.base_url.empty()) {
    auto base = split_url(scenario.base_url);
    if (!base.ok())
      return in_field(overrides.base_url.empty() ? "baseUrl" : "--base-url", base.error());
  }

  // The intensity: the one asked for, else the file's default, else none.
  std::string intensity = overrides.intensity;
  if (intensity.empty() && !top["defaultIntensity"].get(item)) {
    auto text = read_string(item, "defaultIntensity");
    if (!text.get(intensity)) return text.error();
  }
  // Every intensity is read, not only the one that applies, so a typo in another one is
  // refused now rather than when a later run asks for it.
  std::optional<object> intensity_fields;
  std::string intensity_path;
  object intensities;
  const bool has_intensities = !top["intensities"].get(item);
  if (has_intensities && item.get_object().get(intensities))
    return expected("intensities", "an object {\"low\": {\"vus\": 10}, ...}", item);
  if (!intensity.empty() && !has_intensities) {
    return Error{"intensities: the scenario defines none, so intensity '" + intensity +
                 "' cannot apply"};
  }
  std::string known;
  if (has_intensities) {
    for (auto [key, value] : intensities) {
      known += (known.empty() ? "" : ", ") + std::string(key);
      object fields;
      const std::string path = "intensities." + std::string(key);
      if (value.get_object().get(fields)) return expected(path, "an object", value);
      if (auto keys = only_keys(fields, path, kExecutorKeys); !keys.ok()) {
        return keys.error();
      }
      Executor scratch;
      std::string scratch_field;
      if (auto valid = read_executor(top, fields, path, scratch, scratch_field); !valid.ok())
        return valid.error();
      if (key == intensity) {
        intensity_path = path;
        intensity_fields = fields;
      }
    }
  }
  if (!intensity.empty() && !intensity_fields) {
    return Error{std::string(overrides.intensity.empty() ? "defaultIntensity" : "--intensity") +
                 ": intensity '" + intensity +
                 "' is not defined (defined: " + (known.empty() ? "none" : known) + ")"};
  }
  std::string vus_field;
  if (auto executor =
          read_executor(top, intensity_fields, intensity_path, scenario.executor, vus_field);
      !executor.ok()) {
    return executor.error();
  }
  if (overrides.duration) {
    if (*overrides.duration <= 0) return Error{"--duration: must be longer than 0"};
    scale_duration(scenario.executor, *overrides.duration);
  }

  if (!top["thinkTime"].get(item)) {
    object range;
    if (!item.get_object().get(range)) {
      if (auto keys = only_keys(range, "thinkTime", {"min", "max"}); !keys.ok())
        return keys.error();
      element bound;
      if (range["min"].get(bound)) return Error{"thinkTime.min: missing"};
      auto min = read_duration(bound, "thinkTime.min");
      if (!min.get(scenario.think_time_min)) return min.error();
      if (range["max"].get(bound)) return Error{"thinkTime.max: missing"};
      auto max = read_duration(bound, "thinkTime.max");
      if (!max.get(scenario.think_time_max)) return max.error();
      if (scenario.think_time_max < scenario.think_time_min) {
        return Error{"thinkTime.max: less than thinkTime.min"};
      }
    } else {
      auto fixed = read_duration(item, "thinkTime");
      if (!fixed.get(scenario.think_time_min)) return fixed.error();
      scenario.think_time_max = scenario.think_time_min;
    }
  }
  if (!top["timeouts"].get(item)) {
    object timeouts;
    if (item.get_object().get(timeouts))
      return expected("timeouts", "an object {connect, request}", item);
    if (auto keys = only_keys(timeouts, "timeouts", {"connect", "request"}); !keys.ok())
      return keys.error();
    element value;
    if (!timeouts["connect"].get(value)) {
      auto connect = read_duration(value, "timeouts.connect");
      if (!connect.get(scenario.connect_timeout)) return connect.error();
      if (scenario.connect_timeout <= 0) return Error{"timeouts.connect: must be longer than 0"};
    }
    if (!timeouts["request"].get(value)) {
      auto request = read_duration(value, "timeouts.request");
      if (!request.get(scenario.request_timeout)) return request.error();
      if (scenario.request_timeout <= 0) return Error{"timeouts.request: must be longer than 0"};
    }
  }
  std::string threads_field;  // empty: the default
  if (!top["threads"].get(item)) {
    auto threads = read_count(item, "threads", 1);
    if (!threads.ok()) return threads.error();
    scenario.threads = static_cast<int>(threads.value());
    threads_field = "threads";
  }
  if (overrides.threads) {
    scenario.threads = *overrides.threads;
    threads_field = "--threads";
  }
  for (auto [key, out] : {std::pair{"insecureSkipTLSVerify", &scenario.tls.skip_verify},
                          {"tlsResumeSessions", &scenario.tls.resume_sessions}}) {
    if (auto flag = read_optional_bool(top, key, key, *out); !flag.ok()) return flag.error();
  }
  if (!top["tlsCaFile"].get(item)) {
    auto file = read_string(item, "tlsCaFile");
    if (!file.get(scenario.tls.ca_file)) return file.error();
  }
  // The command line's flags turn settings on, and its CA file replaces the file's.
  scenario.tls.skip_verify |= overrides.tls.skip_verify;
  scenario.tls.resume_sessions |= overrides.tls.resume_sessions;
  if (!overrides.tls.ca_file.empty()) scenario.tls.ca_file = overrides.tls.ca_file;
  if (!top["seed"].get(item)) {
    auto seed = read_count(item, "seed", 0);
    if (!seed.ok()) return seed.error();
    scenario.seed = static_cast<uint64_t>(seed.value());
  }
  if (!top["variables"].get(item)) {
    object variables;
    if (item.get_object().get(variables)) return expected("variables", "an object", item);
    for (auto [key, value] : variables) {
      auto variable = read_variable(std::string(key), value, "variables." + std::string(key));
      if (!variable.ok()) return variable.error();
      scenario.variables.push_back(variable.value());
    }
  }
  if (top["requests"].get(item)) return Error{"requests: missing (at least one request is needed)"};
  array requests;
  if (item.get_array().get(requests)) return expected("requests", "an array", item);
  size_t index = 0;
  for (element request_value : requests) {
    auto request =
        read_request(request_value, "requests[" + std::to_string(index++) + "]", scenario);
    if (!request.ok()) return request.error();
    scenario.requests.push_back(request.value());
  }
  // -H: on every request, in place of the scenario's header of that name.
  for (const std::string& header : overrides.headers) {
    auto option = header_option(header, scenario.variables);
    if (!option.ok()) return option.error();
    for (RequestSpec& request : scenario.requests) {
      std::erase_if(request.headers, [&](const auto& held) {
        return same_header(held.first, option.value().first);
      });
      request.headers.push_back(option.value());
    }
  }
  std::vector<ThresholdSource> sources;
  if (!top["thresholds"].get(item)) {
    if (auto thresholds = read_thresholds(item, sources); !thresholds.ok())
      return thresholds.error();
  }
  const size_t first_given = sources.size();
  sources.insert(sources.end(), overrides.extra_thresholds.begin(),
                 overrides.extra_thresholds.end());
  if (auto finished = finish_scenario(scenario, sources, first_given, threads_field, vus_field);
      !finished.ok())
    return finished.error();
  return scenario;
}

}  // namespace

Result<Scenario> quick_scenario(const QuickOptions& options) {
  Scenario scenario;
  scenario.name = "quick";
  if (options.connections < 1) return Error{"-c: at least 1 connection"};
  if (options.threads && *options.threads < 1) return Error{"-t: at least 1 thread"};
  if (options.duration <= 0) return Error{"-d: must be longer than 0"};
  auto url = split_url(options.url);
  if (!url.ok()) return in_field("--url", url.error());
  scenario.base_url = options.url;
  Executor& executor = scenario.executor;
  executor.graceful_stop =
      0;  // like wrk: the run ends at its duration; in-flight requests are not counted
  executor.duration = options.duration;
  if (options.rate) {
    if (!(*options.rate > 0)) return Error{"--rate: must be more than 0"};
    executor.kind = ExecutorKind::kConstantArrivalRate;
    executor.rate = *options.rate;
    executor.pre_allocated_vus = executor.max_vus = options.connections;
  } else {
    executor.kind = ExecutorKind::kConstantVus;
    executor.vus = options.connections;
  }
  scenario.connect_timeout = options.timeout;
  scenario.request_timeout = options.timeout;
  scenario.threads = options.threads.value_or(2);
  scenario.tls = options.tls;

  RequestSpec request;
  if (auto valid = check_token(options.method, "--method", "method"); !valid.ok())
    return valid.error();
  request.method = options.method;
  request.name = options.method + " " + url.value().target;
  request.origin = url.value().origin;
  std::vector<Variable> none;
  auto target = compile_field(url.value().target, none, "--url");
  if (!target.get(request.target)) return target.error();
  for (const std::string& header : options.headers) {
    auto option = header_option(header, none);
    if (!option.ok()) return option.error();
    request.headers.push_back(std::move(option.value()));
  }
  if (!options.body.empty()) {
    auto body = compile_field(options.body, none, "--body");
    if (!body.ok()) return body.error();
    request.body = body.value();
  }
  scenario.requests.push_back(std::move(request));
  if (auto finished =
          finish_scenario(scenario, options.thresholds, 0, options.threads ? "-t" : "", "-c");
      !finished.ok()) {
    return finished.error();
  }
  return scenario;
}

// A field's error in a scenario written over several lines says where the field is:
// "requests[1].url (line 9, column 7): missing".
Result<Scenario> parse_scenario(std::string_view json, const ScenarioOverrides& overrides) {
  auto scenario = read_scenario(json, overrides);
  if (scenario.ok()) return scenario;
  return Error{with_position(qv::invalid_input(scenario.error().message), json, "").message};
}

}  // namespace qv::loadtest
