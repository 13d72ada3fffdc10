// JSON objects read into and written from plain structs through tables of fields. One loop
// does the type and range checks and names the field in every error, for the configuration
// and for every method's input: far less code in WebAssembly than a hand-written reader
// per struct, and a new field is one table row.
#pragma once

#include <cstdint>
#include <span>

#include "qv/json.h"
#include "qv/result.h"

namespace qv::router {

enum class FieldType : uint8_t {
  kNumber,   // double, within [min, max]
  kInteger,  // double holding an integer within [min, max]
  kInt,      // int within [min, max]
  kFlag,     // bool
  kString,   // std::string of min..max characters (UTF-8 code points)
  kChoice,   // bool: false for the string `off`, true for `on`
  kOther,    // allowed here, read by the caller (objects, arrays, nullable values)
};

struct Field {
  const char* name;
  FieldType type;
  bool required = false;
  double min = 0, max = 0;
  const char* off = nullptr;
  const char* on = nullptr;
  void* (*at)(void* target) = nullptr;  // where the value lives in the target; none for kOther
};

// A row's accessor: QV_FIELD(Region, location.latitude).
#define QV_FIELD(Type, member) \
  [](void* target) -> void* { return &static_cast<Type*>(target)->member; }

// How read_fields matches an object's keys to the table's names.
enum class Keys : uint8_t {
  kFields,   // exactly; a key not in the table is an error
  kHeaders,  // HTTP header names: in any ASCII case (RFC 9110 section 5.1), against a table of
             // lower-case names; other keys are ignored, so a host may pass every header
};

// Reads the fields of `object` that `fields` describe into `target`. A field given twice (a
// header in two cases too), a key not in the table (kFields), a missing required field, a
// wrong type or a value out of range is an error naming the field by the table's name.
// Tables have at most 64 rows.
Status read_fields(const JsonObject& object, std::span<const Field> fields, void* target,
                   Keys keys = Keys::kFields);

// Writes key/value pairs of every field but kOther ones (the caller writes those).
void write_fields(JsonWriter& out, std::span<const Field> fields, const void* target);

}  // namespace qv::router
