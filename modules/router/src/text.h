// Messages and reasons built piece by piece. Each append is one out-of-line call: chains
// of std::string operator+ inline a copy of the string machinery at every use, which in
// WebAssembly costs kilobytes per message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "qv/result.h"

namespace qv::router {

class Text {
 public:
  Text& operator<<(std::string_view piece);
  Text& operator<<(const char* piece) { return *this << std::string_view(piece); }
  Text& operator<<(const std::string& piece) { return *this << std::string_view(piece); }
  // A number with a fixed number of decimals ("12.3").
  Text& fixed(double value, int decimals = 1);
  // A number as short as it reads ("0.25", "65537").
  Text& number(double value);
  Text& count(int64_t value);

  bool empty() const { return text_.empty(); }
  std::string take() { return std::move(text_); }
  // The text as an invalid-input error.
  Error invalid() { return invalid_input(take()); }

 private:
  std::string text_;
};

}  // namespace qv::router
