#include "qv/cost/usage.h"

#include "qv/cost/reader.h"

#include <cmath>
#include <cstdio>

namespace qv::cost {

namespace {

// Where each figure lives in a usage file, how it is checked, and whether it grows with
// the volume when a usage is scaled.
struct FigureSpec {
  Figure figure;
  const char* section;
  const char* name;
  Bounds bounds;
  bool scales;
};

constexpr FigureSpec kFigures[] = {
    {Figure::kCallsPerMonth, "calls", "perMonth", Bounds::kNonNegative, true},
    {Figure::kMinutesPerCall, "calls", "minutesPerCall", Bounds::kNonNegative, false},
    {Figure::kPeakConcurrentCalls, "calls", "peakConcurrent", Bounds::kNonNegative, true},
    {Figure::kParticipantsPerCall, "calls", "participantsPerCall", Bounds::kNonNegative, false},
    {Figure::kUserAudioShare, "audio", "userShare", Bounds::kRatio, false},
    {Figure::kAssistantAudioShare, "audio", "assistantShare", Bounds::kRatio, false},
    {Figure::kUserAudioMinutes, "audio", "userMinutes", Bounds::kNonNegative, true},
    {Figure::kAssistantAudioMinutes, "audio", "assistantMinutes", Bounds::kNonNegative, true},
    {Figure::kAudioInputTokens, "audio", "inputTokens", Bounds::kNonNegative, true},
    {Figure::kAudioOutputTokens, "audio", "outputTokens", Bounds::kNonNegative, true},
    {Figure::kTranscriptionMinutes, "transcription", "minutes", Bounds::kNonNegative, true},
    {Figure::kApiRequests, "api", "requestsPerMonth", Bounds::kNonNegative, true},
    {Figure::kEdgeRequests, "api", "edgeRequestsPerMonth", Bounds::kNonNegative, true},
    {Figure::kPeakRequestsPerSecond, "api", "peakRequestsPerSecond", Bounds::kNonNegative, true},
    {Figure::kEdgeCacheHitRatio, "api", "edgeCacheHitRatio", Bounds::kRatio, false},
    {Figure::kCpuMsPerInvocation, "api", "cpuMsPerInvocation", Bounds::kNonNegative, false},
    {Figure::kActiveUsers, "users", "active", Bounds::kNonNegative, true},
    {Figure::kEdgeTransferGB, "bandwidth", "edgeGB", Bounds::kNonNegative, true},
    {Figure::kDatabaseEgressGB, "bandwidth", "databaseEgressGB", Bounds::kNonNegative, true},
    {Figure::kMediaGB, "bandwidth", "mediaGB", Bounds::kNonNegative, true},
    {Figure::kMediaAudioKbps, "bandwidth", "mediaAudioKbps", Bounds::kPositive, false},
    {Figure::kDatabaseGB, "storage", "databaseGB", Bounds::kNonNegative, true},
    {Figure::kRedisGB, "storage", "redisGB", Bounds::kNonNegative, true},
    {Figure::kTranscriptsPerMonth, "storage", "transcriptsPerMonth", Bounds::kNonNegative, true},
    {Figure::kDatabaseHours, "database", "hours", Bounds::kNonNegative, false},
    {Figure::kRedisCommands, "redis", "commandsPerMonth", Bounds::kNonNegative, true},
    {Figure::kRedisCommandsPerRequest, "redis", "commandsPerRequest", Bounds::kNonNegative, false},
    {Figure::kTargetEdgeCacheHitRatio, "optimisation", "targetEdgeCacheHitRatio", Bounds::kRatio,
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

// Figures the engine takes one of: the first derives, or stands for, the quantity the second
// gives, so given both it would go unused. Both are refused rather than one silently
// preferred. (Tokens given with minutes or a share are not among them: the minutes meter
// the audio minutes, the tokens are taken as measured in place of the minutes' rate.)
struct Alternative {
  Figure unused, used;
};
constexpr Alternative kAlternatives[] = {
    {Figure::kUserAudioShare, Figure::kUserAudioMinutes},
    {Figure::kAssistantAudioShare, Figure::kAssistantAudioMinutes},
    {Figure::kRedisCommandsPerRequest, Figure::kRedisCommands},
    {Figure::kMediaAudioKbps, Figure::kMediaGB},
};

// The figure's path in the usage: "usage.calls.perMonth".
std::string figure_path(const JsonObject& usage, Figure figure) {
  const auto& spec = kFigures[static_cast<int>(figure)];
  return usage.child_path(spec.section) + "." + spec.name;
}

constexpr const char* kSections[] = {"calls", "audio",       "transcription", "api",
                                     "users", "bandwidth",   "storage",       "database",
                                     "redis", "optimisation"};

void read_section(Reader& read, const JsonObject& usage, const char* section, Usage& out) {
  auto value = read.field(usage, section);
  auto object = value ? read.object(*value) : std::nullopt;
  if (!object) return;
  // The section's allowed fields: its figures and its choices.
  std::vector<std::string_view> allowed;
  for (const auto& spec : kFigures) {
    if (std::string_view(spec.section) == section) allowed.push_back(spec.name);
  }
  for (const auto& spec : kChoices) {
    if (std::string_view(spec.section) == section) allowed.push_back(spec.name);
  }
  if (auto s = object->only_fields(allowed); !s.ok()) {
    read.fail(s.take_error());
    return;
  }
  for (const auto& spec : kFigures) {
    if (std::string_view(spec.section) == section) {
      out[spec.figure] = read.number(*object, spec.name, spec.bounds);
    }
  }
  for (const auto& spec : kChoices) {
    if (std::string_view(spec.section) != section) continue;
    auto field = read.field(*object, spec.name);
    if (!field) continue;
    if (auto text = read.string(*field, true)) {
      out.choices.push_back({spec.choice, std::string(*text), field->path()});
    }
  }
}

PriceOverride read_price_override(Reader& read, std::string_view key, const JsonValue& value) {
  PriceOverride override;
  override.path = value.path();
  const size_t dot = key.find('.');
  const size_t colon = key.find(':', dot == std::string_view::npos ? 0 : dot);
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= key.size() || colon == dot + 1 ||
      colon + 1 == key.size()) {
    read.fail(override.path +
              ": expected a key SERVICE.COMPONENT or SERVICE.COMPONENT:OPTION, e.g. "
              "\"livekit.agent_session_minutes\"");
    return override;
  }
  override.service.assign(key.substr(0, dot));
  if (colon == std::string_view::npos) {
    override.component.assign(key.substr(dot + 1));
  } else {
    override.component.assign(key.substr(dot + 1, colon - dot - 1));
    override.option.assign(key.substr(colon + 1));
  }
  Price& price = override.price;
  price.published = true;
  price.source = "usage file";
  if (value.is_null()) {
    read.fail(override.path + ": give the price (a number, or an object with price or steps)");
  } else if (value.raw().is_number()) {
    price.price = read.number(value, Bounds::kNonNegative).value_or(0);
  } else if (auto object = value.raw().is_object() ? read.object(value) : std::nullopt) {
    read.only(*object, {"price", "steps", "per", "included", "source", "seen"});
    auto flat = object->find("price");
    if (read.ok() && (!flat || flat->is_null()) && !object->find("steps")) {
      read.fail(override.path + ".price: is required (or steps)");
    }
    if (auto parsed = read.ok() ? read.take(parse_price_fields(*object, price)) : std::nullopt) {
      price = std::move(*parsed);
    }
    override.sets_per = object->find("per").has_value();
    override.sets_included = object->find("included").has_value();
  } else {
    read.fail(override.path + ": expected a number or an object, got " + value.type_name());
  }
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

Result<Usage> parse_usage(const JsonValue& json) {
  Reader read;
  Usage usage;
  usage.root = json.path();
  auto object = read.object(json);
  if (!object) return read.take_error();
  const JsonObject& fields = *object;
  read.only(fields, {"version", "name", "description", "currentTier", "calls", "audio",
                     "transcription", "api", "users", "bandwidth", "storage", "database", "redis",
                     "optimisation", "prices"});
  if (auto version = read.field(fields, "version"); version && !version->integer(1, 1).ok()) {
    read.fail(version->where() + ": this engine reads usage version 1");
  }
  usage.name = read.text(fields, "name").value_or("");
  usage.current_tier = read.text(fields, "currentTier").value_or("");
  read.text(fields, "description");
  for (const char* section : kSections) read_section(read, fields, section, usage);
  // The two figures every estimate needs: without calls nothing per call means anything.
  if (read.field(fields, "calls", true)) {
    for (Figure required : {Figure::kCallsPerMonth, Figure::kMinutesPerCall}) {
      if (read.ok() && !usage[required])
        read.fail(figure_path(fields, required) + ": is required (0 is a valid figure)");
    }
  }
  for (const auto& [unused, used] : kAlternatives) {
    if (read.ok() && usage[unused] && usage[used]) {
      read.fail(figure_path(fields, unused) + ": given with " + figure_path(fields, used) +
                ", which would leave it unused; give one of the two");
    }
  }
  if (auto prices = read.field(fields, "prices")) {
    if (auto map = read.object(*prices)) {
      // A price given twice is found in one pass over the keys (core's unique_fields): each
      // key names one service, component and option.
      if (auto unique = map->unique_fields(); !unique.ok()) read.fail(unique.take_error());
      for (auto field : map->raw()) {
        PriceOverride override =
            read_price_override(read, field.key, map->member(field.key, field.value));
        if (!read.ok()) break;
        usage.prices.push_back(std::move(override));
      }
    }
  }
  if (!read.ok()) return read.take_error();
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

namespace {

Needs needs(std::initializer_list<Figure> any_of, std::optional<Figure> with = std::nullopt) {
  Needs result;
  for (Figure figure : any_of) result.any_of[result.count++] = figure;
  result.with = with;
  return result;
}

}  // namespace

Quantities derive_quantities(const Usage& usage) {
  Quantities q;
  auto set = [&](Quantity quantity, std::optional<double> value) {
    q.values[static_cast<int>(quantity)] = value;
  };
  auto unknown = [&](Quantity quantity, Needs missing) {
    q.values[static_cast<int>(quantity)] = std::nullopt;
    q.needs[static_cast<int>(quantity)] = missing;
  };
  auto assume = [&](Assumption assumption) { q.assumed[static_cast<int>(assumption)] = true; };
  auto given = [&](Figure figure) { return usage[figure]; };

  const double calls = given(Figure::kCallsPerMonth).value_or(0);
  const double call_minutes = calls * given(Figure::kMinutesPerCall).value_or(0);
  set(Quantity::kMonths, 1);
  set(Quantity::kCalls, calls);
  set(Quantity::kCallMinutes, call_minutes);

  if (auto transcripts = given(Figure::kTranscriptsPerMonth)) {
    set(Quantity::kTranscripts, transcripts);
  } else {
    set(Quantity::kTranscripts, calls);
    assume(Assumption::kOneTranscriptPerCall);
  }

  const auto api = given(Figure::kApiRequests);
  if (api) {
    set(Quantity::kApiRequests, api);
  } else {
    unknown(Quantity::kApiRequests, needs({Figure::kApiRequests}));
  }
  if (auto edge = given(Figure::kEdgeRequests)) {
    set(Quantity::kEdgeRequests, edge);
  } else if (api) {
    set(Quantity::kEdgeRequests, api);
    assume(Assumption::kEdgeRequestsAreApiRequests);
  } else {
    unknown(Quantity::kEdgeRequests, needs({Figure::kEdgeRequests, Figure::kApiRequests}));
  }
  // Origin invocations: the API requests the edge cache does not answer.
  if (api) {
    double hit_ratio = 0;
    if (auto ratio = given(Figure::kEdgeCacheHitRatio)) {
      hit_ratio = *ratio;
    } else {
      assume(Assumption::kNoEdgeCacheHits);
    }
    const double origin = *api * (1 - hit_ratio);
    set(Quantity::kOriginInvocations, origin);
    if (auto cpu_ms = given(Figure::kCpuMsPerInvocation)) {
      set(Quantity::kActiveCpuHours, origin * *cpu_ms / 3.6e6);
    } else {
      unknown(Quantity::kActiveCpuHours, needs({Figure::kCpuMsPerInvocation}));
    }
  } else {
    unknown(Quantity::kOriginInvocations, needs({Figure::kApiRequests}));
    unknown(Quantity::kActiveCpuHours, needs({Figure::kApiRequests}));
  }

  // Figures taken as given, unknown when absent.
  struct Direct {
    Quantity quantity;
    Figure figure;
  };
  for (const Direct& direct : {Direct{Quantity::kEdgeTransferGB, Figure::kEdgeTransferGB},
                               Direct{Quantity::kDatabaseEgressGB, Figure::kDatabaseEgressGB},
                               Direct{Quantity::kDatabaseDiskGB, Figure::kDatabaseGB},
                               Direct{Quantity::kRedisStorageGB, Figure::kRedisGB}}) {
    if (auto value = given(direct.figure)) {
      set(direct.quantity, value);
    } else {
      unknown(direct.quantity, needs({direct.figure}));
    }
  }

  if (auto hours = given(Figure::kDatabaseHours)) {
    set(Quantity::kDatabaseComputeHours, hours);
  } else {
    set(Quantity::kDatabaseComputeHours, kHoursPerMonth);
    assume(Assumption::kDatabaseRunsAllMonth);
  }

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
    if (minutes) {
      set(side.minutes_quantity, minutes);
    } else {
      unknown(side.minutes_quantity, needs({side.share, side.minutes}));
    }
    if (auto tokens = given(side.tokens)) {
      set(side.tokens_quantity, tokens);
    } else if (minutes) {
      set(side.tokens_quantity, *minutes * side.tokens_per_minute);
    } else {
      unknown(side.tokens_quantity, needs({side.share, side.minutes, side.tokens}));
    }
  }

  if (auto minutes = given(Figure::kTranscriptionMinutes)) {
    set(Quantity::kTranscriptionMinutes, minutes);
  } else {
    set(Quantity::kTranscriptionMinutes, call_minutes);
    assume(Assumption::kEveryMinuteTranscribed);
  }

  // Media: one agent session per call; every participant's audio crosses the SFU.
  set(Quantity::kAgentSessionMinutes, call_minutes);
  double participants = 2;
  if (auto given_participants = given(Figure::kParticipantsPerCall)) {
    participants = *given_participants;
  } else {
    assume(Assumption::kTwoParticipants);
  }
  const double participant_minutes = call_minutes * participants;
  set(Quantity::kParticipantMinutes, participant_minutes);
  if (auto media = given(Figure::kMediaGB)) {
    set(Quantity::kMediaGB, media);
  } else {
    double kbps = 32;
    if (auto given_kbps = given(Figure::kMediaAudioKbps)) {
      kbps = *given_kbps;
    } else {
      assume(Assumption::kMediaAudioKbps);
    }
    // minutes x 60 s x kbps x 1000 / 8 bytes, in GB of 10^9 bytes.
    set(Quantity::kMediaGB, participant_minutes * 60 * kbps * 1000 / 8 / 1e9);
  }

  if (auto commands = given(Figure::kRedisCommands)) {
    set(Quantity::kRedisCommands, commands);
  } else if (api && given(Figure::kRedisCommandsPerRequest)) {
    set(Quantity::kRedisCommands, *api * *given(Figure::kRedisCommandsPerRequest));
  } else {
    unknown(Quantity::kRedisCommands,
            needs({Figure::kRedisCommands, Figure::kRedisCommandsPerRequest},
                  api ? std::nullopt : std::optional<Figure>(Figure::kApiRequests)));
  }

  q.peak_concurrent_calls = given(Figure::kPeakConcurrentCalls);
  q.active_users = given(Figure::kActiveUsers);
  if (auto peak = given(Figure::kPeakRequestsPerSecond)) {
    q.peak_requests_per_second = peak;
  } else if (api) {
    q.peak_requests_per_second = *api / kSecondsPerMonth;
    assume(Assumption::kAveragePeakRequests);
  }
  return q;
}

std::string describe_needs(const Needs& needs, const std::string& root) {
  std::string text;
  for (int i = 0; i < needs.count; ++i) {
    if (i) text += " or ";
    text += root + "." + figure_field(needs.any_of[i]);
  }
  if (needs.with) text += " with " + root + "." + figure_field(*needs.with);
  return text;
}

std::vector<std::string> describe_assumptions(const Quantities& q, const std::string& root) {
  struct Said {
    Assumption assumption;
    Figure field;
    const char* text;
  };
  static constexpr Said kSaid[] = {
      {Assumption::kOneTranscriptPerCall, Figure::kTranscriptsPerMonth,
       " not given: one transcript per call"},
      {Assumption::kEdgeRequestsAreApiRequests, Figure::kEdgeRequests,
       " not given: every API request is one edge request"},
      {Assumption::kNoEdgeCacheHits, Figure::kEdgeCacheHitRatio,
       " not given: 0, every API request reaches a function"},
      {Assumption::kDatabaseRunsAllMonth, Figure::kDatabaseHours,
       " not given: 730 h, the database runs all month"},
      {Assumption::kEveryMinuteTranscribed, Figure::kTranscriptionMinutes,
       " not given: every call minute is transcribed"},
      {Assumption::kTwoParticipants, Figure::kParticipantsPerCall,
       " not given: 2 (the caller and the agent)"},
      {Assumption::kMediaAudioKbps, Figure::kMediaAudioKbps,
       " not given: 32 kbps of Opus audio per participant"},
      {Assumption::kAveragePeakRequests, Figure::kPeakRequestsPerSecond,
       " not given: the monthly average, "},
  };
  std::vector<std::string> lines;
  for (const Said& said : kSaid) {
    if (!q.assumed[static_cast<int>(said.assumption)]) continue;
    std::string line = root + "." + figure_field(said.field) + said.text;
    if (said.assumption == Assumption::kAveragePeakRequests) {
      char buffer[32];
      format_double(buffer, sizeof buffer, "%.6g", q.peak_requests_per_second.value_or(0));
      line += std::string(buffer) + " requests/s, is used for the tier fit (peaks are higher)";
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace qv::cost
