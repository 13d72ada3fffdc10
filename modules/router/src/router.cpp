// The routing decisions: pure functions of the configuration, what the router has
// observed, and the time it is given.
#include "qv/router/router.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <queue>
#include <string_view>
#include <unordered_set>

#include "qv/json.h"
#include "qv/url.h"
#include "text.h"

namespace qv::router {

namespace {

constexpr double kEarthRadiusKm = 6371.0;
constexpr double kPi = 3.14159265358979323846;
constexpr double kInfinity = std::numeric_limits<double>::infinity();
// A measurement without a distance prior to relax towards is forgotten once its weight
// falls below this (four half-lives).
constexpr double kForgetWeight = 1.0 / 16;

// ---- small, portable math ---------------------------------------------------------------
// Routing needs sin and cos of at most 2 pi, asin of [0, 1], ln of (0, 1) and 2^-x. These
// series do that to about 1e-15 in a few hundred bytes, where the C library brings a 4 KB
// range reduction for huge arguments and kilobytes of tables to every .wasm; and they give
// bit-identical results natively and in both WebAssembly flavours, whose C libraries
// differ in the last bit, so a distance in a test vector is the same everywhere.

// Taylor coefficients, computed at compile time: kSeries[n] = 1/n!, kArcsine[n] is the
// coefficient of x^(2n+1) in asin(x), (2n)! / (4^n (n!)^2 (2n+1)).
struct Coefficients {
  double factorial_inverse[20];
  double arcsine[28];
};
constexpr Coefficients make_coefficients() {
  Coefficients c{};
  c.factorial_inverse[0] = 1;
  for (int n = 1; n < 20; ++n) c.factorial_inverse[n] = c.factorial_inverse[n - 1] / n;
  double term = 1;  // (2n)! / (4^n (n!)^2)
  for (int n = 0; n < 28; ++n) {
    c.arcsine[n] = term / (2 * n + 1);
    term *= (2.0 * n + 1) / (2.0 * n + 2);
  }
  return c;
}
constexpr Coefficients kCoefficients = make_coefficients();

// sin(r) or cos(r) (cosine when `cosine`) for |r| <= pi/4: Taylor series to r^18, Horner.
double kernel(double r, bool cosine) {
  const double r2 = r * r;
  double sum = 0;
  for (int n = cosine ? 18 : 19; n >= 0; n -= 2) {
    const double c = kCoefficients.factorial_inverse[n];
    sum = sum * r2 + ((n / 2) % 2 ? -c : c);
  }
  return cosine ? sum : sum * r;
}

// sin(x) (cos(x) when `cosine`) for |x| <= 4 pi: reduced by quarter turns.
double sine(double x, bool cosine = false) {
  const double quarter = std::floor(x * (2 / kPi) + 0.5);
  // pi/2 in two parts (Cody and Waite), so the reduction loses no precision.
  const double r =
      (x - quarter * 1.57079632673412561417e+00) - quarter * 6.07710050650619224932e-11;
  const int turn = (static_cast<int>(quarter) + (cosine ? 1 : 0)) & 3;
  const double value = kernel(r, turn == 1 || turn == 3);
  return turn >= 2 ? -value : value;
}

// asin(x) for x in [0, 1]: the Taylor series (Horner, to x^55) below 0.5; above,
// asin(x) = pi/2 - 2 asin(y) with y = sqrt((1 - x) / 2) <= 0.5.
double arcsine(double x) {
  if (x > 0.5) return kPi / 2 - 2 * arcsine(std::sqrt((1 - x) / 2));
  const double x2 = x * x;
  double sum = 0;
  for (int n = 27; n >= 0; --n) sum = sum * x2 + kCoefficients.arcsine[n];
  return sum * x;
}

// ln(u) for u > 0: u = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh((m-1)/(m+1)).
double natural_log(double u) {
  int exponent = 0;
  double m = std::frexp(u, &exponent);  // m in [0.5, 1)
  if (m < 0.70710678118654752440) {
    m *= 2;
    --exponent;
  }
  const double z = (m - 1) / (m + 1), z2 = z * z;
  double sum = 0;
  for (int n = 27; n >= 1; n -= 2) sum = sum * z2 + 1.0 / n;  // constants after folding
  return exponent * 0.69314718055994530942 + 2 * z * sum;
}

// 2^-y for y >= 0: 2^-floor(y) exactly, times e^(-f ln 2) by its Taylor series.
double exp2_negative(double y) {
  if (y > 1074) return 0;
  const double whole = std::floor(y);
  const double t = (y - whole) * 0.69314718055994530942;
  double sum = 0;
  for (int n = 19; n >= 0; --n) {
    const double c = kCoefficients.factorial_inverse[n];
    sum = sum * t + (n % 2 ? -c : c);
  }
  return std::ldexp(sum, -static_cast<int>(whole));
}

// How much a measurement of `age` ms still counts: 1 when fresh, halving every half-life.
double freshness(double age_ms, double half_life_ms) {
  if (age_ms <= 0 || half_life_ms <= 0) return 1;
  return exp2_negative(age_ms / half_life_ms);
}

void describe_failure(Text& text, const Observation& observation) {
  if (observation.timed_out) {
    text.fixed(observation.rtt_ms, 0) << " ms timeout";
  } else if (observation.status == 0) {
    text << "no response";
  } else {
    text.count(observation.status) << " response";
  }
}

Region make_region(const char* id, const char* name, GeoPoint location, double cost) {
  Region region;
  region.id = id;
  region.name = name;
  region.location = location;
  region.cost_factor = cost;
  region.origin = std::string("https://") + id + ".quantumvoice.ai";
  region.health_url = region.origin + "/health";
  for (int n = 1; n <= 4; ++n) {
    region.media_nodes.push_back({std::string(id) + "-media-" + std::to_string(n), 1, false});
  }
  return region;
}

bool is_prime(double value) {
  if (value < 2 || value > 4294967295.0 || value != std::floor(value)) return false;
  const uint32_t n = static_cast<uint32_t>(value);
  for (uint32_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

}  // namespace

// ---- messages ----------------------------------------------------------------------------

Text& Text::operator<<(std::string_view piece) {
  text_.append(piece);
  return *this;
}

Text& Text::fixed(double value, int decimals) {
  // Integers do it without snprintf, which costs more than a whole routing decision.
  double scale = 1;
  for (int d = 0; d < decimals; ++d) scale *= 10;
  const double scaled = std::floor(std::fabs(value) * scale + 0.5);
  if (!(scaled < 1e15) || decimals > 6) {
    char buffer[48];
    format_double(buffer, sizeof buffer, "%.*f", decimals, value);
    return *this << buffer;
  }
  const auto units = static_cast<int64_t>(scaled);
  const auto whole = static_cast<int64_t>(units / static_cast<int64_t>(scale));
  if (value < 0 && units != 0) text_ += '-';
  count(whole);
  if (decimals > 0) {
    std::string fraction = std::to_string(units % static_cast<int64_t>(scale));
    text_ += '.';
    text_.append(static_cast<size_t>(decimals) - fraction.size(), '0');
    text_ += fraction;
  }
  return *this;
}

Text& Text::number(double value) {
  char buffer[48];
  format_double(buffer, sizeof buffer, "%.15g", value);
  return *this << buffer;
}

Text& Text::count(int64_t value) {
  return *this << std::to_string(value);
}

// ---- names ---------------------------------------------------------------------------------

const char* location_source_name(LocationSource source) {
  switch (source) {
    case LocationSource::kCoordinates:
      return "coordinates";
    case LocationSource::kCountry:
      return "country";
    case LocationSource::kDefault:
      return "default";
    case LocationSource::kNone:
      break;
  }
  return "none";
}

const char* health_name(Health health) {
  switch (health) {
    case Health::kHealthy:
      return "healthy";
    case Health::kEjected:
      return "ejected";
    case Health::kProbing:
      return "probing";
    case Health::kUnhealthy:
      break;
  }
  return "unhealthy";
}

const char* latency_source_name(LatencySource source) {
  switch (source) {
    case LatencySource::kMeasured:
      return "measured";
    case LatencySource::kDistance:
      return "distance";
    case LatencySource::kNone:
      break;
  }
  return "none";
}

const char* strategy_name(Strategy strategy) {
  switch (strategy) {
    case Strategy::kLatencyBased:
      return "latency_based";
    case Strategy::kGeoProximity:
      return "geo_proximity";
    case Strategy::kFailoverOrder:
      break;
  }
  return "failover_order";
}

// ---- geography and configuration -----------------------------------------------------------

namespace {

constexpr double kRadians = kPi / 180;

double cos_latitude(GeoPoint point) {
  return sine(point.latitude * kRadians, true);
}

// The haversine formula, given the cosines of both latitudes (a decision computes the
// client's once and the router keeps the regions').
double haversine_km(GeoPoint a, double cos_a, GeoPoint b, double cos_b) {
  const double half_dlat = sine((b.latitude - a.latitude) * kRadians / 2);
  const double half_dlon = sine((b.longitude - a.longitude) * kRadians / 2);
  const double h = half_dlat * half_dlat + cos_a * cos_b * half_dlon * half_dlon;
  return 2 * kEarthRadiusKm * arcsine(std::sqrt(std::min(1.0, std::max(0.0, h))));
}

}  // namespace

double great_circle_km(GeoPoint a, GeoPoint b) {
  return haversine_km(a, cos_latitude(a), b, cos_latitude(b));
}

int Config::find(std::string_view id) const {
  for (size_t i = 0; i < regions.size(); ++i) {
    if (regions[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

std::string Config::region_names() const {
  std::string names;
  for (const Region& region : regions) names += (names.empty() ? "" : ", ") + region.id;
  return names;
}

Config default_config() {
  // Coordinates of the AWS regions' metropolitan areas (Ashburn, Dublin, Singapore, São
  // Paulo); cost factors of the spec's GlobalDeploymentManager.
  struct Default {
    const char* id;
    const char* name;
    GeoPoint location;
    double cost;
  };
  static constexpr Default kDefaults[] = {
      {"us-east-1", "North Virginia", {39.04, -77.49}, 1.0},
      {"eu-west-1", "Ireland", {53.35, -6.26}, 1.1},
      {"ap-southeast-1", "Singapore", {1.29, 103.85}, 1.2},
      {"sa-east-1", "S\xC3\xA3o Paulo", {-23.55, -46.63}, 1.3},
  };
  Config config;
  for (const Default& region : kDefaults) {
    config.regions.push_back(make_region(region.id, region.name, region.location, region.cost));
  }
  return config;
}

const Region* default_region(std::string_view id) {
  static const Config defaults = default_config();
  const int index = defaults.find(id);
  return index < 0 ? nullptr : &defaults.regions[index];
}

bool valid_id(std::string_view id, size_t max) {
  if (id.empty() || id.size() > max) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Status check_id(std::string_view where, std::string_view id, size_t max) {
  if (valid_id(id, max)) return ok_status();
  Text problem;
  problem << where << ": expected 1-";
  problem.count(static_cast<int64_t>(max))
      << " letters, digits, '-', '_' or '.', got '" << id << "'";
  return problem.invalid();
}

namespace {

// "WHEREid: 'ID' appears twice" when an earlier item of a list had the id, else adds the id to
// the list's `ids`: one pass over a list, where each item was compared with every earlier one.
Status check_new_id(std::unordered_set<std::string_view>& ids, std::string_view where,
                    std::string_view id) {
  if (ids.insert(id).second) return ok_status();
  return (Text() << where << "id: '" << id << "' appears twice").invalid();
}

}  // namespace

Status validate(const Config& config) {
  if (config.regions.empty()) return invalid_input("regions: at least one region is required");
  if (config.regions.size() > 64) return invalid_input("regions: at most 64 regions");
  bool any_serving = false;
  size_t most_nodes = 0;
  std::unordered_set<std::string_view> region_ids;
  for (size_t i = 0; i < config.regions.size(); ++i) {
    const Region& region = config.regions[i];
    Text at;
    at << "regions[";
    at.count(static_cast<int64_t>(i)) << "].";
    const std::string where = at.take();
    if (auto s = check_id(where + "id", region.id, 64); !s.ok()) return s;
    if (auto s = check_new_id(region_ids, where, region.id); !s.ok()) return s;
    const char* problem = nullptr;
    if (!(std::fabs(region.location.latitude) <= 90)) {
      problem = "latitude: must be between -90 and 90";
    } else if (!(std::fabs(region.location.longitude) <= 180)) {
      problem = "longitude: must be between -180 and 180";
    } else if (!(region.cost_factor > 0) || !std::isfinite(region.cost_factor)) {
      problem = "costFactor: must be a number above 0";
    } else if (std::string why = url_problem(region.origin); !why.empty()) {
      return (Text() << where << "origin: " << why).invalid();
    } else if (region.origin.find_first_of("?#") != std::string::npos) {
      problem = "origin: must not have a query or fragment (request paths are appended to it)";
    } else if (std::string why = url_problem(region.health_url); !why.empty()) {
      return (Text() << where << "healthUrl: " << why).invalid();
    } else if (region.media_nodes.size() > 1000) {
      problem = "mediaNodes: at most 1000 nodes per region";
    }
    if (problem) return (Text() << where << problem).invalid();
    any_serving = any_serving || !region.draining;
    most_nodes = std::max(most_nodes, region.media_nodes.size());
    std::unordered_set<std::string_view> node_ids;
    for (size_t n = 0; n < region.media_nodes.size(); ++n) {
      const MediaNode& node = region.media_nodes[n];
      Text node_at;
      node_at << where << "mediaNodes[";
      node_at.count(static_cast<int64_t>(n)) << "].";
      const std::string node_where = node_at.take();
      if (auto s = check_id(node_where + "id", node.id, 128); !s.ok()) return s;
      if (auto s = check_new_id(node_ids, node_where, node.id); !s.ok()) return s;
      if (!(node.weight > 0) || !std::isfinite(node.weight)) {
        return (Text() << node_where << "weight: must be a number above 0").invalid();
      }
    }
  }
  if (!any_serving) {
    return invalid_input("regions: every region is draining; at least one must take traffic");
  }
  // Checked with rendezvous hashing in force too: a size Maglev cannot use is wrong either
  // way, and a configuration that only switched the algorithm would be refused for it.
  if (!is_prime(config.maglev_table_size) ||
      config.maglev_table_size <= static_cast<double>(most_nodes)) {
    Text text;
    text << "affinity.maglevTableSize: must be a prime above the largest node count (";
    text.count(static_cast<int64_t>(most_nodes)) << "), got ";
    return text.number(config.maglev_table_size).invalid();
  }
  if (config.outlier.max_ejection_ms < config.outlier.base_ejection_ms) {
    return invalid_input("outlierDetection.maxEjectionMs: must be at least baseEjectionMs");
  }
  // The grid's cells are counted from longitude 0 both ways; unless 180 is a whole number of
  // them, the last cells east and west overlap across the antimeridian (7: 175..182 and
  // -182..-175), and the strip between them falls into two narrower cells. (Dividing 360 is
  // not enough: 8's end with 176..184 and -184..-176.) Latitudes do not wrap: a row the pole
  // cuts short is only smaller.
  const double cells = 180 / config.latency.area_cell_degrees;
  if (cells != std::floor(cells)) {
    Text text;
    text << "latency.areaCellDegrees: must divide 180, so that the cells counted east and west "
            "of longitude 0 meet at the antimeridian, got ";
    return text.number(config.latency.area_cell_degrees).invalid();
  }
  return ok_status();
}

// ---- hashing -----------------------------------------------------------------------------------

uint64_t hash_id(std::string_view id) {
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a offset basis
  for (unsigned char c : id) {
    hash ^= c;
    hash *= 0x100000001b3ull;  // FNV-1a prime
  }
  return mix64(hash);
}

namespace {

// A node's rendezvous score for a key: weight / -ln(u), u uniform in (0, 1) from the pair.
double rendezvous_score(uint64_t node_hash, double weight, uint64_t key_hash) {
  const uint64_t h = mix64(node_hash ^ key_hash);
  const double u = (static_cast<double>(h >> 11) + 0.5) * 0x1.0p-53;
  return weight / -natural_log(u);
}

}  // namespace

int rendezvous_pick(uint64_t key_hash, std::span<const HashNode> nodes) {
  int best = -1;
  double best_score = -kInfinity;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const double score = rendezvous_score(nodes[i].hash, nodes[i].weight, key_hash);
    if (score > best_score) {
      best_score = score;
      best = static_cast<int>(i);
    }
  }
  return best;
}

void MaglevTable::build(std::span<const HashNode> nodes, uint32_t size) {
  table_.clear();
  const size_t n = nodes.size();
  if (n == 0 || size <= n || n >= 0xFFFF) return;
  constexpr uint16_t kEmpty = 0xFFFF;
  table_.assign(size, kEmpty);
  double heaviest = 0;
  for (const HashNode& node : nodes) heaviest = std::max(heaviest, node.weight);
  // Weighted as in the paper (section 3.4): the heaviest nodes take a slot every round, a
  // node of a third of that weight every third round. A turn is (round, node index): the
  // nodes due in one round fill in index order, so equal weights take turns as unweighted.
  struct Turn {
    double round;
    uint32_t node;
    bool operator>(const Turn& other) const {
      return round != other.round ? round > other.round : node > other.node;
    }
  };
  std::priority_queue<Turn, std::vector<Turn>, std::greater<Turn>> turns;
  std::vector<uint32_t> offset(n), skip(n), next(n, 0);
  std::vector<double> share(n), taken(n, 0);
  for (size_t i = 0; i < n; ++i) {
    offset[i] = static_cast<uint32_t>(nodes[i].hash % size);
    skip[i] = static_cast<uint32_t>(mix64(nodes[i].hash ^ 0x9e3779b97f4a7c15ull) % (size - 1) + 1);
    share[i] = nodes[i].weight / heaviest;  // (0, 1], exactly 1 for the heaviest
    turns.push({1, static_cast<uint32_t>(i)});
  }
  for (uint32_t filled = 0; filled < size; ++filled) {
    const Turn turn = turns.top();
    const uint32_t i = turn.node;
    turns.pop();
    uint64_t slot = (offset[i] + uint64_t{next[i]} * skip[i]) % size;
    while (table_[slot] != kEmpty) {
      ++next[i];
      slot = (offset[i] + uint64_t{next[i]} * skip[i]) % size;
    }
    table_[slot] = static_cast<uint16_t>(i);
    ++next[i];
    // Its next turn: the first later round r with r * share >= the turns it has had.
    turns.push({std::max(turn.round + 1, std::ceil(++taken[i] / share[i])), i});
  }
}

int MaglevTable::lookup(uint64_t key_hash) const {
  if (table_.empty()) return -1;
  return table_[key_hash % table_.size()];
}

// ---- retry budget ----------------------------------------------------------------------------

Router::Budget::Bucket& Router::Budget::bucket(double now, double window_ms) {
  const int64_t slot = static_cast<int64_t>(std::floor(now / (window_ms / kBuckets)));
  Bucket& b = buckets_[((slot % kBuckets) + kBuckets) % kBuckets];
  if (b.slot != slot) b = Bucket{slot, 0, 0};
  return b;
}

void Router::Budget::count_request(double now, double window_ms) {
  ++bucket(now, window_ms).requests;
}

BudgetView Router::Budget::view(const RetryBudgetPolicy& policy, double now) const {
  const int64_t slot = static_cast<int64_t>(std::floor(now / (policy.window_ms / kBuckets)));
  BudgetView view;
  for (const Bucket& b : buckets_) {
    if (b.slot > slot - kBuckets && b.slot <= slot) {
      view.requests += b.requests;
      view.retries += b.retries;
    }
  }
  view.allowed = policy.min_retries + policy.percent / 100 * static_cast<double>(view.requests);
  return view;
}

bool Router::Budget::try_retry(const RetryBudgetPolicy& policy, double now) {
  const BudgetView current = view(policy, now);
  if (static_cast<double>(current.retries + 1) > current.allowed) return false;
  ++bucket(now, policy.window_ms).retries;
  return true;
}

// ---- the router
// ----------------------------------------------------------------------------------

Router::Router() : Router(default_config()) {}

Router::Router(Config config) {
  configure(std::move(config));
}

void Router::configure(Config config) {
  constexpr uint32_t kNew = 0xFFFFFFFF;
  const size_t n = config.regions.size();
  Pool regions;
  std::vector<Pool> nodes(n);
  std::vector<uint32_t> previous(n, kNew);  // index of each new region in the old configuration
  for (size_t r = 0; r < n; ++r) {
    const Region& region = config.regions[r];
    const int old = config_.find(region.id);
    previous[r] = old < 0 ? kNew : static_cast<uint32_t>(old);
    regions.hosts.emplace_back();
    if (old >= 0) regions.hosts.back() = regions_.hosts[old];
    regions.hosts.back().id = region.id;
    regions.hosts.back().cos_latitude = cos_latitude(region.location);
    for (const MediaNode& node : region.media_nodes) {
      nodes[r].hosts.emplace_back();
      HostState& state = nodes[r].hosts.back();
      if (old >= 0) {
        for (const HostState& before : nodes_[old].hosts) {
          if (before.id == node.id) state = before;
        }
      }
      state.id = node.id;
      state.hash = hash_id(node.id);
    }
    nodes[r].maglev_hosts.clear();  // rebuilt on first use
  }
  for (AreaStats& stats : areas_) {
    std::vector<Ewma> remapped(n);
    int incumbent = -1;  // a region removed has no successor: the next decision is free
    for (size_t r = 0; r < n; ++r) {
      if (previous[r] == kNew) continue;
      remapped[r] = stats.regions[previous[r]];
      if (static_cast<int>(previous[r]) == stats.incumbent) incumbent = static_cast<int>(r);
    }
    stats.regions = std::move(remapped);
    stats.incumbent = incumbent;
  }
  config_ = std::move(config);
  // The width as the configuration reads back (the shortest of %.15g and %.17g that reads as
  // the same number): "0.25", "10", and what a width such as 180 / 7 needs, in full.
  JsonWriter width;
  width.value(config_.latency.area_cell_degrees);
  const std::string& written = width.str();
  const size_t point = written.find('.');
  cell_decimals_ = point == std::string::npos ? 0 : written.size() - point - 1;
  cell_digits_.clear();
  for (char c : written) {
    if (c >= '0' && c <= '9') cell_digits_ += c;
  }
  regions_ = std::move(regions);
  nodes_ = std::move(nodes);
  // A lower maximum shortens the ejections running (none lasts longer than it from its start)
  // and lowers the times-ejected counts to where it stops them, as a shared ejection's count
  // is: a count grown under the old maximum would hold a host to the longest ejection for as
  // many decay intervals back in service.
  const auto cap = [this](HostState& host) {
    host.times_ejected = capped_count(host.times_ejected);
    if (host.health != Health::kEjected) return;
    host.ejected_until =
        std::min(host.ejected_until, host.ejected_at + config_.outlier.max_ejection_ms);
  };
  for (HostState& host : regions_.hosts) cap(host);
  for (Pool& pool : nodes_) {
    for (HostState& host : pool.hosts) cap(host);
  }
}

ResolvedClient Router::resolve(const Client& client) const {
  ResolvedClient resolved;
  if (client.coordinates) {
    resolved.location = client.coordinates;
    resolved.source = LocationSource::kCoordinates;
  } else if (auto centre = country_location(client.country)) {
    resolved.location = centre;
    resolved.source = LocationSource::kCountry;
  } else if (config_.default_location) {
    resolved.location = config_.default_location;
    resolved.source = LocationSource::kDefault;
  }
  if (!client.area.empty()) {
    resolved.area = client.area;
  } else if (client.coordinates) {
    // The grid cell, named by its south-west corner: "geo:50,-10" (the width divides 180, so
    // the cells meet at the antimeridian). Longitudes 180 and -180 are one meridian, so one
    // area: -180's. A pole is one point whatever the longitude, so one area: the cell at -180
    // of the row it ends (the north pole's is the last row, none north of it).
    const GeoPoint& point = *client.coordinates;
    const bool pole = std::fabs(point.latitude) >= 90;
    const double longitude = pole || point.longitude >= 180 ? -180 : point.longitude;
    double row = cell_of(point.latitude);
    if (row * config_.latency.area_cell_degrees >= 90) --row;
    Text area;
    area << "geo:" << corner(row) << "," << corner(cell_of(longitude));
    resolved.area = area.take();
  } else if (!client.country.empty()) {
    resolved.area = "country:" + client.country;
  } else {
    resolved.area = "unknown";
  }
  return resolved;
}

double Router::cell_of(double degrees) const {
  // The quotient's floor, unless the binary rounding of the width or of the division put it a
  // cell off a corner as its name reads: 0.3 / 0.1 is 2.9999999999999996, but 0.3 is where
  // the cell named 0.3 begins. Only within a millionth of a cell of a corner is the name read.
  const double cell = config_.latency.area_cell_degrees;
  const double index = std::floor(degrees / cell);
  const double offset = degrees - index * cell;
  if (offset < cell * 1e-6 && corner_degrees(index) > degrees) return index - 1;
  if (offset > cell * (1 - 1e-6) && corner_degrees(index + 1) <= degrees) return index + 1;
  return index;
}

double Router::corner_degrees(double index) const {
  return parse_json_number(corner(index)).value_or(index * config_.latency.area_cell_degrees);
}

std::string Router::corner(double index) const {
  // The width's digits times the index, in decimal, and the point put back as many digits
  // from the end as the width has decimals: 0.25 x 203 is "50.75", with no binary rounding of
  // index x width on the way (rounded to one decimal, 0.25's corners read "50.3" for 50.25).
  const uint64_t times = static_cast<uint64_t>(std::fabs(index));
  std::string digits;  // least significant first
  uint64_t carry = 0;
  for (auto digit = cell_digits_.rbegin(); digit != cell_digits_.rend(); ++digit) {
    carry += static_cast<uint64_t>(*digit - '0') * times;
    digits += static_cast<char>('0' + carry % 10);
    carry /= 10;
  }
  for (; carry > 0; carry /= 10) digits += static_cast<char>('0' + carry % 10);
  while (digits.size() > cell_decimals_ + 1 && digits.back() == '0') digits.pop_back();
  while (digits.size() < cell_decimals_ + 1) digits += '0';
  std::string text = index < 0 ? "-" : "";
  for (size_t i = digits.size(); i-- > 0;) {
    text += digits[i];
    if (i == cell_decimals_ && i > 0) text += '.';
  }
  return text;
}

void Router::refresh(HostState& host, bool probed, double now) const {
  // When the host is back: at the end of its ejection, not at whatever later call first
  // notices it, so that the decay below does not depend on when the router is next asked.
  double back_at = now;
  if (host.health == Health::kEjected && now >= host.ejected_until) {
    host.health = Health::kProbing;
    back_at = host.ejected_until;
  }
  if ((host.health == Health::kProbing || host.health == Health::kUnhealthy) && !probed) {
    // Without health checks an ejection simply ends (Envoy's behaviour), and the verdict of
    // checks that no longer run does not hold: only a passing check could lift it.
    host.health = Health::kHealthy;
    host.check_failures = 0;
    host.in_service_since = back_at;
    host.returned_at = back_at;
    host.cause.clear();
    host.shared = false;
  }
  const double decay = config_.outlier.decay_interval_ms;
  if (host.health == Health::kHealthy && host.times_ejected > 0 && decay > 0) {
    const double steps = std::floor((now - host.in_service_since) / decay);
    if (steps >= 1) {
      host.times_ejected =
          steps >= host.times_ejected ? 0 : host.times_ejected - static_cast<int>(steps);
      host.in_service_since += steps * decay;
    }
  }
}

bool Router::ejection_allowed(Pool& pool, size_t index, bool probed, double now) {
  size_t ejected = 0;
  for (size_t i = 0; i < pool.hosts.size(); ++i) {
    if (i == index) continue;
    refresh(pool.hosts[i], probed, now);
    const Health health = pool.hosts[i].health;
    if (health == Health::kEjected || health == Health::kProbing) ++ejected;
  }
  // As Envoy: the first ejection always happens; more only within max_ejection_percent.
  if (ejected == 0) return true;
  return static_cast<double>(ejected + 1) * 100 <=
         config_.outlier.max_ejection_percent * static_cast<double>(pool.hosts.size());
}

double Router::ejection_ms(int times_ejected) const {
  const OutlierPolicy& policy = config_.outlier;
  const double factor = policy.exponential_backoff
                            ? std::ldexp(1.0, std::min(times_ejected - 1, 60))
                            : static_cast<double>(times_ejected);
  return std::min(policy.max_ejection_ms, policy.base_ejection_ms * factor);
}

// The count grows only while its ejection is shorter than the longest (as Envoy's
// multiplier; and to 1000 at most, what a shared ejection may say): a region down for hours
// is not held to the longest ejection for as many decay intervals after it recovers.
bool Router::count_grows(int times_ejected) const {
  return times_ejected == 0 ||
         (times_ejected < 1000 && ejection_ms(times_ejected) < config_.outlier.max_ejection_ms);
}

int Router::capped_count(int times_ejected) const {
  int count = 0;
  while (count < times_ejected && count_grows(count)) ++count;
  return count;
}

bool Router::eject(Pool& pool, size_t index, bool probed, std::string cause, bool capped,
                   double now) {
  if (capped && !ejection_allowed(pool, index, probed, now)) return false;
  HostState& host = pool.hosts[index];
  if (count_grows(host.times_ejected)) ++host.times_ejected;
  host.health = Health::kEjected;
  host.ejected_at = now;
  host.ejected_until = now + ejection_ms(host.times_ejected);
  host.known_until = host.ejected_until;
  host.cause = std::move(cause);
  host.shared = false;
  host.consecutive_failures = 0;
  host.check_successes = 0;
  return true;
}

HostHealthView Router::view(HostState& host, bool probed, double now) const {
  refresh(host, probed, now);
  HostHealthView view;
  view.health = host.health;
  view.consecutive_failures = host.consecutive_failures;
  view.times_ejected = host.times_ejected;
  view.ejected_until = host.health == Health::kEjected ? host.ejected_until : 0;
  view.cause = host.cause;
  view.shared = host.shared;
  return view;
}

HostHealthView Router::region_health(uint32_t region, double now) {
  return view(regions_.hosts[region], config_.health_check.enabled, now);
}

HostHealthView Router::node_health(uint32_t region, uint32_t node, double now) {
  return view(nodes_[region].hosts[node], false, now);
}

Router::CheckView Router::last_check(uint32_t region) const {
  const HostState& host = regions_.hosts[region];
  return {host.last_check_at, host.last_check_ok, host.check_failures, host.last_check_detail};
}

bool Router::routable(uint32_t region, double now) {
  refresh(regions_.hosts[region], config_.health_check.enabled, now);
  return !config_.regions[region].draining && regions_.hosts[region].health == Health::kHealthy;
}

// Envoy's panic mode: below the threshold of healthy hosts, health is presumed wrong (or
// the few healthy ones would be overwhelmed), and every host serving traffic is used.
bool Router::panic(double now) {
  size_t serving = 0, healthy = 0;
  for (uint32_t r = 0; r < config_.regions.size(); ++r) {
    if (config_.regions[r].draining) continue;
    ++serving;
    if (routable(r, now)) ++healthy;
  }
  return in_panic(healthy, serving);
}

// Below panic_threshold_percent of the hosts serving traffic healthy (or none at all):
// the rule for regions and for a region's media nodes alike.
bool Router::in_panic(size_t healthy, size_t serving) const {
  return healthy == 0 ||
         static_cast<double>(healthy) * 100 < config_.panic_threshold_percent * serving;
}

BudgetView Router::budget(double now) const {
  return budget_.view(config_.retry_budget, now);
}

Router::AreaStats* Router::find_area(std::string_view area) {
  auto at = std::lower_bound(
      areas_.begin(), areas_.end(), area,
      [](const AreaStats& stats, std::string_view key) { return stats.area < key; });
  return at != areas_.end() && at->area == area ? &*at : nullptr;
}

Router::AreaStats& Router::area_stats(const std::string& area, double now) {
  AreaStats* found = find_area(area);
  if (!found) {
    while (static_cast<double>(areas_.size()) >= config_.latency.max_areas) {
      // Forget the area seen least recently: a rare linear scan keeps the list small. (More
      // than one when maxAreas was lowered since.)
      auto oldest = areas_.begin();
      for (auto it = areas_.begin(); it != areas_.end(); ++it) {
        if (it->seen_at < oldest->seen_at) oldest = it;
      }
      areas_.erase(oldest);
    }
    auto at = std::lower_bound(
        areas_.begin(), areas_.end(), area,
        [](const AreaStats& stats, const std::string& key) { return stats.area < key; });
    found =
        &*areas_.insert(at, AreaStats{area, std::vector<Ewma>(config_.regions.size()), now, -1});
  }
  found->seen_at = now;
  return *found;
}

RegionLatency Router::latency_of(const ResolvedClient& client, double client_cos_latitude,
                                 uint32_t region, const AreaStats* area, double now) const {
  const LatencyPolicy& policy = config_.latency;
  RegionLatency latency;
  if (client.location) {
    latency.distance_km =
        haversine_km(*client.location, client_cos_latitude, config_.regions[region].location,
                     regions_.hosts[region].cos_latitude);
    latency.estimate_ms = policy.base_rtt_ms + latency.distance_km / 1000 * policy.ms_per_1000_km;
  }
  // RTTs learned before the region last returned to service describe the outage, not the
  // region now: it starts again from its prior.
  if (area && area->regions[region].samples > 0 &&
      area->regions[region].updated_at >= regions_.hosts[region].returned_at) {
    const Ewma& ewma = area->regions[region];
    latency.measured_ms = ewma.value;
    latency.samples = ewma.samples;
    // An EWMA nobody refreshed relaxes towards the prior: a region that lost its traffic
    // because it was slow is tried again once its bad measurement has aged.
    const double weight = freshness(now - ewma.updated_at, policy.stale_half_life_ms);
    if (weight >= kForgetWeight) {
      latency.source = LatencySource::kMeasured;
      latency.latency_ms = latency.estimate_ms >= 0
                               ? latency.estimate_ms + (ewma.value - latency.estimate_ms) * weight
                               : ewma.value;
    }
  }
  if (latency.source == LatencySource::kNone && latency.estimate_ms >= 0) {
    latency.source = LatencySource::kDistance;
    latency.latency_ms = latency.estimate_ms;
  }
  return latency;
}

// Orders the candidates: repeatedly, the fastest remaining region, unless a cheaper one is
// within the near-tie tolerance of it (then the cheapest of those; equal costs go to the
// faster, equal both to the earlier in the configuration). Regions without any latency
// follow in configuration order (the failover order). The favoured region, if any, competes
// with its latency less the margin.
void Router::rank(const std::vector<RegionView>& views, int favoured, double margin,
                  std::vector<uint32_t>& order, int& cheaper_than) const {
  const double tolerance = config_.latency.near_tie_tolerance;
  const auto latency = [&](uint32_t r) {
    const double ms = views[r].latency.latency_ms;
    return static_cast<int>(r) == favoured ? std::max(0.0, ms - margin) : ms;
  };
  std::vector<uint32_t> remaining;
  for (uint32_t r = 0; r < views.size(); ++r) {
    if (views[r].candidate) remaining.push_back(r);
  }
  order.clear();
  cheaper_than = -1;
  while (!remaining.empty()) {
    size_t fastest = remaining.size();  // index into remaining
    for (size_t i = 0; i < remaining.size(); ++i) {
      if (views[remaining[i]].latency.source == LatencySource::kNone) continue;
      if (fastest == remaining.size() || latency(remaining[i]) < latency(remaining[fastest])) {
        fastest = i;
      }
    }
    size_t pick = 0;
    if (fastest < remaining.size()) {
      const double limit = latency(remaining[fastest]) * (1 + tolerance);
      pick = fastest;
      for (size_t i = 0; i < remaining.size(); ++i) {
        if (views[remaining[i]].latency.source == LatencySource::kNone ||
            latency(remaining[i]) > limit) {
          continue;
        }
        const double cost = config_.regions[remaining[i]].cost_factor;
        const double best_cost = config_.regions[remaining[pick]].cost_factor;
        if (cost < best_cost ||
            (cost == best_cost && latency(remaining[i]) < latency(remaining[pick]))) {
          pick = i;
        }
      }
      if (order.empty() && pick != fastest) cheaper_than = static_cast<int>(remaining[fastest]);
    }
    order.push_back(remaining[pick]);
    remaining.erase(remaining.begin() + static_cast<std::ptrdiff_t>(pick));
  }
}

Decision Router::route(const Client& client, double now, bool count_request) {
  Decision decision;
  decision.client = resolve(client);
  const size_t n = config_.regions.size();
  AreaStats* area = find_area(decision.client.area);
  if (area) area->seen_at = now;
  decision.regions.resize(n);
  const double client_cos_latitude =
      decision.client.location ? cos_latitude(*decision.client.location) : 0;
  size_t serving = 0, healthy = 0;
  for (uint32_t r = 0; r < n; ++r) {
    RegionView& view = decision.regions[r];
    refresh(regions_.hosts[r], config_.health_check.enabled, now);
    view.health = regions_.hosts[r].health;
    view.latency = latency_of(decision.client, client_cos_latitude, r, area, now);
    if (config_.regions[r].draining) continue;
    ++serving;
    if (view.health == Health::kHealthy) ++healthy;
  }
  decision.panic = in_panic(healthy, serving);
  for (uint32_t r = 0; r < n; ++r) {
    decision.regions[r].candidate =
        !config_.regions[r].draining &&
        (decision.panic || decision.regions[r].health == Health::kHealthy);
  }
  rank(decision.regions, -1, 0, decision.order, decision.cheaper_than);
  // Hysteresis: the area's incumbent stays first unless the winner beats it by more than the
  // switch margin, i.e. unless it would lose even with its latency less the margin. Only
  // between healthy regions (no panic) and only for an incumbent still a candidate: one that
  // is ejected, unhealthy or draining is left at once.
  const int incumbent = area ? area->incumbent : -1;
  if (incumbent >= 0 && !decision.panic && incumbent != static_cast<int>(decision.optimal()) &&
      decision.regions[incumbent].candidate &&
      decision.regions[incumbent].latency.source != LatencySource::kNone) {
    const double margin =
        std::max(config_.latency.switch_margin * decision.regions[incumbent].latency.latency_ms,
                 config_.latency.switch_margin_ms);
    std::vector<uint32_t> order;
    int cheaper_than = -1;
    if (margin > 0) rank(decision.regions, incumbent, margin, order, cheaper_than);
    if (!order.empty() && static_cast<int>(order.front()) == incumbent) {
      decision.kept_over = static_cast<int>(decision.optimal());
      decision.switch_margin_ms = margin;
      decision.order = std::move(order);
      decision.cheaper_than = -1;
    }
  }
  if (area) area->incumbent = static_cast<int>(decision.optimal());
  if (count_request) budget_.count_request(now, config_.retry_budget.window_ms);

  const Region& region = config_.regions[decision.optimal()];
  const RegionLatency& latency = decision.regions[decision.optimal()].latency;
  Text reason;
  if (decision.panic) {
    reason << "panic: ";
    reason.count(static_cast<int64_t>(healthy)) << " of ";
    reason.count(static_cast<int64_t>(serving)) << " regions healthy, below the threshold of ";
    reason.number(config_.panic_threshold_percent) << "%, so every region is a candidate; ";
  }
  reason << region.id;
  const bool kept = decision.kept_over >= 0;
  if (kept) reason << " stays the region for " << decision.client.area << " (its last choice)";
  // A region that won a near-tie on cost is not the fastest; one whose estimate beat a
  // nearer region's (slower) measured RTT is not the nearest; a region kept is neither.
  const bool near_tie = decision.cheaper_than >= 0 || kept;
  bool nearest = !near_tie;
  for (const RegionView& other : decision.regions) {
    if (other.candidate && other.latency.distance_km >= 0 &&
        other.latency.distance_km < latency.distance_km) {
      nearest = false;
    }
  }
  switch (latency.source) {
    case LatencySource::kMeasured:
      decision.strategy = Strategy::kLatencyBased;
      if (kept) {
        reason << ": measured RTT ";
      } else {
        reason << (near_tie ? "'s measured RTT from " : " has the lowest measured RTT from ")
               << decision.client.area << ": ";
      }
      reason.fixed(latency.latency_ms) << " ms (EWMA of ";
      reason.count(latency.samples) << (latency.samples == 1 ? " sample)" : " samples)");
      break;
    case LatencySource::kDistance:
      decision.strategy = Strategy::kGeoProximity;
      if (region.name != region.id) reason << " (" << region.name << ")";
      reason << (nearest    ? " is the nearest: "
                 : near_tie ? ": "
                            : " has the lowest RTT estimate: ");
      reason.fixed(latency.distance_km, 0)
          << " km from the client's " << location_source_name(decision.client.source) << ", about ";
      reason.fixed(latency.latency_ms)
          << " ms; no RTT measured from " << decision.client.area << " yet";
      break;
    case LatencySource::kNone:
      decision.strategy = Strategy::kFailoverOrder;
      reason << " is first in the failover order: no client location and no RTT measured from "
             << decision.client.area;
      break;
  }
  if (decision.cheaper_than >= 0) {
    const uint32_t fast = static_cast<uint32_t>(decision.cheaper_than);
    reason << "; preferred to " << config_.regions[fast].id << " (";
    reason.fixed(decision.regions[fast].latency.latency_ms) << " ms) for its lower cost factor (";
    reason.number(region.cost_factor) << " vs ";
    reason.number(config_.regions[fast].cost_factor) << ") within the ";
    reason.number(config_.latency.near_tie_tolerance * 100) << "% near-tie tolerance";
  }
  if (kept) {
    const uint32_t winner = static_cast<uint32_t>(decision.kept_over);
    reason << "; " << config_.regions[winner].id << " (";
    reason.fixed(decision.regions[winner].latency.latency_ms)
        << " ms) would rank first, but not by more than the switch margin of ";
    reason.fixed(decision.switch_margin_ms) << " ms (the larger of ";
    reason.number(config_.latency.switch_margin * 100) << "% of the incumbent's latency and ";
    reason.number(config_.latency.switch_margin_ms) << " ms)";
  }
  bool first = true;
  for (uint32_t r = 0; r < n; ++r) {
    if (decision.regions[r].candidate) continue;
    reason << (first ? "; excluded: " : ", ") << config_.regions[r].id << " ("
           << (config_.regions[r].draining ? "draining" : health_name(decision.regions[r].health))
           << ")";
    first = false;
  }
  decision.reason = reason.take();
  return decision;
}

Result<ObserveResult> Router::observe(const Observation& observation, double now) {
  // Refused as router.observe's field table refuses it, in the same words: an RTT outside 0 to
  // kMaxRttMs (negative, NaN, infinite) measures nothing, and the observation is not counted
  // without it.
  if (!(observation.rtt_ms >= 0 && observation.rtt_ms <= kMaxRttMs)) {
    Text problem;
    problem << "rttMs: must be between ";
    problem.number(0) << " and ";
    problem.number(kMaxRttMs) << ", got ";
    return problem.number(observation.rtt_ms).invalid();
  }
  const int region = config_.find(observation.region);
  if (region < 0) {
    return not_found((Text() << "region: unknown region '" << observation.region
                             << "' (known: " << config_.region_names() << ")")
                         .take());
  }
  Pool* pool = &regions_;
  size_t index = static_cast<size_t>(region);
  bool probed = config_.health_check.enabled;
  if (!observation.node.empty()) {
    const auto& nodes = config_.regions[region].media_nodes;
    index = nodes.size();
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i].id == observation.node) index = i;
    }
    if (index == nodes.size()) {
      return not_found((Text() << "node: unknown media node '" << observation.node
                               << "' in region '" << observation.region << "'")
                           .take());
    }
    pool = &nodes_[region];
    probed = false;  // media nodes have no active checks: their ejections simply end
  }
  HostState& host = pool->hosts[index];
  refresh(host, probed, now);
  ObserveResult result;
  // A timeout fails whatever the status: the body can time out after a 200's headers.
  const bool failure =
      observation.timed_out || observation.status == 0 || observation.status >= 500;

  // Learn the RTT: from answers, and from timeouts (the region is at least that slow). A
  // fast connection failure says nothing about latency.
  if (observation.node.empty() && !observation.area.empty() &&
      (!failure || observation.timed_out)) {
    Ewma& ewma = area_stats(observation.area, now).regions[region];
    if (ewma.updated_at < regions_.hosts[region].returned_at) ewma = Ewma{};
    if (ewma.samples == 0) {
      ewma.value = observation.rtt_ms;
    } else {
      // A stale value counts less: the new sample's weight grows towards 1 with its age.
      const double keep = (1 - config_.latency.ewma_alpha) *
                          freshness(now - ewma.updated_at, config_.latency.stale_half_life_ms);
      ewma.value = keep * ewma.value + (1 - keep) * observation.rtt_ms;
    }
    ewma.updated_at = now;
    ++ewma.samples;
    result.ewma_ms = ewma.value;
    result.samples = ewma.samples;
  }

  if (!failure) {
    host.consecutive_failures = 0;
  } else if (host.health == Health::kHealthy) {
    ++host.consecutive_failures;
    if (host.consecutive_failures >= config_.outlier.consecutive_failures) {
      Text cause;
      cause.count(host.consecutive_failures) << " consecutive failures (last: ";
      describe_failure(cause, observation);
      cause << ")";
      if (eject(*pool, index, probed, cause.take(), true, now)) {
        result.ejected_now = true;
      } else {
        // As Envoy: the count restarts once the detector has decided, ejected or not, so a
        // host the cap kept in needs as many failures again, not one, once a slot is free.
        result.ejection_suppressed = true;
        host.consecutive_failures = 0;
      }
    }
  }
  result.host = view(host, probed, now);
  return result;
}

Result<RetryDecision> Router::retry(std::string_view failed, std::span<const std::string> fallbacks,
                                    double now) {
  const int failed_index = config_.find(failed);
  if (failed_index < 0) {
    return not_found((Text() << "failedRegion: unknown region '" << failed
                             << "' (known: " << config_.region_names() << ")")
                         .take());
  }
  std::vector<uint32_t> order;
  for (size_t i = 0; i < fallbacks.size(); ++i) {
    const int index = config_.find(fallbacks[i]);
    if (index < 0) {
      Text text;
      text << "fallbackRegions[";
      text.count(static_cast<int64_t>(i)) << "]: unknown region '" << fallbacks[i] << "'";
      return not_found(text.take());
    }
    order.push_back(static_cast<uint32_t>(index));
  }
  if (fallbacks.empty()) {
    for (uint32_t r = 0; r < config_.regions.size(); ++r) order.push_back(r);
  }
  const bool in_panic = panic(now);
  RetryDecision decision;
  for (uint32_t r : order) {
    if (static_cast<int>(r) == failed_index || config_.regions[r].draining) continue;
    if (in_panic || routable(r, now)) {
      decision.region = static_cast<int>(r);
      break;
    }
  }
  const RetryBudgetPolicy& policy = config_.retry_budget;
  Text reason;
  if (decision.region < 0) {
    reason << "no fallback region is available";
  } else if (!budget_.try_retry(policy, now)) {
    const BudgetView used = budget_.view(policy, now);
    reason << "retry budget exhausted: ";
    reason.count(used.retries) << " retries for ";
    reason.count(used.requests) << " requests in the last ";
    reason.number(policy.window_ms / 1000) << " s (allowed: ";
    reason.number(policy.min_retries) << " + ";
    reason.number(policy.percent) << "%)";
    decision.region = -1;
  } else {
    decision.allowed = true;
    reason << "retry on " << config_.regions[decision.region].id
           << (in_panic ? ", in panic mode" : ", the first healthy fallback");
  }
  decision.reason = reason.take();
  decision.budget = budget_.view(policy, now);
  return decision;
}

namespace {

// How long a probe stays in flight before it is taken as abandoned (its call was freed; the
// module cannot cancel a planned fetch) and its region may be probed again. Its result comes
// only when its whole batch has ended, the reads of the ejections other isolates published
// included (a KV timeout of their own), and after the host's own delays: twice the timeout,
// and 1 s more that a short timeout does not shorten. Any less, and a concurrent
// router.health_check probes a region again while its probe is still on its way.
double probe_abandoned_after(const HealthCheckPolicy& policy) {
  return 2 * policy.timeout_ms + 1000;
}

}  // namespace

std::vector<uint32_t> Router::plan_probes(double now) {
  std::vector<uint32_t> probes;
  const HealthCheckPolicy& policy = config_.health_check;
  if (!policy.enabled) return probes;
  const double stuck_after = probe_abandoned_after(policy);
  for (uint32_t r = 0; r < config_.regions.size(); ++r) {
    HostState& host = regions_.hosts[r];
    refresh(host, true, now);
    if (host.health == Health::kEjected) continue;  // it returns when its ejection ends
    if (host.check_started_at >= 0 && now - host.check_started_at < stuck_after) continue;
    if (host.health != Health::kProbing && now < host.next_check_at) continue;
    host.check_started_at = now;
    host.next_check_at = now + policy.interval_ms;
    probes.push_back(r);
  }
  return probes;
}

bool Router::record_probe(std::string_view region, bool ok, std::string detail, double now) {
  const int index = config_.find(region);
  if (index < 0) return false;
  const HealthCheckPolicy& policy = config_.health_check;
  HostState& host = regions_.hosts[index];
  host.check_started_at = -1;
  host.last_check_at = now;
  host.last_check_ok = ok;
  host.last_check_detail = detail;
  refresh(host, policy.enabled, now);
  if (ok) {
    host.check_failures = 0;
    ++host.check_successes;
    if ((host.health == Health::kProbing || host.health == Health::kUnhealthy) &&
        host.check_successes >= policy.healthy_threshold) {
      host.health = Health::kHealthy;
      host.in_service_since = now;
      host.returned_at = now;
      host.consecutive_failures = 0;
      host.cause.clear();
      host.shared = false;
    }
    return false;
  }
  host.check_successes = 0;
  ++host.check_failures;
  if (host.health == Health::kProbing) {
    // Back out for a longer ejection; it was never back in service, so no cap applies.
    return eject(regions_, static_cast<size_t>(index), true,
                 (Text() << "health check failed after an ejection: " << detail).take(), false,
                 now);
  }
  if (host.health == Health::kHealthy && host.check_failures >= policy.unhealthy_threshold) {
    host.health = Health::kUnhealthy;
    Text cause;
    cause.count(host.check_failures) << " health checks failed in a row (last: " << detail << ")";
    host.cause = cause.take();
  }
  return false;
}

double Router::next_probe_at(double now) {
  if (!config_.health_check.enabled) return kInfinity;
  double next = kInfinity;
  for (HostState& host : regions_.hosts) {
    refresh(host, true, now);
    double due = host.next_check_at;
    if (host.health == Health::kEjected) due = host.ejected_until;
    if (host.health == Health::kProbing) due = now;
    if (host.check_started_at >= 0) {
      due = std::max(due, host.check_started_at + probe_abandoned_after(config_.health_check));
    }
    next = std::min(next, due);
  }
  return std::max(now, next);  // overdue is due now
}

bool Router::apply_shared_ejection(std::string_view region, const SharedEjection& ejection,
                                   double now) {
  const int index = config_.find(region);
  if (index < 0 || !(ejection.until_ms > now)) return false;
  HostState& host = regions_.hosts[index];
  // The same ejection, read again (this isolate's own, published, too): it lasts as long as it
  // was allowed to when it was first known, not another maximum from each read.
  if (ejection.until_ms == host.known_until) return false;
  // Another isolate's word, read from KV: never longer than this isolate would eject for
  // itself, so no stored value (a bad write, a clock far ahead) keeps a region out for good.
  const double until = std::min(ejection.until_ms, now + config_.outlier.max_ejection_ms);
  const bool probed = config_.health_check.enabled;
  refresh(host, probed, now);
  if (host.health == Health::kEjected && host.ejected_until >= until) return false;
  const bool out = host.health == Health::kEjected || host.health == Health::kProbing;
  if (!out && !ejection_allowed(regions_, static_cast<size_t>(index), probed, now)) return false;
  host.health = Health::kEjected;
  host.ejected_at = now;
  host.ejected_until = until;
  host.known_until = ejection.until_ms;
  // Its count, too, goes no further than this isolate's own would (a count another isolate
  // kept growing past the longest ejection would hold this one to it for as long).
  host.times_ejected = std::max(host.times_ejected, capped_count(ejection.times_ejected));
  host.cause = ejection.cause;
  host.shared = true;
  host.consecutive_failures = 0;
  host.check_successes = 0;  // checks passed before it do not count towards its return
  return true;
}

int Router::pick_node(uint32_t region, uint64_t call_hash, bool& panic, double now) {
  const auto& nodes = config_.regions[region].media_nodes;
  Pool& pool = nodes_[region];
  std::vector<uint32_t> eligible;
  size_t serving = 0;
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].draining) continue;
    ++serving;
    refresh(pool.hosts[i], false, now);
    if (pool.hosts[i].health == Health::kHealthy) eligible.push_back(i);
  }
  panic = in_panic(eligible.size(), serving);
  if (panic) {
    eligible.clear();
    for (uint32_t i = 0; i < nodes.size(); ++i) {
      if (!nodes[i].draining) eligible.push_back(i);
    }
  }
  if (eligible.empty()) return -1;
  if (config_.maglev) {
    if (pool.maglev.empty() || pool.maglev_hosts != eligible) {
      std::vector<HashNode> hashed;
      for (uint32_t i : eligible) hashed.push_back({pool.hosts[i].hash, nodes[i].weight});
      pool.maglev.build(hashed, static_cast<uint32_t>(config_.maglev_table_size));
      pool.maglev_hosts = eligible;
    }
    const int slot = pool.maglev.lookup(call_hash);
    return slot < 0 ? -1 : static_cast<int>(eligible[slot]);
  }
  int best = -1;
  double best_score = -kInfinity;
  for (uint32_t i : eligible) {
    const double score = rendezvous_score(pool.hosts[i].hash, nodes[i].weight, call_hash);
    if (score > best_score) {
      best_score = score;
      best = static_cast<int>(i);
    }
  }
  return best;
}

Result<AffinityResult> Router::affinity(const AffinityRequest& request, double now) {
  const uint64_t call_hash = hash_id(request.call_id);
  AffinityResult result;
  Text why;
  std::vector<uint32_t> regions;
  int given = -1;
  if (!request.region.empty()) {
    given = config_.find(request.region);
    if (given < 0) {
      return not_found((Text() << "region: unknown region '" << request.region
                               << "' (known: " << config_.region_names() << ")")
                           .take());
    }
    refresh(regions_.hosts[given], config_.health_check.enabled, now);
    const Health health = regions_.hosts[given].health;
    if (health == Health::kHealthy) {
      regions.push_back(static_cast<uint32_t>(given));  // draining too: calls finish there
    } else {
      why << request.region << " is " << health_name(health) << "; ";
    }
  }
  for (uint32_t r : route(request.client, now).order) {
    if (std::find(regions.begin(), regions.end(), r) == regions.end()) regions.push_back(r);
  }
  for (uint32_t r : regions) {
    const auto& nodes = config_.regions[r].media_nodes;
    result.region = r;
    result.routed = static_cast<int>(r) != given;
    if (!request.current_node.empty() && static_cast<int>(r) == given) {
      // A node no longer configured (taken out of service) is not an error: the call moves.
      const auto current = std::find_if(nodes.begin(), nodes.end(), [&](const MediaNode& node) {
        return node.id == request.current_node;
      });
      if (current == nodes.end()) {
        why << request.current_node << " is not one of " << config_.regions[r].id
            << "'s media nodes; ";
      } else {
        const uint32_t i = static_cast<uint32_t>(current - nodes.begin());
        const Health health = node_health(r, i, now).health;
        if (health == Health::kHealthy) {
          result.node = i;
          result.kept = true;
          why << "the call stays on " << current->id
              << (current->draining ? " (draining: it takes no new calls)" : "");
          result.reason = why.take();
          return result;
        }
        why << request.current_node << " is " << health_name(health) << "; ";
      }
    }
    bool node_panic = false;
    const int node = pick_node(r, call_hash, node_panic, now);
    if (node < 0) {
      why << config_.regions[r].id << " has no media node taking calls; ";
      continue;
    }
    result.node = static_cast<uint32_t>(node);
    why << (config_.maglev ? "Maglev" : "rendezvous") << " hashing of the call id over "
        << config_.regions[r].id << "'s "
        << (node_panic ? "media nodes (panic: too few healthy, so all)" : "healthy media nodes")
        << (result.routed ? ", in the region routing chose" : ", in the call's region");
    result.reason = why.take();
    return result;
  }
  std::string tried = why.take();
  if (tried.size() >= 2 && tried.compare(tried.size() - 2, 2, "; ") == 0)
    tried.resize(tried.size() - 2);
  return Error{
      QV_UNAVAILABLE,
      (Text() << "callId: no region has a media node taking calls (" << tried << ")").take()};
}

}  // namespace qv::router
