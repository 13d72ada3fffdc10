// What the tiers methods share: the catalogue in force and the tier a call names.
#pragma once

#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "qv/instance.h"
#include "qv/method_support.h"
#include "qv/tiers/tiers.h"

namespace qv::tiers::detail {

// The catalogue in force for this instance. Calls hold a reference while they run, so a
// reconfiguration never changes the tiers under a call that is waiting for the host.
struct TiersState {
  std::shared_ptr<const Catalogue> catalogue =
      std::make_shared<const Catalogue>(default_catalogue());
};

inline Result<const Tier*> required_tier(const JsonObject& object, const Catalogue& catalogue) {
  auto value = object.required("tier");
  if (!value.ok()) return value.take_error();
  auto name = value.value().string();
  if (!name.ok()) return name.take_error();
  return find_tier(catalogue.tiers, name.value(), "tier");
}

// What a reason says when the KV fails, and when an organisation's value in it cannot be read
// by this isolate.
inline constexpr std::string_view kKvUnavailable = "kv unavailable";
inline constexpr std::string_view kValueUnreadable = "kv value unreadable";

// The admission-control methods (admission_methods.cpp).
std::span<const Method> admission_methods();

}  // namespace qv::tiers::detail
