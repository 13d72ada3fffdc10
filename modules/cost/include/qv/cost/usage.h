// The usage model: what an organisation (or the whole platform) does in a month, in the
// spirit of infracost-usage.yml, and the quantities derived from it. Only primary
// figures are asked for; derived ones are computed (origin invocations from API requests
// and the edge cache hit ratio, realtime audio tokens from minutes, ...). A quantity that
// cannot be derived is unknown, and the components that meter it are listed as missing
// usage rather than guessed.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "qv/cost/catalogue.h"
#include "qv/json.h"
#include "qv/result.h"

namespace qv::cost {

// Fixed conversions, each stated where it is used.
inline constexpr double kHoursPerMonth = 730;  // 8,760 h / 12, how cloud vendors bill a month
inline constexpr double kSecondsPerMonth = kHoursPerMonth * 3600;
inline constexpr double kUserAudioTokensPerMinute = 600;        // 1 token per 100 ms (OpenAI)
inline constexpr double kAssistantAudioTokensPerMinute = 1200;  // 1 token per 50 ms (OpenAI)

// The usage's numeric figures. Each is optional: absent means "not given".
enum class Figure : int {
  kCallsPerMonth,            // calls.perMonth (required)
  kMinutesPerCall,           // calls.minutesPerCall (required)
  kPeakConcurrentCalls,      // calls.peakConcurrent
  kParticipantsPerCall,      // calls.participantsPerCall (default 2: caller and agent)
  kUserAudioShare,           // audio.userShare: part of call minutes the caller speaks
  kAssistantAudioShare,      // audio.assistantShare: part the realtime model speaks
  kUserAudioMinutes,         // audio.userMinutes (instead of the share)
  kAssistantAudioMinutes,    // audio.assistantMinutes
  kAudioInputTokens,         // audio.inputTokens (instead of minutes)
  kAudioOutputTokens,        // audio.outputTokens
  kTranscriptionMinutes,     // transcription.minutes (default: every call minute)
  kApiRequests,              // api.requestsPerMonth
  kEdgeRequests,             // api.edgeRequestsPerMonth (default: the API requests)
  kPeakRequestsPerSecond,    // api.peakRequestsPerSecond
  kEdgeCacheHitRatio,        // api.edgeCacheHitRatio (default 0)
  kCpuMsPerInvocation,       // api.cpuMsPerInvocation
  kActiveUsers,              // users.active
  kEdgeTransferGB,           // bandwidth.edgeGB
  kDatabaseEgressGB,         // bandwidth.databaseEgressGB
  kMediaGB,                  // bandwidth.mediaGB (default: from audio bitrate)
  kMediaAudioKbps,           // bandwidth.mediaAudioKbps (default 32)
  kDatabaseGB,               // storage.databaseGB
  kRedisGB,                  // storage.redisGB
  kTranscriptsPerMonth,      // storage.transcriptsPerMonth (default: one per call)
  kDatabaseHours,            // database.hours (default 730)
  kRedisCommands,            // redis.commandsPerMonth
  kRedisCommandsPerRequest,  // redis.commandsPerRequest (instead of the monthly count)
  kTargetEdgeCacheHitRatio,  // optimisation.targetEdgeCacheHitRatio (default 0.9)
  kCount
};
inline constexpr int kFigureCount = static_cast<int>(Figure::kCount);

// "calls.perMonth" etc.: the figure's place in a usage file.
std::string figure_field(Figure figure);

// A price the usage gives for a catalogue component (an unpublished one, a contract
// price, or a new option of a choice such as another realtime model).
struct PriceOverride {
  std::string service;
  std::string component;
  std::string option;     // "" for components without a choice
  Price price;            // published; source "usage file" unless the usage names one
  bool sets_per = false;  // per and included not given keep the catalogue's values
  bool sets_included = false;
  std::string path;  // `usage.prices["service.component"]` for messages
};

// A usage's pick for a catalogue choice ("realtimeModel" <- audio.model).
struct ChoicePick {
  std::string choice;
  std::string option;
  std::string path;  // "usage.audio.model" for messages
};

struct Usage {
  std::string name;
  std::string current_tier;  // "" when not given
  std::optional<double> figures[kFigureCount];
  std::vector<ChoicePick> choices;
  std::vector<PriceOverride> prices;
  std::string root = "usage";  // the path of the usage in its input, for messages

  const std::optional<double>& operator[](Figure figure) const {
    return figures[static_cast<int>(figure)];
  }
  std::optional<double>& operator[](Figure figure) { return figures[static_cast<int>(figure)]; }
  // The usage's pick for a choice, or nullptr.
  const ChoicePick* pick(std::string_view choice) const;
};

// Validates a usage object; errors name the field under root ("usage.calls.perMonth: ...").
Result<Usage> parse_usage(const JsonValue& json);

// The usage at `factor` times the volume: monthly counts, peaks, data sizes and traffic
// scale; ratios, shares, per-call and per-request figures and prices do not.
Usage scale_usage(const Usage& usage, double factor);

// The usage fields that would make an unknown quantity known: any one of `any_of`, and
// `with` as well when set ("usage.redis.commandsPerRequest with usage.api.requestsPerMonth").
struct Needs {
  Figure any_of[3] = {};
  int count = 0;
  std::optional<Figure> with;
};

// The defaults a derivation may apply, each said in the estimate's assumptions.
enum class Assumption : int {
  kOneTranscriptPerCall,
  kEdgeRequestsAreApiRequests,
  kNoEdgeCacheHits,
  kDatabaseRunsAllMonth,
  kEveryMinuteTranscribed,
  kTwoParticipants,
  kMediaAudioKbps,
  kAveragePeakRequests,
  kCount
};

// The quantities of a usage. Hints and assumptions are kept as codes and spelled out only
// when written (describe_needs, describe_assumptions): the opportunities price several
// variants of a usage, and only the first is shown.
struct Quantities {
  std::optional<double> values[kQuantityCount];
  Needs needs[kQuantityCount];  // for the unknown ones
  bool assumed[static_cast<int>(Assumption::kCount)] = {};
  // Peaks, for the tier fit: concurrent calls, API requests per second, active users.
  std::optional<double> peak_concurrent_calls;
  std::optional<double> peak_requests_per_second;
  std::optional<double> active_users;

  const std::optional<double>& operator[](Quantity quantity) const {
    return values[static_cast<int>(quantity)];
  }
};

Quantities derive_quantities(const Usage& usage);

// "usage.api.cpuMsPerInvocation", "usage.audio.userShare or usage.audio.userMinutes", ...
std::string describe_needs(const Needs& needs, const std::string& root);
// One sentence per assumption applied, in a fixed order.
std::vector<std::string> describe_assumptions(const Quantities& quantities,
                                              const std::string& root);

}  // namespace qv::cost
