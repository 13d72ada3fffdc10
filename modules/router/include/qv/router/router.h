// Global routing: which region serves a client (measured latency, health and cost), which
// region a failed request is retried on (within a retry budget), and which media node
// carries a voice call (consistent hashing).
//
// Pure logic over plain types: every function that depends on time takes `now` (ms since
// the epoch), nothing performs I/O. methods.cpp exposes it through the ABI and does the
// JSON and the KV; config.cpp reads and writes the configuration as JSON.
//
// The behaviour follows the load balancers the brief names (see docs/router.md):
//  - Cloudflare dynamic steering: an EWMA of observed RTT per (client area, region); with
//    no data, a prior (great-circle distance) or the configured failover order.
//  - RPL's parent-switch hysteresis (RFC 6550 section 8.4, MRHOF RFC 6719): an area keeps the
//    region it was last given until another is better by more than a switch margin; one
//    that becomes unusable is left at once.
//  - Envoy outlier detection: consecutive failures eject a host for a back-off that grows
//    with the times it was ejected; at most max_ejection_percent of hosts are ejected (one
//    always may be); below the panic threshold of healthy hosts, route over all of them.
//  - Route 53 health checks: probes on an interval with a timeout and failure thresholds.
//  - Envoy / Finagle retry budgets: retries at most a share of requests in a window.
//  - Rendezvous (highest random weight) and Maglev hashing for call affinity.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qv/hash.h"
#include "qv/result.h"

namespace qv::router {

// ---- geography -------------------------------------------------------------------------

struct GeoPoint {
  double latitude = 0;   // degrees, -90..90
  double longitude = 0;  // degrees, -180..180
};

// Great-circle distance in km (haversine on a sphere of the mean Earth radius, 6371 km).
double great_circle_km(GeoPoint a, GeoPoint b);

// Where clients of a country are placed when only the country is known: the centre of the
// country's part of the world (coarse by design; see countries.cpp). nullopt when the
// ISO 3166-1 alpha-2 code is not known.
std::optional<GeoPoint> country_location(std::string_view country);

// ---- configuration -----------------------------------------------------------------------

struct MediaNode {
  std::string id;  // "us-east-1-media-1"
  double weight = 1;
  bool draining = false;  // no new calls; calls already on it stay
};

struct Region {
  std::string id;    // "us-east-1"
  std::string name;  // "North Virginia"
  GeoPoint location;
  double cost_factor = 1;  // relative cost of serving a request there (1.0 = cheapest)
  std::string origin;      // base URL requests are proxied to
  std::string health_url;  // what the active health check fetches
  bool draining = false;   // no new traffic; calls pinned there stay
  std::vector<MediaNode> media_nodes;
};

// The policies are numbers held as doubles (counts and durations too): config_json.cpp
// reads and writes them through one table.

// How a region's latency is estimated and learned.
struct LatencyPolicy {
  double ewma_alpha = 0.3;            // weight of a new RTT sample in the EWMA
  double stale_half_life_ms = 30000;  // an unrefreshed EWMA relaxes to the prior this fast
  double near_tie_tolerance = 0.10;   // RTTs within 10% of the fastest are a near-tie
  double base_rtt_ms = 5;             // estimate = base + distance x ms_per_1000_km
  double ms_per_1000_km = 15;         // ~2/3 c in fibre, round trip, 1.5x path stretch
  double area_cell_degrees = 10;      // client area from coordinates: a grid cell this wide
                                      // (dividing 180, so the cells meet at the antimeridian)
  double max_areas = 4096;            // areas remembered; the least recently seen go first
  // Hysteresis: the region last chosen for an area stays chosen until another beats it by
  // more than the larger of switch_margin of its latency and switch_margin_ms (both 0: off).
  // Only between healthy regions outside panic: an incumbent that is out is left at once.
  double switch_margin = 0.10;
  double switch_margin_ms = 5;
};

// Passive health (Envoy outlier detection).
struct OutlierPolicy {
  double consecutive_failures = 5;   // 5xx, timeouts or connection failures in a row
  double base_ejection_ms = 30000;   // first ejection
  double max_ejection_ms = 300000;   // longest ejection
  bool exponential_backoff = true;   // base x 2^(n-1); false: base x n (Envoy's formula)
  double max_ejection_percent = 10;  // of a pool; one host may always be ejected
  double decay_interval_ms = 10000;  // times-ejected drops by one per interval back in service
};

// Active health (Route 53 style).
struct HealthCheckPolicy {
  bool enabled = true;
  bool head = false;  // HEAD rather than GET
  double interval_ms = 10000;
  double timeout_ms = 5000;
  double unhealthy_threshold = 3;  // failed checks in a row take a region out
  double healthy_threshold = 1;    // successful checks in a row bring it back
};

// Failover retries at most `percent` of the requests of the last window, plus min_retries.
struct RetryBudgetPolicy {
  double percent = 20;
  double min_retries = 3;
  double window_ms = 10000;
};

struct Config {
  std::vector<Region> regions;  // also the failover order used without any latency data
  LatencyPolicy latency;
  OutlierPolicy outlier;
  double panic_threshold_percent = 50;  // fewer healthy regions than this: route over all
  HealthCheckPolicy health_check;
  RetryBudgetPolicy retry_budget;
  double request_timeout_ms = 5000;  // for proxied requests (the host applies it)
  bool maglev = false;               // call affinity by Maglev rather than rendezvous hashing
  double maglev_table_size = 65537;  // prime; Maglev's paper suggests >= 100 x nodes
  bool share_ejections = true;       // publish ejections through KV to other isolates
  std::optional<GeoPoint> default_location;  // clients without location; none: failover order

