#include "engine.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>

#include "http_response_parser.h"
#include "template.h"
#include "tls.h"

namespace qv::loadtest {

namespace {

constexpr Micros kIntervalLength = kMicrosPerSecond;
constexpr Micros kConnectErrorBackoff = 10 * kMicrosPerMilli;  // a dead target is no busy loop
constexpr Micros kRampCheckPeriod = 10 * kMicrosPerMilli;
constexpr size_t kReadBufferSize = 64 * 1024;
constexpr int kMaxEvents = 512;
constexpr Micros kNever = std::numeric_limits<Micros>::max();

// ---- Origins --------------------------------------------------------------------------------

// An origin and the one address of it that every connection of the run goes to: the first
// that accepted the connection tried before the run. Connections stay comparable, and an
// address that stops accepting during the run is measured as connect errors, not left for
// another one.
struct ResolvedOrigin {
  Origin origin;
  Address address;
};

Result<std::vector<Address>> resolve(const Origin& origin) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(origin.port);
  const int status = getaddrinfo(origin.host.c_str(), port.c_str(), &hints, &found);
  if (status != 0 || !found) {
    return Error{"cannot resolve host '" + origin.host + "': " + gai_strerror(status)};
  }
  std::vector<Address> addresses;
  for (const addrinfo* each = found; each; each = each->ai_next) {
    Address address;
    std::memcpy(&address.storage, each->ai_addr, each->ai_addrlen);
    address.length = each->ai_addrlen;
    addresses.push_back(address);
  }
  freeaddrinfo(found);
  return addresses;
}

// "127.0.0.1:80", "[::1]:80".
std::string address_text(const Address& address) {
  char host[NI_MAXHOST] = "?";
  char port[NI_MAXSERV] = "?";
  getnameinfo(reinterpret_cast<const sockaddr*>(&address.storage), address.length, host,
              sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
  const bool v6 = address.storage.ss_family == AF_INET6;
  return (v6 ? "[" : "") + std::string(host) + (v6 ? "]:" : ":") + port;
}

// One blocking connect with a timeout: the connected socket, or -1 with the reason in error.
int connect_within(const Address& address, Micros timeout, int& error) {
  const int fd = socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno;
    return -1;
  }
  error = 0;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    error = errno;
    if (error == EINPROGRESS) {
      pollfd waiting{fd, POLLOUT, 0};
      const int ready = poll(&waiting, 1, static_cast<int>(timeout / kMicrosPerMilli));
      if (ready == 0) {
        error = ETIMEDOUT;
      } else {
        socklen_t length = sizeof error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      }
    }
  }
  if (error) {
    close(fd);
    return -1;
  }
  return fd;
}

// A TLS handshake on the connected socket fd, waiting in poll until the deadline.
Status preflight_handshake(int fd, const Origin& origin, const TlsContext& tls, Micros deadline) {
  ssl_st* ssl = tls.open(fd, origin);
  if (!ssl) return Error{"target " + origin.to_string() + ": cannot start TLS"};
  std::string failure;
  std::string hint;
  for (;;) {
    const TlsStep step = tls_handshake(ssl);
    if (step == TlsStep::kDone) break;
    const Micros left = deadline - monotonic_micros();
    if ((step != TlsStep::kWantRead && step != TlsStep::kWantWrite) || left <= 0) {
      failure = left <= 0 ? "timed out" : tls_failure(ssl);
      if (left > 0 && tls_certificate_rejected(ssl))
        hint = " (" + tls.rejection_hint(ssl, origin) + ")";
      break;
    }
    pollfd waiting{fd, static_cast<short>(step == TlsStep::kWantRead ? POLLIN : POLLOUT), 0};
    poll(&waiting, 1, static_cast<int>(std::max<Micros>(1, left / kMicrosPerMilli)));
  }
  tls_free(ssl);
  if (failure.empty()) return Ok{};
  return Error{"target " + origin.to_string() + ": TLS handshake failed: " + failure + hint};
}

// Before the run: the origin's addresses are tried in order, each within the connect timeout,
// and the first that accepts a TCP connection is the run's; none accepting, or a TLS handshake
// that fails on it (or a certificate that does not check out), is bad input. A failed
// handshake does not move on to the next address: it is the server's answer, not an address
// that does not listen.
Result<ResolvedOrigin> preflight(const Origin& origin, const std::vector<Address>& addresses,
                                 const TlsContext* tls, Micros timeout) {
  std::string tried;
  for (const Address& address : addresses) {
    const Micros deadline = monotonic_micros() + timeout;
    int error = 0;
    const int fd = connect_within(address, timeout, error);
    if (fd < 0) {
      tried +=
          (tried.empty() ? "" : ", ") + address_text(address) + " (" + std::strerror(error) + ")";
      continue;
    }
    Status handshake = tls ? preflight_handshake(fd, origin, *tls, deadline) : Status(Ok{});
    close(fd);
    if (!handshake.ok()) return handshake.error();
    return ResolvedOrigin{origin, address};
  }
  return Error{"target " + origin.to_string() + " is unreachable: tried " + tried};
}

// ---- Schedules ------------------------------------------------------------------------------

// When the j-th arrival of an arrival-rate executor is due, in µs from the start: the
// inverse of the cumulative number of arrivals, which is linear in each constant stage and
// quadratic in each ramping one. Returns a negative value after the last arrival.
class ArrivalSchedule {
 public:
  explicit ArrivalSchedule(const Executor& executor) {
    if (executor.kind == ExecutorKind::kConstantArrivalRate) {
      segments_.push_back({0, executor.duration, executor.rate, executor.rate, 0});
    } else {
      double rate = executor.start_rate, count = 0;
      Micros at = 0;
      for (const Stage& stage : executor.stages) {
        segments_.push_back({at, stage.duration, rate, stage.target, count});
        count += (rate + stage.target) / 2 * (static_cast<double>(stage.duration) / 1e6);
        rate = stage.target;
        at += stage.duration;
      }
    }
  }

  Micros due(uint64_t arrival) const {
    const double wanted = static_cast<double>(arrival);
    for (const Segment& segment : segments_) {
      const double seconds = static_cast<double>(segment.length) / 1e6;
      const double in_segment = (segment.from_rate + segment.to_rate) / 2 * seconds;
      if (wanted >= segment.count_before + in_segment) continue;
      const double x = wanted - segment.count_before;  // arrivals into this segment
      // Solve from_rate * t + (to_rate - from_rate) / (2 * seconds) * t^2 = x, stably.
      const double a = seconds > 0 ? (segment.to_rate - segment.from_rate) / (2 * seconds) : 0;
      const double b = segment.from_rate;
      const double discriminant = std::max(0.0, b * b + 4 * a * x);
      const double t = x <= 0 ? 0 : 2 * x / (b + std::sqrt(discriminant));
      // Rounded to the µs, but never into the next segment or past the end: an arrival of
      // the run is due within it.
      const Micros offset = std::min<Micros>(std::llround(t * 1e6), segment.length - 1);
      return segment.start + std::max<Micros>(offset, 0);
    }
    return -1;
  }

