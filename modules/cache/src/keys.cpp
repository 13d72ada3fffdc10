#include "qv/cache/keys.h"

#include "qv/json.h"

namespace qv::cache {

namespace {

bool plain(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '~' || c == '-';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // lower-case hex is never written, so it is not read either
}

Status check_part(const std::string& what, std::string_view part, bool may_be_empty) {
  if (part.empty() && !may_be_empty) return invalid_input(what + ": must not be empty");
  if (part.size() > kMaxKeyPartBytes) {
    return invalid_input(what + ": " + std::to_string(part.size()) +
                         " bytes is above the limit of " + std::to_string(kMaxKeyPartBytes));
  }
  return ok_status();
}

}  // namespace

void append_escaped(std::string& out, std::string_view part) {
  static const char* kHex = "0123456789ABCDEF";
  for (unsigned char c : part) {
    if (plain(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

bool decode_part(std::string_view part, std::string& out) {
  out.clear();
  for (size_t i = 0; i < part.size(); ++i) {
    const char c = part[i];
    if (c != '%') {
      if (!plain(static_cast<unsigned char>(c))) return false;
      out += c;
      continue;
    }
    const int high = i + 1 < part.size() ? hex_value(part[i + 1]) : -1;
    const int low = i + 2 < part.size() ? hex_value(part[i + 2]) : -1;
    if (high < 0 || low < 0) return false;
    const char decoded = static_cast<char>(high << 4 | low);
    if (plain(static_cast<unsigned char>(decoded))) return false;  // never written escaped
    out += decoded;
    i += 2;
  }
  return true;
}

Status encode_key(const CacheKey& key, std::string& out) {
  if (auto s = check_part("organizationId", key.organization, false); !s.ok()) return s;
  if (auto s = check_part("key", key.resource, false); !s.ok()) return s;
  if (key.vary.size() > kMaxVaryParts) {
    return invalid_input("vary: " + std::to_string(key.vary.size()) +
                         " entries is above the limit of " + std::to_string(kMaxVaryParts));
  }
  // The variants in name order (insertion sort: at most kMaxVaryParts of them).
  std::vector<const std::pair<std::string, std::string>*> vary;
  for (const auto& part : key.vary) {
    const std::string field = key_path("vary", part.first);
    if (auto s = check_part(field, part.first, false); !s.ok()) return s;
    if (auto s = check_part(field, part.second, true); !s.ok()) return s;
    size_t at = vary.size();
    vary.push_back(&part);
    for (; at > 0 && vary[at - 1]->first > part.first; --at) vary[at] = vary[at - 1];
    vary[at] = &part;
    if (at > 0 && vary[at - 1]->first == part.first) return invalid_input(field + ": given twice");
  }
  out.clear();
  append_escaped(out, key.organization);
  out += ':';
  append_escaped(out, key.resource);
  for (const auto* part : vary) {
    out += ':';
    append_escaped(out, part->first);
    out += '=';
    append_escaped(out, part->second);
  }
  return ok_status();
}

Status decode_key(std::string_view encoded, CacheKey& key) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    const size_t colon = encoded.find(':', start);
    parts.push_back(encoded.substr(start, colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 2) return invalid_input("key: expected an organisation and a resource");
  if (!decode_part(parts[0], key.organization) || !decode_part(parts[1], key.resource))
    return invalid_input("key: malformed escape");
  key.vary.clear();
  for (size_t i = 2; i < parts.size(); ++i) {
    const size_t equals = parts[i].find('=');
    if (equals == std::string_view::npos) return invalid_input("key: a variant without '='");
    std::string name, value;
    if (!decode_part(parts[i].substr(0, equals), name) ||
        !decode_part(parts[i].substr(equals + 1), value))
      return invalid_input("key: malformed escape");
    key.vary.emplace_back(std::move(name), std::move(value));
  }
  return ok_status();
}

namespace {

std::string prefixed(std::string_view prefix, std::string_view encoded_key) {
  std::string out(prefix);
  out += encoded_key;
  return out;
}

}  // namespace

std::string l2_entry_key(std::string_view encoded_key) {
  return prefixed("qvc:e:", encoded_key);
}

std::string refresh_lease_key(std::string_view encoded_key) {
  return prefixed("qvc:r:", encoded_key);
}

std::string fill_lease_key(std::string_view encoded_key) {
  return prefixed("qvc:f:", encoded_key);
}

std::string journal_key(std::string_view organization) {
  std::string out = "qvc:j:";
  if (organization.empty()) {
    out += '*';
  } else {
    append_escaped(out, organization);
  }
  return out;
}

}  // namespace qv::cache