  // Index of the region, or -1.
  int find(std::string_view id) const;
  std::string region_names() const;  // "us-east-1, eu-west-1, ..." for messages
};

// The four regions of the spec with the defaults above.
Config default_config();
// The default region of that id (the four of the spec), or nullptr.
const Region* default_region(std::string_view id);

// Checks what the JSON reader cannot: unique ids, at least one region not draining, ...
// Errors name the field ("regions[2].id: ...").
Status validate(const Config& config);
// The one rule for the router's ids: 1 to max letters, digits, '-', '_' or '.', so an id can
// be part of a KV key or an RTT area as it is. Regions take max 64, media nodes and call ids
// 128, and the edge location of x-vercel-id 16.
bool valid_id(std::string_view id, size_t max);
// valid_id as a Status: the error names `where`, the id's path ("regions[2].id"), and says
// "expected 1-MAX letters, digits, '-', '_' or '.', got 'ID'".
Status check_id(std::string_view where, std::string_view id, size_t max);

// ---- clients and decisions ---------------------------------------------------------------

struct Client {
  std::optional<GeoPoint> coordinates;
  std::string country;  // ISO 3166-1 alpha-2, upper case; "" when unknown
  std::string area;     // the host's own area key (e.g. the edge PoP); "" when none
};

enum class LocationSource { kCoordinates, kCountry, kDefault, kNone };
const char* location_source_name(LocationSource source);

// A client as the router sees it: where it is assumed to be, and the area its RTTs are
// learned under (explicit area, else the grid cell of its coordinates, else its country,
// else "unknown").
struct ResolvedClient {
  std::optional<GeoPoint> location;
  LocationSource source = LocationSource::kNone;
  std::string area;
};

enum class Health { kHealthy, kEjected, kProbing, kUnhealthy };
const char* health_name(Health health);

enum class LatencySource { kMeasured, kDistance, kNone };
const char* latency_source_name(LatencySource source);

struct RegionLatency {
  double latency_ms = 0;  // what the ranking uses; meaningless when source is kNone
  LatencySource source = LatencySource::kNone;
  double distance_km = -1;  // -1: the client's location is unknown
  double estimate_ms = -1;  // the distance prior; -1 when unknown
  double measured_ms = -1;  // the EWMA as last updated; -1 when never measured
  int64_t samples = 0;
};

enum class Strategy { kLatencyBased, kGeoProximity, kFailoverOrder };
const char* strategy_name(Strategy strategy);

// What a decision saw of one region.
struct RegionView {
  RegionLatency latency;
  Health health = Health::kHealthy;
  bool candidate = false;  // considered for this decision
};

struct Decision {
  std::vector<uint32_t> order;      // candidates by preference: optimal, then fallbacks
  std::vector<RegionView> regions;  // per region of the configuration, by index
  Strategy strategy = Strategy::kFailoverOrder;
  bool panic = false;
  int cheaper_than = -1;  // the faster region the optimal one won a near-tie against, or -1
  // The region the ranking put first when the optimal one, the area's incumbent, was kept
  // because it was not beaten by more than the switch margin; -1 when not kept.
  int kept_over = -1;
  double switch_margin_ms = 0;  // the margin the incumbent was kept by (when kept_over >= 0)
  ResolvedClient client;
  std::string reason;