  // How many arrivals are due before `at` (µs into the run): the first whose due() is not,
  // found by bisection (due() never decreases), so an extreme rate costs no more than a
  // modest one.
  uint64_t count_before(Micros at) const {
    auto before = [&](uint64_t arrival) {
      const Micros due_at = due(arrival);
      return due_at >= 0 && due_at < at;
    };
    if (!before(0)) return 0;
    uint64_t low = 0, high = 1;  // before(low); is before(high)?
    while (before(high)) {
      low = high;
      if (high >= (uint64_t{1} << 62)) return high;
      high *= 2;
    }
    while (high - low > 1) {
      const uint64_t middle = low + (high - low) / 2;
      (before(middle) ? low : high) = middle;
    }
    return high;
  }

 private:
  struct Segment {
    Micros start, length;
    double from_rate, to_rate;  // per second
    double count_before;
  };
  std::vector<Segment> segments_;
};

// Thread `worker` of `threads` owns VU numbers worker, worker + threads, ...: its share of n.
int64_t share_of(int64_t n, int worker, int threads) {
  return n / threads + (worker < n % threads ? 1 : 0);
}

// ---- What crosses threads -------------------------------------------------------------------

struct WorkerReport {
  int worker = 0;
  int64_t interval = 0;
  Micros length = 0;
  Micros ended_at = 0;  // monotonic, final reports only
  bool final = false;
  std::vector<RequestInterval> requests;
  uint64_t iterations = 0, dropped_iterations = 0, delayed_iterations = 0;
  uint64_t vus = 0, vus_allocated = 0;
};

class Mailbox {
 public:
  void post(WorkerReport report) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      reports_.push_back(std::move(report));
    }
    ready_.notify_one();
  }
  std::vector<WorkerReport> take(Micros wait) {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait_for(lock, std::chrono::microseconds(wait), [&] { return !reports_.empty(); });
    return std::exchange(reports_, {});
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<WorkerReport> reports_;
};

struct RunPlan {
  const Scenario* scenario = nullptr;
  std::vector<ResolvedOrigin> origins;
  std::shared_ptr<TlsContext> tls;        // when an origin is https://
  std::vector<size_t> origin_of_request;  // request spec -> origins index
  std::vector<size_t> name_of_request;    // request spec -> RunResult::requests index
  size_t name_count = 0;
  std::vector<size_t> check_count_of_name;
  // request spec -> for each of its checks, the slot in its name's check list (two specs may
  // share a name and list different checks)
  std::vector<std::vector<size_t>> check_slots_of_request;
  int threads = 1;
  Micros start = 0;  // monotonic
  uint64_t seed = 0;
  std::atomic<bool> stop{false};
  Mailbox mailbox;
};

// ---- A worker thread ------------------------------------------------------------------------

class Worker {
 public:
  Worker(RunPlan& plan, int index);
  ~Worker();
  void run();

 private:
  enum class State : uint8_t { kIdle, kConnecting, kHandshaking, kWriting, kReading, kThinking };

  struct Vu {
    uint64_t id = 0;
    int fd = -1;
    ssl_st* tls = nullptr;                // the connection's TLS session, for https://
    ssl_session_st* resumable = nullptr;  // --tls-resume: the last connection's, to offer
    int resumable_origin = -1;            // to that connection's origin only
    int origin = -1;                      // of the open connection
    State state = State::kIdle;
    bool active = false;   // VU executors: within the wanted count
    bool running = false;  // inside an iteration (request or think time)
    bool served = false;   // the open connection has carried a response
    bool reused = false;   // this request went out on such a connection
    bool retried = false;
    bool timed = false;       // sent (and, for closed executors, intended) are this request's
    bool deferred = false;    // an iteration start put off to the next loop turn
    uint32_t generation = 0;  // of the connection: events of a closed one are ignored
    uint32_t request = 0;
    uint64_t iteration = 0;
    Micros intended = 0, sent = 0, deadline = 0;
    Micros wake = 0;           // when its think time (or deferred start) ends
    Micros ramp_deadline = 0;  // ramped down mid-iteration: when gracefulRampDown runs out
    // The phases' moments: connect() called, TCP up (the handshake began), the request
    // written whole (0: not yet), the response's first byte.
    Micros connect_started = 0, connected = 0, written = 0, first_byte = 0;
    std::string rendered;
    const char* out = nullptr;
    size_t out_size = 0, out_done = 0;
    HttpResponseParser parser;
  };

  struct Prepared {
    const RequestSpec* spec = nullptr;
    size_t name = 0;
    size_t origin = 0;
    bool head = false, keep_body = false, idempotent = false, is_static = false;
    std::string static_bytes;
    std::vector<size_t> check_slots;  // where each of its checks is counted
  };

  struct Recorder {
    Histogram latency, latency_uncorrected;
    std::array<Histogram, kPhaseCount> phases;
    RequestCounters counters;
  };

  struct Wake {
    Micros at;
    uint32_t vu;
    bool operator>(const Wake& other) const { return at > other.at; }
  };

  void prepare_requests();
  void render(Vu& vu, const Prepared& request);
  uint32_t pick_request();

  void start_iteration(Vu& vu, Micros intended, Micros now);
  void send(Vu& vu, Micros now);
  void open_connection(Vu& vu, Micros now);
  void on_connected(Vu& vu, Micros now);
  void continue_handshake(Vu& vu, Micros now);
  ssize_t send_some(Vu& vu);
  ssize_t receive_some(Vu& vu, char* buffer);
  void write_request(Vu& vu);
  void on_event(Vu& vu, uint32_t events, Micros now);
  void on_readable(Vu& vu, Micros now);
  void on_response(Vu& vu, Micros now, bool extra_bytes);
  void on_failure(Vu& vu, ErrorClass error, Micros now);
  void record_phase(const Vu& vu, Phase phase, Micros from, Micros to);
  bool retry_on_fresh_connection(Vu& vu, Micros now);
  void end_request(Vu& vu, Micros now, bool backoff);
  void end_iteration(Vu& vu, Micros now);
  void close_connection(Vu& vu);
  void watch(Vu& vu, uint32_t events, int operation);
  bool in_flight(const Vu& vu) const {
    return vu.state == State::kConnecting || vu.state == State::kHandshaking ||
           vu.state == State::kWriting || vu.state == State::kReading;
  }

  void update_vus(Micros now);
  void cut_off_ramped_down(Micros now);
  void sleep_until(Vu& vu, Micros at);
  uint64_t global_arrival(uint64_t local) const;
  uint64_t local_arrivals(uint64_t global) const;
  Micros next_due() const;
  void drop_arrivals_before(Micros until);
  void arrivals_found_no_vu(Micros now);
  void run_arrivals(Micros now);
  Vu* free_vu();
  void begin_stop(Micros now);
  void sweep_timeouts(Micros now);
  void publish(Micros now, bool final);
  Micros next_deadline(Micros now) const;

