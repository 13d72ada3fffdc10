#include "template.h"

#include <cctype>
#include <cstdio>

#include "qv/json.h"

namespace qv::loadtest {

namespace {

constexpr int kBuiltinBase = 1 << 20;
constexpr int kBuiltinCount = sizeof(kBuiltinNames) / sizeof(kBuiltinNames[0]);
enum Builtin { kSeq, kVu, kIteration, kUuid, kTimestamp };

}  // namespace

IterationValues::IterationValues(const std::vector<Variable>& variables, Rng& rng)
    : variables_(variables),
      rng_(rng),
      cache_(variables.size() + kBuiltinCount),
      cache_generation_(variables.size() + kBuiltinCount, 0) {}

void IterationValues::begin(uint64_t seq, uint64_t vu, uint64_t iteration, int64_t unix_ms) {
  seq_ = seq;
  vu_ = vu;
  iteration_ = iteration;
  unix_ms_ = unix_ms;
  ++generation_;
}

const std::string& IterationValues::variable(size_t index) {
  std::string& value = cache_[index];
  if (cache_generation_[index] == generation_) return value;
  cache_generation_[index] = generation_;
  const Variable& variable = variables_[index];
  switch (variable.kind) {
    case Variable::Kind::kConstant:
      value = variable.values.front();
      break;
    case Variable::Kind::kOneOf:
      value = variable.values[rng_.below(variable.values.size())];
      break;
    case Variable::Kind::kRange: {
      const auto span = static_cast<uint64_t>(variable.max - variable.min) + 1;
      value =
          variable.prefix + std::to_string(variable.min + static_cast<int64_t>(rng_.below(span)));
      break;
    }
    case Variable::Kind::kSequence:
      value = variable.prefix + std::to_string(seq_);
      break;
  }
  return value;
}

const std::string& IterationValues::builtin(int id) {
  const size_t index = variables_.size() + static_cast<size_t>(id);
  std::string& value = cache_[index];
  if (cache_generation_[index] == generation_) return value;
  cache_generation_[index] = generation_;
  switch (id) {
    case kSeq:
      value = std::to_string(seq_);
      break;
    case kVu:
      value = std::to_string(vu_);
      break;
    case kIteration:
      value = std::to_string(iteration_);
      break;
    case kTimestamp:
      value = std::to_string(unix_ms_);
      break;
    case kUuid: {
      const uint64_t high = (rng_.next() & ~0xF000ull) | 0x4000ull;       // version 4
      const uint64_t low = (rng_.next() & ~(3ull << 62)) | (2ull << 62);  // RFC 4122 variant
      char text[40];
      std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx",
                    static_cast<unsigned>(high >> 32), static_cast<unsigned>((high >> 16) & 0xFFFF),
                    static_cast<unsigned>(high & 0xFFFF), static_cast<unsigned>(low >> 48),
                    static_cast<unsigned long long>(low & 0xFFFFFFFFFFFFull));
      value = text;
      break;
    }
  }
  return value;
}

Result<Template> Template::compile(std::string_view text, const std::vector<Variable>& variables) {
  Template compiled;
  std::string literal;
  size_t at = 0;
  while (at < text.size()) {
    const size_t open = text.find("{{", at);
    if (open == std::string_view::npos) {
      literal.append(text.substr(at));
      break;
    }
    literal.append(text.substr(at, open - at));
    const size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return Error{"unterminated '{{' at offset " + std::to_string(open)};
    }
    std::string_view name = text.substr(open + 2, close - open - 2);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    int id = -1;
    for (size_t i = 0; i < variables.size(); ++i) {
      if (variables[i].name == name) id = static_cast<int>(i);
    }
    for (int i = 0; id < 0 && i < kBuiltinCount; ++i) {
      if (name == kBuiltinNames[i]) id = kBuiltinBase + i;
    }
    if (id < 0) {
      std::string known;
      for (const Variable& variable : variables)
        known += (known.empty() ? "" : ", ") + variable.name;
      std::string message = "unknown variable '{{" + std::string(name) +
                            "}}' (variables: " + (known.empty() ? "none" : known) + "; built-in: ";
      for (int i = 0; i < kBuiltinCount; ++i)
        message += (i ? ", " : "") + std::string(kBuiltinNames[i]);
      return Error{message + ")"};
    }
    if (!literal.empty()) compiled.parts_.push_back(Part{std::move(literal), -1});
    literal.clear();
    compiled.parts_.push_back(Part{{}, id});
    at = close + 2;
  }
  if (!literal.empty()) compiled.parts_.push_back(Part{std::move(literal), -1});
  return compiled;
}

std::vector<size_t> Template::variables_used() const {
  std::vector<size_t> used;
  for (const Part& part : parts_) {
    if (part.id >= 0 && part.id < kBuiltinBase) used.push_back(static_cast<size_t>(part.id));
  }
  return used;
}

void Template::render(IterationValues& values, std::string& out, Encoding encoding) const {
  for (const Part& part : parts_) {
    if (part.id < 0) {
      out += part.literal;
      continue;
    }
    const std::string& value = part.id < kBuiltinBase
                                   ? values.variable(static_cast<size_t>(part.id))
                                   : values.builtin(part.id - kBuiltinBase);
    if (encoding == Encoding::kNone) {
      out += value;
      continue;
    }
    if (encoding == Encoding::kJson) {
      const size_t start = out.size();
      append_json_string(out, value);  // "value", escaped: the quotes around it dropped
      out.erase(start, 1);
      out.pop_back();
      continue;
    }
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (unsigned char c : value) {
      if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  }
}

}  // namespace qv::loadtest
