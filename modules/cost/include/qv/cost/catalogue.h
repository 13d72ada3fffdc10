// The pricing catalogue: services, their priced components, credits, and the quantities
// the components meter. The default catalogue is modules/cost/catalogue/catalogue.json,
// embedded in the module at build time; a caller may pass another one as input.
//
// Pricing model (Infracost's cost component): a component meters one quantity of a
// usage; its monthly cost is the price of the units above the included allowance, at a
// flat price per `per` units or along graduated steps. A price nobody published is
// "unpublished": the estimate lists it as an input the user must give.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qv/json.h"
#include "qv/result.h"

namespace qv::cost {

// Every quantity the engine derives from a usage (see usage.h for how). A catalogue
// component meters one of them.
enum class Quantity : int {
  kMonths,                 // always 1: monthly fees
  kCalls,                  // calls per month
  kCallMinutes,            // calls x minutes per call
  kTranscripts,            // transcripts stored per month
  kApiRequests,            // API requests per month
  kEdgeRequests,           // requests the edge network serves
  kOriginInvocations,      // API requests x (1 - edge cache hit ratio)
  kActiveCpuHours,         // origin invocations x CPU ms per invocation
  kEdgeTransferGB,         // data the edge network sends
  kDatabaseComputeHours,   // hours the database instance runs
  kDatabaseEgressGB,       // data the database sends
  kDatabaseDiskGB,         // database disk in use
  kUserAudioMinutes,       // minutes the caller speaks to the realtime model
  kAssistantAudioMinutes,  // minutes the realtime model speaks
  kAudioInputTokens,       // user audio: 1 token per 100 ms
  kAudioOutputTokens,      // assistant audio: 1 token per 50 ms
  kTranscriptionMinutes,   // minutes of speech-to-text
  kAgentSessionMinutes,    // one agent session per call minute
  kParticipantMinutes,     // call minutes x participants per call
  kMediaGB,                // media (audio) the SFU carries
  kRedisCommands,          // Redis commands per month
  kRedisStorageGB,         // Redis data size
  kCount
};
inline constexpr int kQuantityCount = static_cast<int>(Quantity::kCount);

// "originInvocations", ... (the JSON names).
const char* quantity_name(Quantity quantity);
std::optional<Quantity> find_quantity(std::string_view name);
std::string quantity_names();  // "months, calls, ..." for messages

// One step of graduated pricing: units of the monthly quantity up to `up_to` (the last
// step has none) cost `price` per `per` units.
struct Step {
  std::optional<double> up_to;
  double price = 0;
};

struct Price {
  bool published = false;   // false: nobody published it; the user must give it
  double price = 0;         // per `per` units (flat pricing, when steps is empty)
  std::vector<Step> steps;  // graduated pricing over the monthly quantity
  double per = 1;           // the price is for this many units
  double included = 0;      // units included each month at no cost
  std::string source;       // where the price was seen (URL or name)
  std::string seen;         // when (YYYY-MM-DD)

  // The units that are paid for: those above the allowance.
  double billable(double quantity) const;
  // The monthly cost of quantity units (requires published).
  double cost(double quantity) const;
};

// A price option of a component that depends on a choice of the usage (the database
// compute size, the realtime model). Components without a choice have one option, "".
struct Option {
  std::string name;
  Price price;
};

struct Component {
  std::string id;    // "function_invocations", unique within its service
  std::string name;  // "Function invocations"
  Quantity meter = Quantity::kMonths;
  std::string unit;             // singular: "invocation", "GB", "hour"
  std::string category;         // compute, requests, bandwidth, storage, media, ai, platform
  std::string choice;           // "" or the usage choice that selects the option
  std::vector<Option> options;  // the first is the default

  const Option* find_option(std::string_view name) const;
};

// A monthly credit that pays for some components of its service (Supabase's compute
// credit), up to its amount.
struct Credit {
  std::string id;
  std::string name;
  double amount = 0;
  std::vector<std::string> applies_to;  // component ids
  std::string source;
  std::string seen;
};

struct Service {
  std::string id;    // "vercel"
  std::string name;  // "Vercel"
  std::string plan;  // "Pro"
  std::string kind;  // "infrastructure" or "ai" (what "infrastructure cost per call" counts)
  std::vector<Component> components;
  std::vector<Credit> credits;

  const Component* find_component(std::string_view id) const;
};

struct Catalogue {
  int format = 1;
  std::string version;  // "2026-11-26"
  std::string currency;
  std::string description;
  std::vector<Service> services;

  const Service* find_service(std::string_view id) const;
  std::string service_ids() const;  // "vercel, supabase, ..." for messages
};

// The catalogue JSON embedded at build time (generated from catalogue/catalogue.json).
std::string_view embedded_catalogue_json();

// Validates a catalogue; errors name the field ("services[1].components[2].price: ...").
Result<Catalogue> parse_catalogue(const JsonValue& json);
void write_catalogue(JsonWriter& out, const Catalogue& catalogue);

// Reads price fields (price | steps, per, included, source, seen) of an object over
// `base`: fields not given keep base's values. Shared by the catalogue and by the
// usage's price overrides.
Result<Price> parse_price_fields(const JsonObject& fields, const Price& base);
void write_price_fields(JsonWriter& out, const Price& price);

}  // namespace qv::cost
