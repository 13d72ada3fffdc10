// Request templates: text with {{name}} placeholders, compiled once and rendered per
// iteration. A placeholder names a scenario variable (a constant, a random pick from a list,
// a random integer in a range, a sequence number with a prefix) or a built-in:
//   {{seq}}        a sequence number unique across all VUs and threads of the run
//   {{vu}}         the VU's number (0-based), {{iteration}} the VU's iteration (0-based)
//   {{uuid}}       a random UUID (version 4), {{timestamp}} the Unix time in milliseconds
// Each variable is drawn once per iteration, so {{callId}} in the URL and in the body of
// one request are the same id.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace qv::loadtest {

// splitmix64 (Steele, Lea, Flood 2014): a tiny, fast generator, one per worker thread.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint64_t below(uint64_t bound) { return bound ? next() % bound : 0; }

 private:
  uint64_t state_;
};

struct Variable {
  enum class Kind { kConstant, kOneOf, kRange, kSequence };
  std::string name;
  Kind kind = Kind::kConstant;
  std::vector<std::string> values;  // kConstant: one value; kOneOf: the list
  int64_t min = 0, max = 0;         // kRange, inclusive
  std::string prefix;               // kRange, kSequence
};

// The values one iteration renders with: built-ins and variables drawn at most once.
class IterationValues {
 public:
  IterationValues(const std::vector<Variable>& variables, Rng& rng);
  void begin(uint64_t seq, uint64_t vu, uint64_t iteration, int64_t unix_ms);
  const std::string& variable(size_t index);
  const std::string& builtin(int id);

 private:
  const std::vector<Variable>& variables_;
  Rng& rng_;
  uint64_t seq_ = 0, vu_ = 0, iteration_ = 0;
  int64_t unix_ms_ = 0;
  uint32_t generation_ = 1;
  std::vector<std::string> cache_;  // variables, then built-ins
  std::vector<uint32_t> cache_generation_;
};

class Template {
 public:
  // Compiles text; an unknown {{name}} or an unterminated {{ is an error naming it.
  static Result<Template> compile(std::string_view text, const std::vector<Variable>& variables);

  bool is_static() const { return parts_.size() <= 1 && (parts_.empty() || parts_[0].id < 0); }
  // The text of a static template.
  std::string static_text() const { return parts_.empty() ? std::string() : parts_[0].literal; }
  // How a value is written into the text (the template's own text goes as written):
  //   kUrl   percent-encoded but for RFC 3986's unreserved characters (what a value in a
  //          request target must be: "refund policy" becomes "refund%20policy", an '&'
  //          cannot add a parameter)
  //   kJson  escaped as inside a JSON string (a body written as inline JSON, where every
  //          {{name}} is in a string: a '"' in a value becomes \", so the body stays JSON)
  enum class Encoding { kNone, kUrl, kJson };
  // Appends the text with this iteration's values.
  void render(IterationValues& values, std::string& out, Encoding encoding = Encoding::kNone) const;
  // The scenario variables it names (indices into the list it was compiled with).
  std::vector<size_t> variables_used() const;

 private:
  struct Part {
    std::string literal;  // when id < 0
    int id = -1;          // < 0 literal; < kBuiltinBase: variable index; else a built-in
  };
  std::vector<Part> parts_;
};

inline constexpr const char* kBuiltinNames[] = {"seq", "vu", "iteration", "uuid", "timestamp"};

}  // namespace qv::loadtest
