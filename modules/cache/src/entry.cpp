#include "qv/cache/entry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "qv/cache/keys.h"
#include "qv/json.h"

namespace qv::cache {

bool kept_header(std::string_view name) {
  // Expires too: a 304 without freshness of its own leaves the copy's Expires in force. Age:
  // what the copy had spent upstream when it arrived, part of the age it is served with.
  // Location, Retry-After, WWW-Authenticate and the rest: what a redirect, a 503, a 401 or a
  // download means is in them, and an answer without them is another answer. Vary: what the
  // answer varies with, for the caches a host passes it on to (the copy's own variant is its
  // `varied`).
  for (std::string_view kept :
       {"content-type", "content-language", "content-disposition", "content-location", "etag",
        "last-modified", "cache-control", "expires", "age", "vary", "surrogate-key", "cache-tag",
        "location", "retry-after", "www-authenticate", "link"}) {
    if (name == kept) return true;
  }
  return false;
}

bool printable_line(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 && c != '\t') return false;
  }
  return true;
}

bool valid_tag(std::string_view text) {
  return !text.empty() && text.size() <= kMaxKeyPartBytes && printable_line(text) &&
         text.find('\t') == std::string_view::npos;
}

double CachedEntry::usable_until() const {
  return std::max({fresh_until, swr_until, sie_until});
}

size_t CachedEntry::bytes() const {
  size_t total = organization.size() + key.size() + body.size() + 96;
  for (const auto& [name, value] : headers) total += name.size() + value.size() + 16;
  for (const auto& tag : tags) total += tag.size() + 16;
  for (const auto& [name, value] : varied) total += name.size() + value.size() + 16;
  return total;
}

namespace {

void line(std::string& out, double number) {
  char buffer[32];
  format_double(buffer, sizeof buffer, "%.17g\n", number);
  out += buffer;
}

// Reads lines off the front of a text.
struct Lines {
  std::string_view rest;
  bool next(std::string_view& out) {
    const size_t end = rest.find('\n');
    if (end == std::string_view::npos) return false;
    out = rest.substr(0, end);
    rest.remove_prefix(end + 1);
    return true;
  }
  bool number(double& out) {
    std::string_view text;
    if (!next(text)) return false;
    const std::optional<double> value = parse_json_number(text);
    if (value) out = *value;
    return value.has_value();
  }
  bool count(uint64_t& out, uint64_t max) {
    double value = 0;
    if (!number(value) || value < 0 || value > static_cast<double>(max) ||
        value != std::floor(value))
      return false;
    out = static_cast<uint64_t>(value);
    return true;
  }
  // `count` lines of "name: value" (the value may be empty).
  bool pairs(uint64_t count, Headers& out) {
    out.clear();
    for (uint64_t i = 0; i < count; ++i) {
      std::string_view text;
      if (!next(text)) return false;
      const size_t colon = text.find(": ");
      if (colon == std::string_view::npos || colon == 0) return false;
      out.emplace_back(std::string(text.substr(0, colon)), std::string(text.substr(colon + 2)));
    }
    return true;
  }
};

}  // namespace

std::string write_entry(const CachedEntry& e) {
  std::string out = "qvc2\n";
  append_escaped(out, e.organization);
  out += '\n';
  out += e.key;
  out += '\n';
  for (double number : {static_cast<double>(e.status), e.fetched_at, e.fresh_until, e.swr_until,
                        e.sie_until, static_cast<double>(e.seq), static_cast<double>(e.global_seq),
                        e.seq_known ? 1.0 : 0.0, static_cast<double>(e.epoch),
                        static_cast<double>(e.global_epoch), static_cast<double>(e.headers.size())})
    line(out, number);
  for (const auto& [name, value] : e.headers) out += name + ": " + value + "\n";
  line(out, static_cast<double>(e.tags.size()));
  for (const auto& tag : e.tags) out += tag + "\n";
  line(out, static_cast<double>(e.varied.size()));
  for (const auto& [name, value] : e.varied) out += name + ": " + value + "\n";
  out += '\n';
  out += e.body;
  return out;
}

Status read_entry(std::string_view text, CachedEntry& e) {
  auto broken = [](const char* what) { return invalid_input(std::string("l2 entry: ") + what); };
  Lines lines{text};
  std::string_view field;
  if (!lines.next(field) || field != "qvc2") return broken("not a cache entry of this version");
  if (!lines.next(field)) return broken("no organisation");
  if (!decode_part(field, e.organization)) return broken("malformed organisation");
  if (!lines.next(field)) return broken("no key");
  e.key = std::string(field);
  double status = 0, known = 0;
  uint64_t header_count = 0, tag_count = 0;
  if (!lines.number(status) || !lines.number(e.fetched_at) || !lines.number(e.fresh_until) ||
      !lines.number(e.swr_until) || !lines.number(e.sie_until) ||
      !lines.count(e.seq, uint64_t{1} << 53) || !lines.count(e.global_seq, uint64_t{1} << 53) ||
      !lines.number(known) || !lines.count(e.epoch, uint64_t{1} << 53) ||
      !lines.count(e.global_epoch, uint64_t{1} << 53) || !lines.count(header_count, 256))
    return broken("malformed numbers");
  e.status = static_cast<int>(status);
  e.seq_known = known != 0;
  if (!lines.pairs(header_count, e.headers)) return broken("malformed headers");
  if (!lines.count(tag_count, 4096)) return broken("malformed tag count");
  e.tags.clear();
  for (uint64_t i = 0; i < tag_count; ++i) {
    if (!lines.next(field)) return broken("missing tags");
    e.tags.emplace_back(field);
  }
  uint64_t varied_count = 0;
  if (!lines.count(varied_count, 256) || !lines.pairs(varied_count, e.varied))
    return broken("malformed Vary selections");
  if (!lines.next(field) || !field.empty()) return broken("no blank line before the body");
  e.body = std::string(lines.rest);
  return ok_status();
}

}  // namespace qv::cache