  RunPlan& plan_;
  const Scenario& scenario_;
  const Executor& executor_;
  const int index_;
  const Micros start_, end_;
  int epoll_ = -1;
  Rng rng_;
  IterationValues values_;
  std::vector<Prepared> requests_;
  std::vector<double> cumulative_weights_;
  std::vector<Vu> vus_;              // reserved up front: epoll keeps indices, never pointers
  std::vector<uint32_t> free_vus_;   // arrival executors
  std::vector<Recorder> recorders_;  // by request name
  std::priority_queue<Wake, std::vector<Wake>, std::greater<Wake>> wakes_;
  std::string body_scratch_;
  std::unique_ptr<char[]> read_buffer_;

  // VU executors
  int64_t active_ = 0;
  Micros next_ramp_cut_ = kNever;  // the earliest gracefulRampDown of a VU ramped down
  // Arrival executors
  ArrivalSchedule schedule_;
  uint64_t next_arrival_ = 0;  // this thread's arrivals so far (global_arrival numbers them)
  int64_t max_vus_ = 0;
  uint64_t local_sequence_ = 0;

  bool stopping_ = false;
  Micros stop_deadline_ = 0;
  int64_t interval_ = 0;
  Micros interval_start_ = 0;
  Micros next_sweep_ = 0;
  Micros sweep_period_ = 0;
  int depth_ = 0;  // nested start_iteration calls (synchronous failures)
  uint64_t iterations_ = 0, dropped_ = 0, delayed_ = 0;
  // Local arrivals before this one found no VU free when due (or later): started, they count
  // as delayed.
  uint64_t waited_through_ = 0;
  uint64_t in_flight_ = 0;
  uint64_t allocated_peak_ = 0;
};

Worker::Worker(RunPlan& plan, int index)
    : plan_(plan),
      scenario_(*plan.scenario),
      executor_(plan.scenario->executor),
      index_(index),
      start_(plan.start),
      end_(plan.start + plan.scenario->executor.total_duration()),
      rng_(plan.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index) + 1),
      values_(plan.scenario->variables, rng_),
      read_buffer_(new char[kReadBufferSize]),
      schedule_(plan.scenario->executor) {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  recorders_.resize(plan.name_count);
  for (size_t name = 0; name < plan.name_count; ++name) {
    recorders_[name].counters.checks.resize(plan.check_count_of_name[name]);
  }
  prepare_requests();
  const int64_t local_peak = executor_.arrival_rate()
                                 ? share_of(executor_.max_vus, index_, plan.threads)
                                 : share_of(executor_.peak_vus(), index_, plan.threads);
  vus_.reserve(static_cast<size_t>(local_peak));
  if (executor_.arrival_rate()) {
    max_vus_ = local_peak;
    const int64_t pre = share_of(executor_.pre_allocated_vus, index_, plan.threads);
    for (int64_t i = 0; i < pre; ++i) {
      vus_.emplace_back();
      vus_.back().id = static_cast<uint64_t>(i) * plan.threads + index_;
      free_vus_.push_back(static_cast<uint32_t>(i));
    }
    // Hand out VUs from the lowest number first.
    std::reverse(free_vus_.begin(), free_vus_.end());
  } else {
    for (int64_t i = 0; i < local_peak; ++i) {
      vus_.emplace_back();
      vus_.back().id = static_cast<uint64_t>(i) * plan.threads + index_;
    }
  }
  allocated_peak_ = executor_.arrival_rate() ? vus_.size() : 0;
  const Micros shortest_timeout = std::min(scenario_.connect_timeout, scenario_.request_timeout);
  sweep_period_ = std::clamp<Micros>(shortest_timeout / 10, kMicrosPerMilli, 100 * kMicrosPerMilli);
}

Worker::~Worker() {
  for (Vu& vu : vus_) {
    close_connection(vu);
    tls_free_session(vu.resumable);
  }
  if (epoll_ >= 0) close(epoll_);
}

void Worker::prepare_requests() {
  const auto& specs = scenario_.requests;
  double total = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const RequestSpec& spec = specs[i];
    Prepared prepared;
    prepared.spec = &spec;
    prepared.name = plan_.name_of_request[i];
    prepared.check_slots = plan_.check_slots_of_request[i];
    prepared.origin = plan_.origin_of_request[i];
    prepared.head = spec.method == "HEAD";
    prepared.keep_body = spec.keeps_body();
    prepared.idempotent = spec.method == "GET" || spec.method == "HEAD" || spec.method == "PUT" ||
                          spec.method == "DELETE" || spec.method == "OPTIONS";
    bool is_static = spec.target.is_static() && (!spec.body || spec.body->is_static());
    for (const auto& header : spec.headers) is_static = is_static && header.second.is_static();
    prepared.is_static = is_static;
    requests_.push_back(std::move(prepared));
    total += spec.weight;
    cumulative_weights_.push_back(total);
  }
  // Requests without variables are rendered once: each iteration sends the same bytes.
  Vu scratch;
  for (Prepared& prepared : requests_) {
    if (!prepared.is_static) continue;
    render(scratch, prepared);
    prepared.static_bytes = scratch.rendered;
  }
}

// METHOD target HTTP/1.1, Host, User-Agent, the scenario's headers, Content-Length, body.
void Worker::render(Vu& vu, const Prepared& request) {
  const RequestSpec& spec = *request.spec;
  std::string& out = vu.rendered;
  out.clear();
  out += spec.method;
  out += ' ';
  spec.target.render(values_, out, Template::Encoding::kUrl);
  out += " HTTP/1.1\r\n";
  bool has_host = false, has_agent = false;
  for (const auto& [name, value] : spec.headers) {
    has_host = has_host || strcasecmp(name.c_str(), "host") == 0;
    has_agent = has_agent || strcasecmp(name.c_str(), "user-agent") == 0;
  }
  if (!has_host) out += "Host: " + plan_.origins[request.origin].origin.host_header + "\r\n";
  if (!has_agent) out += "User-Agent: qv-loadtest\r\n";
  for (const auto& [name, value] : spec.headers) {
    out += name;
    out += ": ";
    value.render(values_, out);
    out += "\r\n";
  }
  body_scratch_.clear();
  if (spec.body) {
    spec.body->render(values_, body_scratch_,
                      spec.json_body ? Template::Encoding::kJson : Template::Encoding::kNone);
  }
  if (spec.body || spec.method == "POST" || spec.method == "PUT" || spec.method == "PATCH") {
    out += "Content-Length: " + std::to_string(body_scratch_.size()) + "\r\n";
  }
  out += "\r\n";
  out += body_scratch_;
}

uint32_t Worker::pick_request() {
  if (requests_.size() == 1) return 0;
  const double pick = rng_.uniform() * cumulative_weights_.back();
  const auto at = std::upper_bound(cumulative_weights_.begin(), cumulative_weights_.end(), pick);
  return static_cast<uint32_t>(
      std::min<size_t>(at - cumulative_weights_.begin(), requests_.size() - 1));
}

void Worker::watch(Vu& vu, uint32_t events, int operation) {
  epoll_event event{};
  event.events = events;
  event.data.u64 =
      (static_cast<uint64_t>(vu.generation) << 32) | static_cast<uint32_t>(&vu - vus_.data());
  epoll_ctl(epoll_, operation, vu.fd, &event);
}