  uint32_t optimal() const { return order.front(); }
};

// ---- observations, health, retries ---------------------------------------------------------

// The longest RTT an observation may report (an hour); router.observe's rttMs takes 0 to it.
constexpr double kMaxRttMs = 3600000;

struct Observation {
  std::string region;
  std::string area;   // the decision's client area; "" learns no RTT
  std::string node;   // a media node of the region; "" for the region itself
  double rtt_ms = 0;  // 0 to kMaxRttMs
  int status = 0;     // HTTP status; 0 when no response came (connection failure, timeout)
  bool timed_out = false;
};

struct HostHealthView {
  Health health = Health::kHealthy;
  int consecutive_failures = 0;
  int times_ejected = 0;
  double ejected_until = 0;  // 0 when not ejected
  std::string cause;         // why it is out, "" when healthy
  bool shared = false;       // the ejection came from another isolate through KV
};

struct ObserveResult {
  HostHealthView host;
  bool ejected_now = false;          // this observation ejected it
  bool ejection_suppressed = false;  // it would have been, but max_ejection_percent is reached
  std::optional<double> ewma_ms;     // the area's EWMA for the region after this sample
  int64_t samples = 0;
};

struct BudgetView {
  int64_t requests = 0;  // counted in the window
  int64_t retries = 0;
  double allowed = 0;  // retries the window allows: min_retries + percent x requests
};

struct RetryDecision {
  bool allowed = false;
  int region = -1;  // the region to retry on when allowed
  std::string reason;
  BudgetView budget;
};

// An ejection another isolate published (see docs/router.md, "Shared through KV").
struct SharedEjection {
  double until_ms = 0;
  int times_ejected = 1;
  std::string cause;
};

struct AffinityRequest {
  std::string call_id;
  std::string region;        // the region the call was placed in; "" to choose one
  std::string current_node;  // the node the call is on; "" for a new call
  Client client;             // for choosing a region
};

struct AffinityResult {
  uint32_t region = 0;
  uint32_t node = 0;    // index into the region's media_nodes
  bool kept = false;    // the call stays on current_node
  bool routed = false;  // the region was chosen by route() rather than given
  std::string reason;
};

// ---- consistent hashing ----------------------------------------------------------------------

// A 64-bit hash of an id: FNV-1a, then the SplitMix64 finaliser (qv::mix64) for avalanche.
uint64_t hash_id(std::string_view id);

struct HashNode {
  uint64_t hash;  // hash_id(node id)
  double weight;  // > 0
};

// Weighted rendezvous (highest random weight) hashing: the node with the largest
// weight / -ln(u), u uniform in (0, 1) from the pair (node, key). Removing a node moves
// exactly the keys it had. Returns an index into nodes, -1 when empty; ties go to the
// lower index.
int rendezvous_pick(uint64_t key_hash, std::span<const HashNode> nodes);

// Maglev's lookup table (Eisenbud et al., NSDI 2016): each node fills its preferred slots
// in turn by its own permutation (offset, skip) until the table is full. O(1) lookups;
// removing a node moves its keys and a few more. A node's share of the slots is its share
// of the weight.
class MaglevTable {
 public:
  // size must be prime and larger than the node count.
  void build(std::span<const HashNode> nodes, uint32_t size);
  // Index into the nodes of build(), -1 when built with none.
  int lookup(uint64_t key_hash) const;
  bool empty() const { return table_.empty(); }

