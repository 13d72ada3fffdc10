#include "qv/cost/usage.h"

#include <cmath>
#include <cstdio>

namespace qv::cost {

namespace {

enum class Check { kNonNegative, kRatio, kPositive };

// Where each figure lives in a usage file, how it is checked, and whether it grows with
// the volume when a usage is scaled.
struct FigureSpec {
  Figure figure;
  const char* section;
  const char* name;
  Check check;
  bool scales;
};

constexpr FigureSpec kFigures[] = {
    {Figure::kCallsPerMonth, "calls", "perMonth", Check::kNonNegative, true},
    {Figure::kMinutesPerCall, "calls", "minutesPerCall", Check::kNonNegative, false},
    {Figure::kPeakConcurrentCalls, "calls", "peakConcurrent", Check::kNonNegative, true},
    {Figure::kParticipantsPerCall, "calls", "participantsPerCall", Check::kNonNegative, false},
    {Figure::kUserAudioShare, "audio", "userShare", Check::kRatio, false},
    {Figure::kAssistantAudioShare, "audio", "assistantShare", Check::kRatio, false},
    {Figure::kUserAudioMinutes, "audio", "userMinutes", Check::kNonNegative, true},
    {Figure::kAssistantAudioMinutes, "audio", "assistantMinutes", Check::kNonNegative, true},
    {Figure::kAudioInputTokens, "audio", "inputTokens", Check::kNonNegative, true},
    {Figure::kAudioOutputTokens, "audio", "outputTokens", Check::kNonNegative, true},
    {Figure::kTranscriptionMinutes, "transcription", "minutes", Check::kNonNegative, true},
    {Figure::kApiRequests, "api", "requestsPerMonth", Check::kNonNegative, true},
    {Figure::kEdgeRequests, "api", "edgeRequestsPerMonth", Check::kNonNegative, true},
    {Figure::kPeakRequestsPerSecond, "api", "peakRequestsPerSecond", Check::kNonNegative, true},
    {Figure::kEdgeCacheHitRatio, "api", "edgeCacheHitRatio", Check::kRatio, false},
    {Figure::kCpuMsPerInvocation, "api", "cpuMsPerInvocation", Check::kNonNegative, false},
    {Figure::kActiveUsers, "users", "active", Check::kNonNegative, true},
    {Figure::kEdgeTransferGB, "bandwidth", "edgeGB", Check::kNonNegative, true},
    {Figure::kDatabaseEgressGB, "bandwidth", "databaseEgressGB", Check::kNonNegative, true},
    {Figure::kMediaGB, "bandwidth", "mediaGB", Check::kNonNegative, true},
    {Figure::kMediaAudioKbps, "bandwidth", "mediaAudioKbps", Check::kPositive, false},
    {Figure::kDatabaseGB, "storage", "databaseGB", Check::kNonNegative, true},
    {Figure::kRedisGB, "storage", "redisGB", Check::kNonNegative, true},
    {Figure::kTranscriptsPerMonth, "storage", "transcriptsPerMonth", Check::kNonNegative, true},
    {Figure::kDatabaseHours, "database", "hours", Check::kNonNegative, false},
    {Figure::kRedisCommands, "redis", "commandsPerMonth", Check::kNonNegative, true},
    {Figure::kRedisCommandsPerRequest, "redis", "commandsPerRequest", Check::kNonNegative, false},
    {Figure::kTargetEdgeCacheHitRatio, "optimisation", "targetEdgeCacheHitRatio", Check::kRatio,
     false},
};
static_assert(sizeof kFigures / sizeof kFigures[0] == kFigureCount, "every figure has a spec");

// Text fields of the sections that pick an option of a catalogue choice.
struct ChoiceSpec {
  const char* section;
  const char* name;
  const char* choice;
};
constexpr ChoiceSpec kChoices[] = {
    {"audio", "model", "realtimeModel"},
    {"database", "compute", "databaseCompute"},
};

constexpr const char* kSections[] = {"calls", "audio",       "transcription", "api",
                                     "users", "bandwidth",   "storage",       "database",
                                     "redis", "optimisation"};

Result<double> checked_number(const JsonValue& value, Check check) {
  auto number = value.number();
  if (!number.ok()) return number.take_error();
  const double n = number.value();
  if (!std::isfinite(n)) return invalid_input(value.where() + ": must be a finite number");
  switch (check) {
    case Check::kNonNegative:
      if (n < 0) return invalid_input(value.where() + ": must not be negative");
      break;
    case Check::kRatio:
      if (n < 0 || n > 1) {
        return invalid_input(value.where() +
                             ": must be between 0 and 1 (a fraction, not a percentage)");
      }
      break;
    case Check::kPositive:
      if (!(n > 0)) return invalid_input(value.where() + ": must be greater than 0");
      break;
  }
  return n;
}

Status parse_section(const JsonObject& usage, const char* section, Usage& out) {
  auto value = usage.find(section);
  if (!value) return ok_status();
  auto object = value->object();
  if (!object.ok()) return object.take_error();
  // The section's allowed fields: its figures and its choices.
  std::vector<std::string_view> allowed;
  for (const auto& spec : kFigures) {
    if (std::string_view(spec.section) == section) allowed.push_back(spec.name);
  }
  for (const auto& spec : kChoices) {
    if (std::string_view(spec.section) == section) allowed.push_back(spec.name);
  }
  for (auto field : object.value().raw()) {
    bool known = false;
    for (auto name : allowed) known = known || name == field.key;
    if (!known) {
      std::string names;
      for (auto name : allowed) names += (names.empty() ? "" : ", ") + std::string(name);
      return invalid_input(object.value().child_path(field.key) +
                           ": unknown field (expected one of: " + names + ")");
    }
  }
  for (const auto& spec : kFigures) {
    if (std::string_view(spec.section) != section) continue;
    auto field = object.value().find(spec.name);
    if (!field || field->is_null()) continue;
    auto number = checked_number(*field, spec.check);
    if (!number.ok()) return number.take_error();
    out[spec.figure] = number.value();
  }
  for (const auto& spec : kChoices) {
    if (std::string_view(spec.section) != section) continue;
    auto field = object.value().find(spec.name);
    if (!field || field->is_null()) continue;
    auto text = field->string();
    if (!text.ok()) return text.take_error();
    if (text.value().empty()) return invalid_input(field->where() + ": must not be empty");
    out.choices.push_back({spec.choice, std::string(text.value()), field->path()});
  }
  return ok_status();
}

Result<PriceOverride> parse_price_override(std::string_view key, const JsonValue& value) {
  PriceOverride override;
  override.path = value.path();
  const size_t dot = key.find('.');
  const size_t colon = key.find(':', dot == std::string_view::npos ? 0 : dot);
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= key.size() || colon == dot + 1 ||
      colon + 1 == key.size()) {
    return invalid_input(override.path +
                         ": expected a key SERVICE.COMPONENT or SERVICE.COMPONENT:OPTION, e.g. "
                         "\"livekit.agent_session_minutes\"");
  }
  override.service.assign(key.substr(0, dot));
  if (colon == std::string_view::npos) {
    override.component.assign(key.substr(dot + 1));
  } else {
    override.component.assign(key.substr(dot + 1, colon - dot - 1));
    override.option.assign(key.substr(colon + 1));
  }
  if (value.is_null()) {
    return invalid_input(override.path +
                         ": give the price (a number, or an object with price or steps)");
  }
  Price price;
  price.published = true;
  price.source = "usage file";
  if (auto number = value.number(); number.ok()) {
    auto checked = checked_number(value, Check::kNonNegative);
    if (!checked.ok()) return checked.take_error();
    price.price = checked.value();
    override.price = std::move(price);
    return override;
  }
  auto object = value.object();
  if (!object.ok()) {
    return invalid_input(override.path + ": expected a number or an object, got " +
                         value.type_name());
  }
  if (auto s = object.value().only_fields({"price", "steps", "per", "included", "source", "seen"});
      !s.ok()) {
    return s.take_error();
  }
  auto flat = object.value().find("price");
  if ((!flat || flat->is_null()) && !object.value().find("steps")) {
    return invalid_input(override.path + ".price: is required (or steps)");
  }
  auto parsed = parse_price_fields(object.value(), price);
  if (!parsed.ok()) return parsed.take_error();
  override.price = std::move(parsed.value());
  override.sets_per = object.value().find("per").has_value();
  override.sets_included = object.value().find("included").has_value();
  return override;
}

}  // namespace