void Worker::close_connection(Vu& vu) {
  if (vu.tls) {
    if (scenario_.tls.resume_sessions) {
      if (ssl_session_st* session = tls_resumable_session(vu.tls)) {
        tls_free_session(vu.resumable);
        vu.resumable = session;
        vu.resumable_origin = vu.origin;
      }
    }
    tls_free(vu.tls);
    vu.tls = nullptr;
  }
  if (vu.fd >= 0) {
    close(vu.fd);  // also removes it from the epoll set
    vu.fd = -1;
  }
  vu.origin = -1;
  vu.served = false;
}

void Worker::start_iteration(Vu& vu, Micros intended, Micros now) {
  if (depth_ > 16) {
    // Failures that happen inside the call (a refused connect) would otherwise recurse.
    vu.running = true;
    vu.state = State::kThinking;
    vu.deferred = true;
    vu.intended = intended;
    sleep_until(vu, now);
    return;
  }
  ++depth_;
  vu.running = true;
  vu.request = pick_request();
  const Prepared& request = requests_[vu.request];
  if (request.is_static) {
    vu.out = request.static_bytes.data();
    vu.out_size = request.static_bytes.size();
  } else {
    values_.begin(local_sequence_++ * static_cast<uint64_t>(plan_.threads) + index_, vu.id,
                  vu.iteration, unix_millis());
    render(vu, request);
    vu.out = vu.rendered.data();
    vu.out_size = vu.rendered.size();
  }
  ++vu.iteration;
  vu.intended = intended;
  vu.retried = false;
  vu.timed = false;
  vu.parser.reset(request.head, request.keep_body);
  ++in_flight_;
  send(vu, now);
  --depth_;
}

void Worker::send(Vu& vu, Micros now) {
  const Prepared& request = requests_[vu.request];
  if (vu.fd >= 0 && vu.origin != static_cast<int>(request.origin)) close_connection(vu);
  vu.out_done = 0;
  if (vu.fd < 0) {
    open_connection(vu, now);
    return;
  }
  vu.reused = vu.served;
  write_request(vu);
}