 private:
  std::vector<uint16_t> table_;
};

// ---- the router --------------------------------------------------------------------------------

// The state one isolate keeps: the configuration, the health of every region and media
// node, the RTTs learned per (area, region), and the retry budget.
class Router {
 public:
  Router();
  explicit Router(Config config);

  // Replaces the configuration. Health and RTTs are kept for regions (and nodes) whose id
  // remains; new ones start healthy and unmeasured. An ejection running ends no later than
  // the new max_ejection_ms after it began, and a times-ejected count goes no higher than the
  // new policy lets it grow.
  void configure(Config config);
  const Config& config() const { return config_; }

  ResolvedClient resolve(const Client& client) const;

  // The decision for a client. count_request also counts one request in the retry budget. The
  // region chosen becomes the incumbent of the client's area, if RTTs are learned for it.
  Decision route(const Client& client, double now, bool count_request = false);

  // What one origin response (or failure) says about a region or node: learns the RTT,
  // counts consecutive failures, ejects. INVALID_INPUT for an RTT that is not 0 to kMaxRttMs
  // (negative, NaN, infinite), in router.observe's words; NOT_FOUND for an unknown region or
  // node. A refused observation changes nothing.
  Result<ObserveResult> observe(const Observation& observation, double now);

  // May a request that failed on `failed` be retried, and where: the first of `fallbacks`
  // (region ids in preference order) that is still routable, or in panic any; an empty
  // list means the configured failover order. Spends from the budget when allowed.
  Result<RetryDecision> retry(std::string_view failed, std::span<const std::string> fallbacks,
                              double now);

  // The regions whose health check is due now (each region every interval; a region whose
  // ejection ended at once): the host is to fetch their health_url within the policy's
  // timeout. Marks them in flight so that concurrent callers do not repeat them (for twice
  // the timeout plus 1 s, after which a probe is taken as abandoned).
  std::vector<uint32_t> plan_probes(double now);
  // The outcome of a probe. By id: the configuration may have changed meanwhile. Returns
  // true when the failure ejected the region again (to be published).
  bool record_probe(std::string_view region, bool ok, std::string detail, double now);
  // When plan_probes will next have something to do.
  double next_probe_at(double now);

  // Applies an ejection published by another isolate. False when it is stale, already
  // known (this one's own read back too, even once capped or over), or max_ejection_percent
  // forbids it.
  bool apply_shared_ejection(std::string_view region, const SharedEjection& ejection, double now);

  // The region and media node of a call.
  Result<AffinityResult> affinity(const AffinityRequest& request, double now);

  HostHealthView region_health(uint32_t region, double now);
  HostHealthView node_health(uint32_t region, uint32_t node, double now);
  BudgetView budget(double now) const;
  // Whether fewer regions than the panic threshold are healthy (non-draining ones only).
  bool panic(double now);
  // The last health check of a region: when (0: never), whether it passed, and what it said.
  struct CheckView {
    double at = 0;
    bool ok = false;
    int consecutive_failures = 0;
    std::string detail;
  };
  CheckView last_check(uint32_t region) const;
  // Areas with learned RTTs (for the health view).
  size_t area_count() const { return areas_.size(); }

