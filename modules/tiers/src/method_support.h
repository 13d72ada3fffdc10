// What the tiers methods share: the catalogue in force and input helpers.
#pragma once

#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "qv/instance.h"
#include "qv/tiers/tiers.h"

namespace qv::tiers::detail {

// The catalogue in force for this instance. Calls hold a reference while they run, so a
// reconfiguration never changes the tiers under a call that is waiting for the host.
struct TiersState {
  std::shared_ptr<const Catalogue> catalogue =
      std::make_shared<const Catalogue>(default_catalogue());
};

// Parses the call's input as a JSON object restricted to the given fields.
inline Result<JsonObject> input_object(CallContext& ctx, Instance& instance,
                                       std::initializer_list<std::string_view> fields) {
  auto root = instance.parser().parse(ctx.input());
  if (!root.ok()) return root.take_error();
  auto object = root.value().object();
  if (!object.ok()) return object.take_error();
  if (auto s = object.value().only_fields(fields); !s.ok()) return s.take_error();
  return object;
}

inline Result<const Tier*> required_tier(const JsonObject& object, const Catalogue& catalogue) {
  auto value = object.required("tier");
  if (!value.ok()) return value.take_error();
  auto name = value.value().string();
  if (!name.ok()) return name.take_error();
  const Tier* tier = catalogue.find(name.value());
  if (!tier) {
    return not_found("tier: unknown tier '" + std::string(name.value()) +
                     "' (known: " + catalogue.names() + ")");
  }
  return tier;
}

inline Result<std::string> required_string(const JsonObject& object, std::string_view field) {
  auto value = object.required(field);
  if (!value.ok()) return value.take_error();
  auto text = value.value().string();
  if (!text.ok()) return text.take_error();
  return std::string(text.value());
}

// The admission-control methods (admission_methods.cpp).
std::span<const Method> admission_methods();

}  // namespace qv::tiers::detail