void Worker::open_connection(Vu& vu, Micros now) {
  const Address& address = plan_.origins[requests_[vu.request].origin].address;
  vu.fd = socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (vu.fd < 0) {
    on_failure(vu, ErrorClass::kConnect, now);
    return;
  }
  const int one = 1;
  setsockopt(vu.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  vu.origin = static_cast<int>(requests_[vu.request].origin);
  ++vu.generation;
  vu.served = false;
  vu.reused = false;
  vu.deadline = now + scenario_.connect_timeout;  // for the TLS handshake too
  // A retry's connection is within its request's timeout as well.
  if (vu.timed) vu.deadline = std::min(vu.deadline, vu.sent + scenario_.request_timeout);
  vu.connect_started = monotonic_micros();
  if (connect(vu.fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) == 0) {
    watch(vu, EPOLLIN, EPOLL_CTL_ADD);
    on_connected(vu, now);
    return;
  }
  if (errno != EINPROGRESS) {
    on_failure(vu, ErrorClass::kConnect, now);
    return;
  }
  vu.state = State::kConnecting;
  watch(vu, EPOLLOUT, EPOLL_CTL_ADD);
}

// The TCP connection is up (and watched for EPOLLIN): the request goes out, after a TLS
// handshake for https://. A failed handshake counts as a connect error.
void Worker::on_connected(Vu& vu, Micros now) {
  const ResolvedOrigin& target = plan_.origins[static_cast<size_t>(vu.origin)];
  vu.connected = monotonic_micros();
  record_phase(vu, Phase::kConnecting, vu.connect_started, vu.connected);
  if (!target.origin.tls) {
    vu.state = State::kIdle;
    write_request(vu);
    return;
  }
  vu.tls = plan_.tls->open(vu.fd, target.origin);
  if (!vu.tls) {
    on_failure(vu, ErrorClass::kConnect, now);
    return;
  }
  if (vu.resumable && vu.resumable_origin == vu.origin) tls_offer_session(vu.tls, vu.resumable);
  vu.state = State::kHandshaking;
  continue_handshake(vu, now);
}

void Worker::continue_handshake(Vu& vu, Micros now) {
  switch (tls_handshake(vu.tls)) {
    case TlsStep::kDone:
      record_phase(vu, Phase::kTlsHandshaking, vu.connected, monotonic_micros());
      if (tls_resumed(vu.tls)) ++recorders_[requests_[vu.request].name].counters.tls_resumed;
      watch(vu, EPOLLIN, EPOLL_CTL_MOD);
      vu.state = State::kIdle;
      write_request(vu);
      return;
    case TlsStep::kWantRead:
      watch(vu, EPOLLIN, EPOLL_CTL_MOD);
      return;
    case TlsStep::kWantWrite:
      watch(vu, EPOLLOUT, EPOLL_CTL_MOD);
      return;
    default:
      on_failure(vu, ErrorClass::kConnect, now);
  }
}

// A TLS step as send() or read() would have ended it: the bytes moved, 0 when the server
// closed, or -1 with errno EAGAIN (it would block) or ECONNRESET (TLS failed).
ssize_t socket_result(TlsStep step, size_t done) {
  switch (step) {
    case TlsStep::kDone:
      return static_cast<ssize_t>(done);
    case TlsStep::kWantRead:
    case TlsStep::kWantWrite:
      errno = EAGAIN;
      return -1;
    case TlsStep::kClosed:
      return 0;
    default:
      errno = ECONNRESET;
      return -1;
  }
}

// send() and read() on the VU's connection, through its TLS session for https://.
ssize_t Worker::send_some(Vu& vu) {
  const char* data = vu.out + vu.out_done;
  const size_t size = vu.out_size - vu.out_done;
  if (!vu.tls) return ::send(vu.fd, data, size, MSG_NOSIGNAL);
  size_t done = 0;
  const TlsStep step = tls_write(vu.tls, data, size, done);
  // A session the server closed takes no more bytes: for a write, that is a reset.
  return socket_result(step == TlsStep::kClosed ? TlsStep::kFailed : step, done);
}

ssize_t Worker::receive_some(Vu& vu, char* buffer) {
  if (!vu.tls) return read(vu.fd, buffer, kReadBufferSize);
  size_t done = 0;
  const TlsStep step = tls_read(vu.tls, buffer, kReadBufferSize, done);
  return socket_result(step, done);
}

void Worker::write_request(Vu& vu) {
  // Once per request: a retry on a fresh connection keeps the first attempt's times.
  if (!vu.timed) {
    vu.timed = true;
    vu.sent = monotonic_micros();
    // Closed executors have no schedule: a request is intended when it is sent.
    if (!executor_.arrival_rate()) vu.intended = vu.sent;
  }
  if (vu.out_done == 0) {
    vu.written = 0;
    vu.deadline = vu.sent + scenario_.request_timeout;
  }
  const ssize_t written = send_some(vu);
  if (written < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      if (vu.state != State::kWriting) watch(vu, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
      vu.state = State::kWriting;
      return;
    }
    // The server may have answered before it closed (an early 413): that answer is read
    // first, and is the request's outcome.
    if (vu.state == State::kWriting) {
      on_readable(vu, monotonic_micros());
      if (vu.state != State::kWriting) return;
    }
    if (!retry_on_fresh_connection(vu, vu.sent))
      on_failure(vu, ErrorClass::kReset, monotonic_micros());
    return;
  }
  recorders_[requests_[vu.request].name].counters.bytes_sent += static_cast<uint64_t>(written);
  vu.out_done += static_cast<size_t>(written);
  if (vu.out_done < vu.out_size) {
    if (vu.state != State::kWriting) watch(vu, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    vu.state = State::kWriting;
    return;
  }
  vu.written = monotonic_micros();
  if (vu.state == State::kWriting) watch(vu, EPOLLIN, EPOLL_CTL_MOD);
  vu.state = State::kReading;
}

void Worker::on_event(Vu& vu, uint32_t events, Micros now) {
  switch (vu.state) {
    case State::kConnecting: {
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(vu.fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error) {
        on_failure(vu, ErrorClass::kConnect, now);
        return;
      }
      watch(vu, EPOLLIN, EPOLL_CTL_MOD);
      on_connected(vu, now);
      return;
    }
    case State::kHandshaking:
      continue_handshake(vu, now);
      return;
    case State::kWriting:
      if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) write_request(vu);
      // A response can come before the whole request went out (an early 413, say): it is
      // read now, or epoll, level-triggered, would report it again at once, in a loop.
      if (!(events & EPOLLIN) || (vu.state != State::kWriting && vu.state != State::kReading))
        return;
      on_readable(vu, now);
      return;
    default:
      on_readable(vu, now);
  }
}

void Worker::on_readable(Vu& vu, Micros now) {
  char* buffer = read_buffer_.get();
  for (;;) {
    const ssize_t got = receive_some(vu, buffer);
    if (got > 0) {
      if (vu.state != State::kReading && vu.state != State::kWriting) {
        close_connection(vu);  // bytes nobody asked for: this connection cannot be trusted
        return;
      }
      recorders_[requests_[vu.request].name].counters.bytes_received += static_cast<uint64_t>(got);
      if (!vu.parser.started()) vu.first_byte = monotonic_micros();
      size_t consumed = 0;
      switch (vu.parser.feed(buffer, static_cast<size_t>(got), consumed)) {
        case HttpResponseParser::Outcome::kComplete:
          on_response(vu, now, consumed < static_cast<size_t>(got));
          return;
        case HttpResponseParser::Outcome::kError:
          ++recorders_[requests_[vu.request].name].counters.protocol_reasons[vu.parser.error()];
          on_failure(vu, ErrorClass::kProtocol, now);
          return;
        case HttpResponseParser::Outcome::kNeedMore:
          // Level-triggered: a short read drained the socket and epoll reports what comes
          // next. A TLS session may hold decrypted bytes the socket no longer shows (a read
          // returns one record): it is read until it would block.
          if (!vu.tls && static_cast<size_t>(got) < kReadBufferSize) return;
          continue;
      }
    }
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (got < 0 && errno == EINTR) continue;
    // The server closed the connection (or reset it).
    if (vu.state != State::kReading && vu.state != State::kWriting) {
      close_connection(vu);  // an idle keep-alive connection the server let go
      return;
    }
    if (got == 0 && vu.parser.finish_at_close() == HttpResponseParser::Outcome::kComplete) {
      on_response(vu, now, false);
      return;
    }
    if (!retry_on_fresh_connection(vu, now)) on_failure(vu, ErrorClass::kReset, now);
    return;
  }
}

// A request sent on a kept-alive connection that the server had just closed never reached
// it: send it once more on a new connection, if it is idempotent (as HTTP clients do).
bool Worker::retry_on_fresh_connection(Vu& vu, Micros now) {
  if (!vu.reused || vu.retried || vu.parser.started() || !requests_[vu.request].idempotent) {
    return false;
  }
  vu.retried = true;  // part of the same request: it keeps its times (write_request)
  close_connection(vu);
  vu.out_done = 0;
  vu.state = State::kIdle;
  open_connection(vu, now);
  return true;
}

void Worker::on_response(Vu& vu, Micros now, bool extra_bytes) {
  const Prepared& request = requests_[vu.request];
  Recorder& recorder = recorders_[request.name];
  // One clock reading for the end, as the send, write and first byte each had theirs (the
  // loop's `now` is older than the first byte): sending + waiting + receiving = duration.
  const Micros done = monotonic_micros();
  if (done > vu.deadline) {  // complete, but after the timeout (between two sweeps)
    on_failure(vu, ErrorClass::kTimeout, now);
    return;
  }
  recorder.latency.record(done - vu.intended);
  recorder.latency_uncorrected.record(done - vu.sent);
  if (vu.written != 0 && vu.written <= vu.first_byte) {
    record_phase(vu, Phase::kSending, vu.sent, vu.written);
    record_phase(vu, Phase::kWaiting, vu.written, vu.first_byte);
    record_phase(vu, Phase::kReceiving, vu.first_byte, done);
  }
  RequestCounters& counters = recorder.counters;
  ++counters.requests;
  const int status = vu.parser.status();
  if (status >= 400) {
    ++counters.failed;
    ++counters
          .errors[static_cast<size_t>(status >= 500 ? ErrorClass::kHttp5xx : ErrorClass::kHttp4xx)];
  }
  const auto& checks = request.spec->checks;
  for (size_t i = 0; i < checks.size(); ++i) {
    const bool passed = checks[i].passes(status, static_cast<double>(done - vu.sent) / 1000.0,
                                         vu.parser.body(), vu.parser.body_bytes());
    CheckCounts& counts = counters.checks[request.check_slots[i]];
    passed ? ++counts.passes : ++counts.fails;
  }
  // A response before the whole request went out (say, a 413) leaves the connection unusable.
  if (extra_bytes || !vu.parser.keep_alive() || vu.out_done < vu.out_size) {
    close_connection(vu);
  } else {
    vu.served = true;
  }
  end_request(vu, now, false);
}

void Worker::on_failure(Vu& vu, ErrorClass error, Micros now) {
  const Prepared& request = requests_[vu.request];
  Recorder& recorder = recorders_[request.name];
  if (error == ErrorClass::kTimeout && vu.timed) {
    // A request that timed out once it was sent (a retry's new connection too) waited until
    // its deadline: its duration says so (as k6's), so latency percentiles and thresholds
    // see it. Refused or reset ones, and connect timeouts, have none.
    recorder.latency.record(vu.deadline - vu.intended);
    recorder.latency_uncorrected.record(vu.deadline - vu.sent);
  }
  RequestCounters& counters = recorder.counters;
  ++counters.requests;
  ++counters.failed;
  ++counters.errors[static_cast<size_t>(error)];
  for (size_t slot : request.check_slots) ++counters.checks[slot].fails;  // no response: none holds
  close_connection(vu);
  end_request(vu, now, error == ErrorClass::kConnect);
}

void Worker::record_phase(const Vu& vu, Phase phase, Micros from, Micros to) {
  recorders_[requests_[vu.request].name].phases[static_cast<size_t>(phase)].record(to - from);
}

void Worker::end_request(Vu& vu, Micros now, bool backoff) {
  --in_flight_;
  Micros think = scenario_.think_time_min;
  if (scenario_.think_time_max > scenario_.think_time_min) {
    think += static_cast<Micros>(
        rng_.uniform() * static_cast<double>(scenario_.think_time_max - scenario_.think_time_min));
  }
  if (backoff) think = std::max(think, kConnectErrorBackoff);
  if (think > 0 && !stopping_) {
    vu.state = State::kThinking;
    sleep_until(vu, now + think);
    return;
  }
  vu.state = State::kIdle;
  end_iteration(vu, now);
}

void Worker::end_iteration(Vu& vu, Micros now) {
  ++iterations_;
  vu.running = false;
  vu.state = State::kIdle;
  if (executor_.arrival_rate()) {
    // With every other VU busy (and no more to allocate), the arrivals due by now that have
    // not started found no VU free when due, whether or not the loop woke up in the meantime
    // to see it: they waited for this one (or, with drop, are skipped).
    if (!stopping_ && free_vus_.empty() && static_cast<int64_t>(vus_.size()) >= max_vus_)
      arrivals_found_no_vu(now);
    free_vus_.push_back(static_cast<uint32_t>(&vu - vus_.data()));
    if (!stopping_) run_arrivals(now);
    return;
  }
  if (vu.active && !stopping_) {
    start_iteration(vu, now, now);
  } else if (!vu.active) {
    close_connection(vu);
  }
}

void Worker::update_vus(Micros now) {
  const int64_t wanted = share_of(executor_.vus_wanted(now - start_), index_, plan_.threads);
  const int64_t target = std::min<int64_t>(wanted, static_cast<int64_t>(vus_.size()));
  while (active_ < target) {
    Vu& vu = vus_[static_cast<size_t>(active_++)];
    vu.active = true;
    if (!vu.running) start_iteration(vu, now, now);
  }
  while (active_ > target) {
    Vu& vu = vus_[static_cast<size_t>(--active_)];
    vu.active = false;  // finishes its iteration within gracefulRampDown, then rests
    if (!vu.running) {
      close_connection(vu);
      continue;
    }
    vu.ramp_deadline = now + executor_.graceful_ramp_down;
    next_ramp_cut_ = std::min(next_ramp_cut_, vu.ramp_deadline);
  }
  allocated_peak_ = std::max<uint64_t>(allocated_peak_, static_cast<uint64_t>(active_));
}

// VUs ramped down whose gracefulRampDown ran out in their iteration (k6): a request in
// flight is cut off and counted interrupted, as at the end of the run; think time after an
// answered request ends there, and the iteration counts (as at the end of the run).
void Worker::cut_off_ramped_down(Micros now) {
  next_ramp_cut_ = kNever;
  for (Vu& vu : vus_) {
    if (vu.active || !vu.running) continue;
    if (now < vu.ramp_deadline) {
      next_ramp_cut_ = std::min(next_ramp_cut_, vu.ramp_deadline);
      continue;
    }
    if (in_flight(vu)) {
      ++recorders_[requests_[vu.request].name].counters.interrupted;
      --in_flight_;
    } else if (!vu.deferred) {
      ++iterations_;
    }
    vu.running = false;
    vu.deferred = false;
    vu.state = State::kIdle;
    close_connection(vu);
  }
}

void Worker::sleep_until(Vu& vu, Micros at) {
  vu.wake = at;
  wakes_.push({at, static_cast<uint32_t>(&vu - vus_.data())});
}

Worker::Vu* Worker::free_vu() {
  if (!free_vus_.empty()) {
    Vu* vu = &vus_[free_vus_.back()];
    free_vus_.pop_back();
    return vu;
  }
  if (static_cast<int64_t>(vus_.size()) < max_vus_) {
    // k6: more VUs are allocated, up to maxVUs, when the pre-allocated ones are all busy.
    vus_.emplace_back();
    vus_.back().id = static_cast<uint64_t>(vus_.size() - 1) * plan_.threads + index_;
    allocated_peak_ = vus_.size();
    return &vus_.back();
  }
  return nullptr;
}

// Arrivals go to the threads in proportion to their VUs (k6 has one pool of maxVUs): of
// every maxVUs arrivals, thread w takes the ones its VU numbers w, w + threads, ... would,
// so a thread with fewer VUs gets fewer arrivals instead of dropping or queueing its equal
// share while another thread's VUs sit free.
uint64_t Worker::global_arrival(uint64_t local) const {
  const auto share = static_cast<uint64_t>(max_vus_);
  const auto block = static_cast<uint64_t>(executor_.max_vus);
  return local / share * block + static_cast<uint64_t>(index_) +
         local % share * static_cast<uint64_t>(plan_.threads);
}

// How many of the first `global` arrivals are this thread's: the inverse of global_arrival.
uint64_t Worker::local_arrivals(uint64_t global) const {
  const auto share = static_cast<uint64_t>(max_vus_);
  const auto block = static_cast<uint64_t>(executor_.max_vus);
  const auto threads = static_cast<uint64_t>(plan_.threads);
  const auto index = static_cast<uint64_t>(index_);
  const uint64_t rest =
      global % block;  // of the last, partial block: positions index, + threads, ...
  return global / block * share +
         (rest > index ? std::min(share, (rest - index + threads - 1) / threads) : 0);
}

// When this thread's next arrival is due (µs into the run), or -1: none.
Micros Worker::next_due() const {
  return max_vus_ > 0 ? schedule_.due(global_arrival(next_arrival_)) : -1;
}

// Counts as dropped this thread's arrivals due before `until` that have not run, in one step
// (an extreme rate makes billions).
void Worker::drop_arrivals_before(Micros until) {
  if (max_vus_ <= 0) return;
  const uint64_t local = local_arrivals(schedule_.count_before(until - start_));
  if (local > next_arrival_) {
    dropped_ += local - next_arrival_;
    next_arrival_ = local;
  }
}

// No VU free: this thread's arrivals due by now that have not started wait (sent late,
// charged from when they were due, counted delayed) or are dropped.
void Worker::arrivals_found_no_vu(Micros now) {
  const Micros until = std::min(now + 1, end_);
  if (executor_.drop_when_no_vu_free) {
    drop_arrivals_before(until);
  } else {
    waited_through_ =
        std::max(waited_through_, local_arrivals(schedule_.count_before(until - start_)));
  }
}

void Worker::run_arrivals(Micros now) {
  for (;;) {
    const Micros due = next_due();
    if (due < 0 || start_ + due > now || start_ + due >= end_) return;
    Vu* vu = free_vu();
    if (!vu) {
      arrivals_found_no_vu(now);
      return;
    }
    if (next_arrival_ < waited_through_) ++delayed_;
    ++next_arrival_;
    start_iteration(*vu, start_ + due, now);
  }
}

void Worker::begin_stop(Micros now) {
  stopping_ = true;
  stop_deadline_ = now + executor_.graceful_stop;
  // Arrivals that were due but never found a VU did not run.
  if (executor_.arrival_rate()) drop_arrivals_before(std::min(now, end_));
  // Think time ends with the run; requests in flight get the graceful stop to finish.
  for (Vu& vu : vus_) {
    if (vu.state == State::kThinking) {
      vu.state = State::kIdle;
      vu.running = false;
      if (!vu.deferred) ++iterations_;
      vu.deferred = false;
    }
    if (!in_flight(vu)) close_connection(vu);
  }
  while (!wakes_.empty()) wakes_.pop();
}

void Worker::sweep_timeouts(Micros now) {
  for (Vu& vu : vus_) {
    if (!in_flight(vu) || now < vu.deadline) continue;
    // A connection (TCP or TLS) not made within the connect timeout, for a request not yet
    // sent, is a connect error: the request never went out and has no duration. A retry's
    // new connection is within its request's deadline, and times out as the request.
    const bool connecting =
        (vu.state == State::kConnecting || vu.state == State::kHandshaking) && !vu.timed;
    on_failure(vu, connecting ? ErrorClass::kConnect : ErrorClass::kTimeout, now);
  }
}

void Worker::publish(Micros now, bool final) {
  WorkerReport report;
  report.worker = index_;
  report.interval = interval_;
  report.length = now - interval_start_;
  report.final = final;
  report.ended_at = now;
  report.requests.resize(recorders_.size());
  // A histogram's counts of this interval, handed over; it starts the next one empty.
  auto take = [](Histogram& histogram) {
    SparseHistogram counts = histogram.to_sparse();
    histogram.reset();
    return counts;
  };
  for (size_t i = 0; i < recorders_.size(); ++i) {
    Recorder& recorder = recorders_[i];
    RequestInterval& out = report.requests[i];
    out.latency = take(recorder.latency);
    out.latency_uncorrected = take(recorder.latency_uncorrected);
    for (size_t p = 0; p < kPhaseCount; ++p) out.phases[p] = take(recorder.phases[p]);
    out.counters = recorder.counters;
    recorder.counters = RequestCounters{};
    recorder.counters.checks.resize(out.counters.checks.size());
  }
  report.iterations = std::exchange(iterations_, 0);
  report.dropped_iterations = std::exchange(dropped_, 0);
  report.delayed_iterations = std::exchange(delayed_, 0);
  if (executor_.arrival_rate()) {
    report.vus = vus_.size() - free_vus_.size();
  } else {
    report.vus = static_cast<uint64_t>(active_);
  }
  report.vus_allocated = allocated_peak_;
  plan_.mailbox.post(std::move(report));
}

Micros Worker::next_deadline(Micros now) const {
  Micros next = interval_start_ + kIntervalLength;
  next = std::min(next, stopping_ ? stop_deadline_ : end_);
  next = std::min(next, next_sweep_);
  next = std::min(next, next_ramp_cut_);
  if (!wakes_.empty()) next = std::min(next, wakes_.top().at);
  if (!stopping_) {
    if (executor_.kind == ExecutorKind::kRampingVus) next = std::min(next, now + kRampCheckPeriod);
    if (executor_.arrival_rate() &&
        (!free_vus_.empty() || static_cast<int64_t>(vus_.size()) < max_vus_ ||
         executor_.drop_when_no_vu_free)) {
      const Micros due = next_due();
      if (due >= 0) next = std::min(next, start_ + due);
    }
  }
  return next;
}

void Worker::run() {
  // Start together: every thread's clock begins at the plan's start.
  for (Micros now = monotonic_micros(); now < start_; now = monotonic_micros()) {
    std::this_thread::sleep_for(std::chrono::microseconds(start_ - now));
  }
  interval_start_ = start_;
  next_sweep_ = start_ + sweep_period_;
  epoll_event events[kMaxEvents];
  Micros now = monotonic_micros();
  if (!executor_.arrival_rate()) update_vus(now);
  for (;;) {
    now = monotonic_micros();
    while (now >= interval_start_ + kIntervalLength) {
      publish(interval_start_ + kIntervalLength, false);
      ++interval_;
      interval_start_ += kIntervalLength;
    }
    if (!stopping_ && (now >= end_ || plan_.stop.load(std::memory_order_relaxed))) begin_stop(now);
    if (now >= next_ramp_cut_) cut_off_ramped_down(now);
    if (stopping_ && (in_flight_ == 0 || now >= stop_deadline_)) break;
    if (!stopping_) {
      while (!wakes_.empty() && wakes_.top().at <= now) {
        const Wake wake = wakes_.top();
        wakes_.pop();
        Vu& vu = vus_[wake.vu];
        // A VU cut off in its think time may think again since: an older wake is not its own.
        if (vu.state != State::kThinking || vu.wake != wake.at) continue;
        if (vu.deferred) {
          vu.deferred = false;
          vu.running = false;
          vu.state = State::kIdle;
          // A VU ramped down since its start was put off starts no iteration.
          if (!executor_.arrival_rate() && !vu.active) {
            close_connection(vu);
            continue;
          }
          start_iteration(vu, executor_.arrival_rate() ? vu.intended : now, now);
        } else {
          end_iteration(vu, now);
        }
      }
      if (executor_.arrival_rate()) {
        run_arrivals(now);
      } else if (executor_.kind == ExecutorKind::kRampingVus) {
        update_vus(now);
      }
    }
    if (now >= next_sweep_) {
      sweep_timeouts(now);
      next_sweep_ = now + sweep_period_;
    }
    const Micros wait = std::max<Micros>(0, next_deadline(now) - now);
    const timespec timeout{static_cast<time_t>(wait / kMicrosPerSecond),
                           static_cast<long>(wait % kMicrosPerSecond) * 1000};
    const int ready = epoll_pwait2(epoll_, events, kMaxEvents, &timeout, nullptr);
    if (ready <= 0) continue;
    now = monotonic_micros();
    for (int i = 0; i < ready; ++i) {
      Vu& vu = vus_[static_cast<uint32_t>(events[i].data.u64)];
      if (vu.fd < 0 || vu.generation != static_cast<uint32_t>(events[i].data.u64 >> 32)) continue;
      on_event(vu, events[i].events, now);
    }
  }
  // In-flight requests past the graceful stop are interrupted: not counted as requests, but
  // counted as interrupted. The run ends here: closing thousands of connections (about 20 us
  // each) is not part of its duration, nor of its requests per second.
  const Micros ended = monotonic_micros();
  for (Vu& vu : vus_) {
    if (in_flight(vu)) ++recorders_[requests_[vu.request].name].counters.interrupted;
    close_connection(vu);
  }
  publish(ended, true);
}

// ---- The calling thread ---------------------------------------------------------------------

int64_t peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace

Status ensure_open_file_limit(uint64_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return Ok{};
  if (limit.rlim_cur >= needed) return Ok{};
  if (limit.rlim_max < needed) {
    return Error{"needs " + std::to_string(needed) + " open files, but the hard limit is " +
                 std::to_string(limit.rlim_max) + " (raise it: ulimit -Hn, or fewer VUs)"};
  }
  limit.rlim_cur = needed;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return Error{std::string("cannot raise the open-file limit: ") + std::strerror(errno)};
  }
  return Ok{};
}