std::string figure_field(Figure figure) {
  const auto& spec = kFigures[static_cast<int>(figure)];
  return std::string(spec.section) + "." + spec.name;
}

const ChoicePick* Usage::pick(std::string_view choice) const {
  for (const auto& pick : choices) {
    if (pick.choice == choice) return &pick;
  }
  return nullptr;
}

void Usage::set_pick(const std::string& choice, const std::string& option) {
  for (auto& pick : choices) {
    if (pick.choice == choice) {
      pick.option = option;
      return;
    }
  }
  choices.push_back({choice, option, root});
}

Result<Usage> parse_usage(const JsonValue& json) {
  auto object = json.object();
  if (!object.ok()) return object.take_error();
  const auto& fields = object.value();
  if (auto s = fields.only_fields({"version", "name", "description", "currentTier", "calls",
                                   "audio", "transcription", "api", "users", "bandwidth", "storage",
                                   "database", "redis", "optimisation", "prices"});
      !s.ok()) {
    return s.take_error();
  }
  Usage usage;
  usage.root = json.path();
  if (auto version = fields.find("version")) {
    if (auto v = version->integer(1, 1); !v.ok()) {
      return invalid_input(version->where() + ": this engine reads usage version 1");
    }
  }
  for (auto [name, out] :
       {std::pair{"name", &usage.name}, std::pair{"currentTier", &usage.current_tier}}) {
    auto value = fields.find(name);
    if (!value || value->is_null()) continue;
    auto text = value->string();
    if (!text.ok()) return text.take_error();
    out->assign(text.value());
  }
  if (auto description = fields.find("description"); description && !description->is_null()) {
    if (auto text = description->string(); !text.ok()) return text.take_error();
  }
  for (const char* section : kSections) {
    if (auto s = parse_section(fields, section, usage); !s.ok()) return s.take_error();
  }
  // The two figures every estimate needs: without calls nothing per call means anything.
  auto calls = fields.required("calls");
  if (!calls.ok()) return calls.take_error();
  for (Figure required : {Figure::kCallsPerMonth, Figure::kMinutesPerCall}) {
    if (!usage[required]) {
      return invalid_input(fields.child_path(figure_field(required)) +
                           ": is required (0 is a valid figure)");
    }
  }
  if (auto prices = fields.find("prices"); prices && !prices->is_null()) {
    auto map = prices->object();
    if (!map.ok()) return map.take_error();
    for (auto field : map.value().raw()) {
      std::string path = prices->path() + "[\"" + std::string(field.key) + "\"]";
      auto override = parse_price_override(field.key, JsonValue(field.value, std::move(path)));
      if (!override.ok()) return override.take_error();
      usage.prices.push_back(std::move(override.value()));
    }
  }
  return usage;
}

