#include "fields.h"

#include <cmath>
#include <string>

#include "text.h"

namespace qv::router {

namespace {

// Whether an object's key is the table's `name`: exactly, or for headers in any ASCII case.
bool matches(std::string_view key, std::string_view name, Keys keys) {
  if (keys == Keys::kFields || key.size() != name.size()) return key == name;
  for (size_t i = 0; i < key.size(); ++i) {
    const char c = key[i] >= 'A' && key[i] <= 'Z' ? static_cast<char>(key[i] - 'A' + 'a') : key[i];
    if (c != name[i]) return false;
  }
  return true;
}

Status read_field(const Field& field, const JsonValue& value, void* target) {
  void* out = field.at(target);
  switch (field.type) {
    case FieldType::kNumber:
    case FieldType::kInteger:
    case FieldType::kInt: {
      auto number = value.number();
      if (!number.ok()) return number.take_error();
      const double n = number.value();
      Text problem;
      if (!(n >= field.min && n <= field.max)) {
        problem << value.where() << ": must be between ";
        problem.number(field.min) << " and ";
        problem.number(field.max) << ", got ";
        return problem.number(n).invalid();
      }
      if (field.type != FieldType::kNumber && n != std::floor(n)) {
        problem << value.where() << ": expected an integer, got ";
        return problem.number(n).invalid();
      }
      if (field.type == FieldType::kInt) {
        *static_cast<int*>(out) = static_cast<int>(n);
      } else {
        *static_cast<double*>(out) = n;
      }
      return ok_status();
    }
    case FieldType::kFlag: {
      auto flag = value.boolean();
      if (!flag.ok()) return flag.take_error();
      *static_cast<bool*>(out) = flag.value();
      return ok_status();
    }
    case FieldType::kString: {
      auto text = value.string();
      if (!text.ok()) return text.take_error();
      // Characters, as the message says: UTF-8 code points (bytes that do not continue one).
      int64_t characters = 0;
      for (char c : text.value()) characters += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
      const double size = static_cast<double>(characters);
      if (size < field.min || size > field.max) {
        Text problem;
        problem << value.where() << ": expected ";
        problem.number(field.min) << " to ";
        problem.number(field.max) << " characters, got ";
        return problem.count(characters).invalid();
      }
      static_cast<std::string*>(out)->assign(text.value());
      return ok_status();
    }
    case FieldType::kChoice: {
      auto text = value.string();
      if (!text.ok()) return text.take_error();
      if (text.value() != field.off && text.value() != field.on) {
        return (Text() << value.where() << ": expected '" << field.off << "' or '" << field.on
                       << "', got '" << text.value() << "'")
            .invalid();
      }
      *static_cast<bool*>(out) = text.value() == field.on;
      return ok_status();
    }
    case FieldType::kOther:
      break;
  }
  return ok_status();
}

}  // namespace

Status read_fields(const JsonObject& object, std::span<const Field> fields, void* target,
                   Keys keys) {
  // A field of the table given twice: JSON.parse keeps the last, find() the first; refused, so
  // that no two readers of one input see different values. (By table row, not by comparing
  // every pair of keys: a host may pass any number of headers.)
  uint64_t seen = 0;
  for (auto member : object.raw()) {
    const Field* field = nullptr;
    for (const Field& candidate : fields) {
      if (matches(member.key, candidate.name, keys)) field = &candidate;
    }
    if (!field && keys == Keys::kHeaders) continue;
    if (!field && fields.empty()) {
      return invalid_input(object.child_path(member.key) +
                           ": unknown field (this takes no fields)");
    }
    if (!field) {
      Text problem;
      problem << object.child_path(member.key) << ": unknown field (expected one of: ";
      for (const Field& candidate : fields) {
        problem << (&candidate == fields.data() ? "" : ", ") << candidate.name;
      }
      return (problem << ")").invalid();
    }
    const uint64_t bit = uint64_t{1} << (field - fields.data());
    if (seen & bit) return invalid_input(object.child_path(field->name) + ": given twice");
    seen |= bit;
    if (field->type == FieldType::kOther) continue;
    const JsonValue value = object.member(field->name, member.value);
    if (auto s = read_field(*field, value, target); !s.ok()) return s;
  }
  for (const Field& field : fields) {
    if (field.required && !object.find(field.name)) {
      return invalid_input(object.child_path(field.name) + ": is required");
    }
  }
  return ok_status();
}

void write_fields(JsonWriter& out, std::span<const Field> fields, const void* target) {
  void* mutable_target = const_cast<void*>(target);  // the accessors are shared with reading
  for (const Field& field : fields) {
    if (field.type == FieldType::kOther) continue;
    const void* at = field.at(mutable_target);
    out.key(field.name);
    switch (field.type) {
      case FieldType::kNumber:
      case FieldType::kInteger:
        out.value(*static_cast<const double*>(at));
        break;
      case FieldType::kInt:
        out.value(*static_cast<const int*>(at));
        break;
      case FieldType::kFlag:
        out.value(*static_cast<const bool*>(at));
        break;
      case FieldType::kString:
        out.value(*static_cast<const std::string*>(at));
        break;
      case FieldType::kChoice:
        out.value(*static_cast<const bool*>(at) ? field.on : field.off);
        break;
      case FieldType::kOther:
        break;
    }
  }
}

}  // namespace qv::router