Result<RunResult> run_load_test(const Scenario& scenario, const RunHooks& hooks) {
  auto plan = std::make_unique<RunPlan>();
  plan->scenario = &scenario;
  RunResult result;
  result.info.scenarios = {scenario.name};
  result.info.executors = {executor_name(scenario.executor.kind)};
  result.info.corrected = scenario.executor.arrival_rate();
  result.info.threads = scenario.threads;

  // A CA file given is checked even when no origin is https:// (it would go unread).
  if (!scenario.tls.ca_file.empty()) {
    auto tls = TlsContext::create(scenario.tls);
    if (!tls.ok()) return tls.error();
    plan->tls = tls.value();
  }
  // Origins: resolved, and an address of each picked, once before the run.
  for (size_t i = 0; i < scenario.requests.size(); ++i) {
    const RequestSpec& request = scenario.requests[i];
    size_t found = plan->origins.size();
    for (size_t o = 0; o < plan->origins.size(); ++o) {
      if (plan->origins[o].origin == request.origin) found = o;
    }
    if (found == plan->origins.size()) {
      auto addresses = hooks.resolve ? hooks.resolve(request.origin) : resolve(request.origin);
      if (!addresses.ok()) return addresses.error();
      if (request.origin.tls && !plan->tls) {
        auto tls = TlsContext::create(scenario.tls);
        if (!tls.ok()) return tls.error();
        plan->tls = tls.value();
      }
      const TlsContext* tls = request.origin.tls ? plan->tls.get() : nullptr;
      auto reachable = preflight(request.origin, addresses.value(), tls, scenario.connect_timeout);
      if (!reachable.ok()) return reachable.error();
      plan->origins.push_back(reachable.value());
      result.info.addresses.push_back(
          {request.origin.to_string(), address_text(reachable.value().address)});
    }
    plan->origin_of_request.push_back(found);
    std::vector<std::string> check_names;
    for (const Check& check : request.checks) check_names.push_back(check.name);
    plan->name_of_request.push_back(result.declare_request(request.name, check_names));
  }
  result.info.targets = {scenario.base_url.empty() ? plan->origins.front().origin.to_string()
                                                   : scenario.base_url};
  plan->name_count = result.requests.size();
  for (const RequestTotals& totals : result.requests) {
    plan->check_count_of_name.push_back(totals.check_names.size());
  }
  for (size_t i = 0; i < scenario.requests.size(); ++i) {
    const auto& names = result.requests[plan->name_of_request[i]].check_names;
    std::vector<size_t> slots;
    for (const Check& check : scenario.requests[i].checks) {
      slots.push_back(
          static_cast<size_t>(std::find(names.begin(), names.end(), check.name) - names.begin()));
    }
    plan->check_slots_of_request.push_back(slots);
  }
  for (RequestTotals& totals : result.requests)
    totals.counters.checks.resize(totals.check_names.size());
  for (const Threshold& threshold : scenario.thresholds)
    result.thresholds.push_back(threshold.source);

  const int threads = std::max(1, scenario.threads);
  if (auto files = ensure_open_file_limit(static_cast<uint64_t>(scenario.executor.peak_vus()) + 64 +
                                          static_cast<uint64_t>(threads) * 2);
      !files.ok()) {
    return files.error();
  }
  plan->threads = threads;
  plan->seed = scenario.seed ? scenario.seed : static_cast<uint64_t>(unix_millis());
  // A short lead so every thread is waiting when the clock starts.
  plan->start = monotonic_micros() + 20 * kMicrosPerMilli;
  result.info.started_unix_ms = unix_millis() + 20;

  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back([&plan, i] {
      Worker worker(*plan, i);
      worker.run();
    });
  }

  // Intervals in progress: index -> (interval, number of threads that reported it).
  std::map<int64_t, std::pair<Interval, int>> pending;
  int finished = 0;
  Micros ended_at = plan->start;
  const Micros planned = scenario.executor.total_duration();
  auto finalize = [&](int64_t index, Interval& interval) {
    interval.start_unix_ms = result.info.started_unix_ms + index * 1000;
    result.add_interval(interval);
    result.info.duration = std::max(result.info.duration, (index + 1) * kIntervalLength);
    if (hooks.on_progress && interval.length_ms >= 100) {  // not the run's last sliver
      Progress progress;
      progress.elapsed = std::min(result.info.duration, monotonic_micros() - plan->start);
      progress.planned = planned;
      progress.vus = interval.vus;
      progress.vus_max = result.vus_max;
      Histogram latency;
      uint64_t requests = 0;
      for (const RequestInterval& part : interval.requests) {
        latency.add(part.latency);
        requests += part.counters.requests;
      }
      progress.requests_per_second = static_cast<double>(requests) * 1000.0 /
                                     static_cast<double>(std::max<int64_t>(interval.length_ms, 1));
      progress.p95 = latency.value_at_percentile(95);
      const RequestCounters totals = result.total_counters();
      progress.requests = totals.requests;
      progress.failed = totals.failed;
      progress.dropped_iterations = result.dropped_iterations;
      hooks.on_progress(progress);
    }
    // abortOnFail thresholds, on everything measured so far.
    if (!result.info.aborted && abort_on_fail(scenario.thresholds, result)) plan->stop.store(true);
  };
  auto absorb = [&](WorkerReport& report) {
    auto& [interval, reporters] = pending[report.interval];
    if (reporters == 0) interval.length_ms = 0;
    interval.length_ms = std::max<int64_t>(interval.length_ms, (report.length + 500) / 1000);
    if (interval.requests.size() < report.requests.size())
      interval.requests.resize(report.requests.size());
    for (size_t i = 0; i < report.requests.size(); ++i)
      interval.requests[i].add(report.requests[i]);
    interval.iterations += report.iterations;
    interval.dropped_iterations += report.dropped_iterations;
    interval.delayed_iterations += report.delayed_iterations;
    interval.vus += report.vus;
    interval.vus_max += report.vus_allocated;
    ++reporters;
    if (report.final) {
      ++finished;
      ended_at = std::max(ended_at, report.ended_at);
    }
  };
  while (finished < threads) {
    for (WorkerReport& report : plan->mailbox.take(200 * kMicrosPerMilli)) absorb(report);
    // An interval is complete when every thread has reported it.
    while (!pending.empty() && pending.begin()->second.second >= threads) {
      auto node = pending.extract(pending.begin());
      finalize(node.key(), node.mapped().first);
    }
    if (hooks.interrupted && hooks.interrupted->load() && !plan->stop.load()) {
      result.info.aborted = true;
      result.info.abort_reasons = {kInterruptedReason};
      plan->stop.store(true);
    }
  }
  for (std::thread& worker : workers) worker.join();
  // The last, partial intervals (threads that ended early did not report them).
  while (!pending.empty()) {
    auto node = pending.extract(pending.begin());
    finalize(node.key(), node.mapped().first);
  }
  result.info.duration = ended_at - plan->start;
  result.info.peak_rss_kib = peak_rss_kib();
  return result;
}

}  // namespace qv::loadtest