 private:
  struct HostState {
    std::string id;
    Health health = Health::kHealthy;
    int consecutive_failures = 0;
    int times_ejected = 0;
    double ejected_at = 0;  // when its ejection began (here, or as a shared one applied)
    double ejected_until = 0;
    // The end of its last ejection as it was published or read from KV, before any cap: read
    // back, that ejection is known, and not applied again.
    double known_until = 0;
    double in_service_since = 0;  // for the decay of times_ejected
    double returned_at = 0;       // when it last came back from an ejection or ill health
    uint64_t hash = 0;            // hash_id(id), for affinity (media nodes)
    double cos_latitude = 0;      // for distances (regions)
    std::string cause;
    bool shared = false;
    // active checks (regions only)
    int check_failures = 0;
    int check_successes = 0;
    double next_check_at = 0;
    double check_started_at = -1;  // >= 0 while a probe is in flight
    double last_check_at = 0;
    bool last_check_ok = false;
    std::string last_check_detail;
  };
  struct Pool {
    std::vector<HostState> hosts;
    // Maglev's table over the hosts it was built for (media nodes), rebuilt when they change.
    std::vector<uint32_t> maglev_hosts;
    MaglevTable maglev;
  };
  struct Ewma {
    double value = 0;
    double updated_at = 0;
    int64_t samples = 0;
  };
  struct AreaStats {
    std::string area;
    std::vector<Ewma> regions;  // by region index
    double seen_at = 0;
    int incumbent = -1;  // the region its last decision chose (hysteresis), or -1
  };
  class Budget {
   public:
    void count_request(double now, double window_ms);
    bool try_retry(const RetryBudgetPolicy& policy, double now);
    BudgetView view(const RetryBudgetPolicy& policy, double now) const;

   private:
    struct Bucket {
      int64_t slot = -1;
      int64_t requests = 0;
      int64_t retries = 0;
    };
    static constexpr int kBuckets = 10;
    Bucket& bucket(double now, double window_ms);
    Bucket buckets_[kBuckets];
  };

  void refresh(HostState& host, bool probed, double now) const;
  // How long the times_ejected-th ejection lasts (times_ejected >= 1).
  double ejection_ms(int times_ejected) const;
  bool count_grows(int times_ejected) const;
  // A times-ejected count taken no further than count_grows lets it grow.
  int capped_count(int times_ejected) const;
  bool eject(Pool& pool, size_t index, bool probed, std::string cause, bool capped, double now);
  bool ejection_allowed(Pool& pool, size_t index, bool probed, double now);
  HostHealthView view(HostState& host, bool probed, double now) const;
  bool routable(uint32_t region, double now);
  RegionLatency latency_of(const ResolvedClient& client, double client_cos_latitude,
                           uint32_t region, const AreaStats* area, double now) const;
  AreaStats* find_area(std::string_view area);
  AreaStats& area_stats(const std::string& area, double now);
  // Orders the candidates of `views` into `order`; `favoured` (or -1) competes with its
  // latency less `margin` ms (the incumbent under hysteresis).
  void rank(const std::vector<RegionView>& views, int favoured, double margin,
            std::vector<uint32_t>& order, int& cheaper_than) const;
  bool in_panic(size_t healthy, size_t serving) const;
  int pick_node(uint32_t region, uint64_t call_hash, bool& panic, double now);
  // Where grid cell `index` (a row or a column) begins, in degrees, as an area name gives it,
  // and as a number: the double that name reads as.
  std::string corner(double index) const;
  double corner_degrees(double index) const;
  // The index of the cell a latitude or longitude falls in: the last whose corner is at or
  // below it.
  double cell_of(double degrees) const;

  Config config_;
  Pool regions_;
  std::vector<Pool> nodes_;       // by region index
  std::vector<AreaStats> areas_;  // sorted by area, for binary search
  Budget budget_;
  // The area cell width's digits without the point and how many of them follow it, as the
  // configuration reads back ("0.25": "025", 2): area names are written in them.
  std::string cell_digits_;
  size_t cell_decimals_ = 0;
};

}  // namespace qv::router