Usage scale_usage(const Usage& usage, double factor) {
  Usage scaled = usage;
  for (const auto& spec : kFigures) {
    auto& figure = scaled[spec.figure];
    if (spec.scales && figure) *figure *= factor;
  }
  return scaled;
}

Quantities derive_quantities(const Usage& usage) {
  Quantities q;
  const std::string& root = usage.root;
  auto field = [&](Figure figure) { return root + "." + figure_field(figure); };
  auto set = [&](Quantity quantity, std::optional<double> value, std::string unknown) {
    q.values[static_cast<int>(quantity)] = value;
    if (!value) q.unknown[static_cast<int>(quantity)] = std::move(unknown);
  };
  auto given = [&](Figure figure) { return usage[figure]; };
  auto number = [](double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.6g", value);
    return std::string(buffer);
  };

  const double calls = given(Figure::kCallsPerMonth).value_or(0);
  const double call_minutes = calls * given(Figure::kMinutesPerCall).value_or(0);
  set(Quantity::kMonths, 1, "");
  set(Quantity::kCalls, calls, "");
  set(Quantity::kCallMinutes, call_minutes, "");

  if (auto transcripts = given(Figure::kTranscriptsPerMonth)) {
    set(Quantity::kTranscripts, transcripts, "");
  } else {
    set(Quantity::kTranscripts, calls, "");
    q.assumptions.push_back(field(Figure::kTranscriptsPerMonth) +
                            " not given: one transcript per call");
  }

  const auto api = given(Figure::kApiRequests);
  set(Quantity::kApiRequests, api, field(Figure::kApiRequests));
  if (auto edge = given(Figure::kEdgeRequests)) {
    set(Quantity::kEdgeRequests, edge, "");
  } else if (api) {
    set(Quantity::kEdgeRequests, api, "");
    q.assumptions.push_back(field(Figure::kEdgeRequests) +
                            " not given: every API request is one edge request");
  } else {
    set(Quantity::kEdgeRequests, std::nullopt,
        field(Figure::kEdgeRequests) + " or " + field(Figure::kApiRequests));
  }
  // Origin invocations: the API requests the edge cache does not answer.
  std::optional<double> origin;
  if (api) {
    double hit_ratio = 0;
    if (auto ratio = given(Figure::kEdgeCacheHitRatio)) {
      hit_ratio = *ratio;
    } else {
      q.assumptions.push_back(field(Figure::kEdgeCacheHitRatio) +
                              " not given: 0, every API request reaches a function");
    }
    origin = *api * (1 - hit_ratio);
  }
  set(Quantity::kOriginInvocations, origin, field(Figure::kApiRequests));
  if (origin && given(Figure::kCpuMsPerInvocation)) {
    set(Quantity::kActiveCpuHours, *origin * *given(Figure::kCpuMsPerInvocation) / 3.6e6, "");
  } else {
    set(Quantity::kActiveCpuHours, std::nullopt,
        origin ? field(Figure::kCpuMsPerInvocation) : field(Figure::kApiRequests));
  }
  set(Quantity::kEdgeTransferGB, given(Figure::kEdgeTransferGB), field(Figure::kEdgeTransferGB));

  if (auto hours = given(Figure::kDatabaseHours)) {
    set(Quantity::kDatabaseComputeHours, hours, "");
  } else {
    set(Quantity::kDatabaseComputeHours, kHoursPerMonth, "");
    q.assumptions.push_back(field(Figure::kDatabaseHours) +
                            " not given: 730 h, the database runs all month");
  }
  set(Quantity::kDatabaseEgressGB, given(Figure::kDatabaseEgressGB),
      field(Figure::kDatabaseEgressGB));
  set(Quantity::kDatabaseDiskGB, given(Figure::kDatabaseGB), field(Figure::kDatabaseGB));

  // Realtime audio: minutes from the given minutes or the share of call minutes; tokens
  // from the given tokens or the minutes at OpenAI's published rates.
  struct Side {
    Quantity minutes_quantity, tokens_quantity;
    Figure minutes, share, tokens;
    double tokens_per_minute;
  };
  for (const Side& side :
       {Side{Quantity::kUserAudioMinutes, Quantity::kAudioInputTokens, Figure::kUserAudioMinutes,
             Figure::kUserAudioShare, Figure::kAudioInputTokens, kUserAudioTokensPerMinute},
        Side{Quantity::kAssistantAudioMinutes, Quantity::kAudioOutputTokens,
             Figure::kAssistantAudioMinutes, Figure::kAssistantAudioShare,
             Figure::kAudioOutputTokens, kAssistantAudioTokensPerMinute}}) {
    std::optional<double> minutes = given(side.minutes);
    if (!minutes && given(side.share)) minutes = call_minutes * *given(side.share);
    const std::string how = field(side.share) + " or " + field(side.minutes);
    set(side.minutes_quantity, minutes, how);
    if (auto tokens = given(side.tokens)) {
      set(side.tokens_quantity, tokens, "");
    } else if (minutes) {
      set(side.tokens_quantity, *minutes * side.tokens_per_minute, "");
    } else {
      set(side.tokens_quantity, std::nullopt, how + " or " + field(side.tokens));
    }
  }

  if (auto minutes = given(Figure::kTranscriptionMinutes)) {
    set(Quantity::kTranscriptionMinutes, minutes, "");
  } else {
    set(Quantity::kTranscriptionMinutes, call_minutes, "");
    q.assumptions.push_back(field(Figure::kTranscriptionMinutes) +
                            " not given: every call minute is transcribed");
  }

  // Media: one agent session per call; every participant's audio crosses the SFU.
  set(Quantity::kAgentSessionMinutes, call_minutes, "");
  double participants = 2;
  if (auto given_participants = given(Figure::kParticipantsPerCall)) {
    participants = *given_participants;
  } else {
    q.assumptions.push_back(field(Figure::kParticipantsPerCall) +
                            " not given: 2 (the caller and the agent)");
  }
  const double participant_minutes = call_minutes * participants;
  set(Quantity::kParticipantMinutes, participant_minutes, "");
  if (auto media = given(Figure::kMediaGB)) {
    set(Quantity::kMediaGB, media, "");
  } else {
    double kbps = 32;
    if (auto given_kbps = given(Figure::kMediaAudioKbps)) {
      kbps = *given_kbps;
    } else {
      q.assumptions.push_back(field(Figure::kMediaAudioKbps) +
                              " not given: 32 kbps of Opus audio per participant");
    }
    // minutes x 60 s x kbps x 1000 / 8 bytes, in GB of 10^9 bytes.
    set(Quantity::kMediaGB, participant_minutes * 60 * kbps * 1000 / 8 / 1e9, "");
  }

  if (auto commands = given(Figure::kRedisCommands)) {
    set(Quantity::kRedisCommands, commands, "");
  } else if (api && given(Figure::kRedisCommandsPerRequest)) {
    set(Quantity::kRedisCommands, *api * *given(Figure::kRedisCommandsPerRequest), "");
  } else {
    set(Quantity::kRedisCommands, std::nullopt,
        field(Figure::kRedisCommands) + " or " + field(Figure::kRedisCommandsPerRequest) +
            (api ? "" : " with " + field(Figure::kApiRequests)));
  }
  set(Quantity::kRedisStorageGB, given(Figure::kRedisGB), field(Figure::kRedisGB));

  q.peak_concurrent_calls = given(Figure::kPeakConcurrentCalls);
  q.active_users = given(Figure::kActiveUsers);
  if (auto peak = given(Figure::kPeakRequestsPerSecond)) {
    q.peak_requests_per_second = peak;
  } else if (api) {
    q.peak_requests_per_second = *api / kSecondsPerMonth;
    q.assumptions.push_back(field(Figure::kPeakRequestsPerSecond) +
                            " not given: the monthly average, " +
                            number(*q.peak_requests_per_second) +
                            " requests/s, is used for the tier fit (peaks are higher)");
  }
  return q;
}

}  // namespace qv::cost
