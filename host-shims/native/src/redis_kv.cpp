#include "qv/host/redis_kv.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "url.h"

namespace qv::host {

namespace {

// AUTH with a user and no password would log in only a user that needs none ("nopass"): the
// JS host's client sends it, with an empty password, where this host sent no AUTH and went on
// as the default user. Both hosts refuse it in these words.
constexpr const char* kUserWithoutPassword =
    "the user has no password: Redis's AUTH takes a user only with its password";

// INCRBY that sets a TTL only when it creates the key, in one atomic round trip.
// (PEXPIRE ... NX would also add a TTL to an existing key that has none.) It returns the
// new value as Redis stores it, a decimal string: INCRBY's integer reaches Lua as a double,
// exact only up to 2^53 (INT64_MAX came back as INT64_MIN). The JS shim's RedisKv does the
// same.
constexpr std::string_view kIncrWithTtlScript =
    "local created = redis.call('EXISTS', KEYS[1]) == 0\n"
    "redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "if created then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "return redis.call('GET', KEYS[1])\n";

// Compare-and-set in one atomic round trip. ARGV: expect-absent flag, expected value, new
// value, TTL in ms (0: none). Returns {1} when set, {0, current} when the value differs,
// {-1} when the key is absent. The JS shim's RedisKv runs the same script.
constexpr std::string_view kCasScript =
    "local current = redis.call('GET', KEYS[1])\n"
    "local matches\n"
    "if ARGV[1] == '1' then matches = (current == false) else matches = (current == ARGV[2]) end\n"
    "if matches then\n"
    "  if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])\n"
    "  else redis.call('SET', KEYS[1], ARGV[3]) end\n"
    "  return {1}\n"
    "end\n"
    "if current == false then return {-1} end\n"
    "return {0, current}\n";

timeval to_timeval(uint32_t ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

// hiredis writes to its socket with write(2): a server that closed the connection would
// raise SIGPIPE and kill the process. Block SIGPIPE on this thread while a command runs
// and swallow one raised meanwhile; the failed write comes back as EPIPE instead.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &previous_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec no_wait{0, 0};
        sigtimedwait(&pipe_, nullptr, &no_wait);
      }
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_;
  sigset_t previous_;
  bool was_pending_ = false;
};

// Whether an idle connection can no longer be used: between commands the server sends
// nothing, so a socket that is readable (end of file, a reset, or bytes nobody asked for)
// or in error was closed or broke while idle (a restart, the server's idle timeout).
bool closed_while_idle(int fd) {
  pollfd ready{fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&ready, 1, 0) != 0;
}

// The numeric addresses getaddrinfo gives for host, in its order.
Result<std::vector<std::string>> resolve_by_getaddrinfo(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int code = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (code != 0) return Error{QV_UNAVAILABLE, gai_strerror(code)};
  std::vector<std::string> addresses;
  for (const addrinfo* at = found; at; at = at->ai_next) {
    char text[NI_MAXHOST];
    if (getnameinfo(at->ai_addr, at->ai_addrlen, text, sizeof text, nullptr, 0, NI_NUMERICHOST) ==
            0 &&
        std::find(addresses.begin(), addresses.end(), text) == addresses.end()) {
      addresses.emplace_back(text);
    }
  }
  freeaddrinfo(found);
  if (addresses.empty()) return Error{QV_UNAVAILABLE, "no address"};
  return addresses;
}

using Resolver = decltype(RedisOptions::resolve);

// One resolution, shared by the thread that runs it and the one waiting for it, which may
// stop waiting first: whichever lets go of it last frees it.
struct Resolution {
  Resolver resolve;
  std::string host;
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  Result<std::vector<std::string>> addresses = std::vector<std::string>{};
};

void* run_resolution(void* argument) {
  std::unique_ptr<std::shared_ptr<Resolution>> held(
      static_cast<std::shared_ptr<Resolution>*>(argument));
  Resolution& resolution = **held;
  Result<std::vector<std::string>> addresses = resolution.resolve(resolution.host);
  {
    std::lock_guard<std::mutex> lock(resolution.mutex);
    resolution.addresses = std::move(addresses);
    resolution.done = true;
  }
  resolution.finished.notify_all();
  return nullptr;
}

// The addresses to connect to for host, found by resolve on a thread of its own and waited
// for until deadline at most; a numeric host is its own. Errors: QV_TIMEOUT when the deadline
// came first, else the resolver's (its message saying why).
Result<std::vector<std::string>> addresses_of(const std::string& host, const Resolver& resolve,
                                              std::chrono::steady_clock::time_point deadline) {
  unsigned char numeric[sizeof(in6_addr)];
  if (inet_pton(AF_INET, host.c_str(), numeric) == 1 ||
      inet_pton(AF_INET6, host.c_str(), numeric) == 1) {
    return std::vector<std::string>{host};
  }
  auto resolution = std::make_shared<Resolution>();
  resolution->resolve = resolve ? resolve : resolve_by_getaddrinfo;
  resolution->host = host;
  auto* argument = new std::shared_ptr<Resolution>(resolution);
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  const int started = pthread_create(&thread, &attributes, run_resolution, argument);
  pthread_attr_destroy(&attributes);
  if (started != 0) {
    delete argument;
    return Error{QV_UNAVAILABLE,
                 std::string("no thread to resolve it on (") + std::strerror(started) + ")"};
  }
  std::unique_lock<std::mutex> lock(resolution->mutex);
  if (!resolution->finished.wait_until(lock, deadline, [&] { return resolution->done; })) {
    return Error{QV_TIMEOUT, ""};
  }
  return std::move(resolution->addresses);
}

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

std::string_view reply_text(const redisReply& reply) {
  return std::string_view(reply.str, reply.len);
}

// A Redis error reply (WRONGTYPE, "not an integer", NOAUTH, OOM, ...) as a failed KvReply,
// in the words of the command that failed: an error inside one of the scripts above ends
// with where in the script (" script: <sha>, on @user_script:3."), which is left out, as
// the JS shim's RedisKv leaves it out.
KvReply error_reply(const std::string& address, std::string_view command, const redisReply& reply) {
  std::string_view text = reply_text(reply);
  if (const size_t at = text.rfind(" script: ");
      at != std::string_view::npos &&
      text.find(", on @user_script:", at) != std::string_view::npos) {
    text = text.substr(0, at);
  }
  return KvReply::failure(QV_UNAVAILABLE, "redis " + address + ": " + std::string(command) +
                                              " failed: " + std::string(text));
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percent_decode(std::string_view text, const char* part) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const int high = i + 2 < text.size() ? hex_digit(text[i + 1]) : -1;
    const int low = high >= 0 ? hex_digit(text[i + 2]) : -1;
    if (low < 0) return invalid_input(std::string("redis URL: bad percent-escape in the ") + part);
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

// A whole decimal number in [min, max], or false.
bool parse_number(std::string_view text, long min, long max, long& out) {
  if (text.empty() || text.size() > 10) return false;
  long value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value < min || value > max) return false;
  out = value;
  return true;
}

}  // namespace

Result<RedisOptions> parse_redis_url(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, 9) == "rediss://") {
    return invalid_input(
        "redis URL: rediss:// (TLS) is not supported: this build's hiredis has "
        "no TLS");
  }
  if (url.substr(0, kScheme.size()) != kScheme) {
    return invalid_input("redis URL: expected redis://[user:password@]host[:port][/db], got '" +
                         without_credentials(url) + "'");
  }
  RedisOptions options;
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return invalid_input("redis URL: query parameters and fragments are not supported");
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash + 1);

  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    auto user = percent_decode(userinfo.substr(0, colon), "user");
    if (!user.ok()) return user.take_error();
    options.username = std::move(user.value());
    if (colon != std::string_view::npos) {
      auto password = percent_decode(userinfo.substr(colon + 1), "password");
      if (!password.ok()) return password.take_error();
      options.password = std::move(password.value());
    }
    // Refused on both hosts, in the same words (the options are refused as RedisKv connects).
    if (!options.username.empty() && options.password.empty()) {
      return invalid_input(std::string("redis URL: ") + kUserWithoutPassword +
                           " (redis://user:password@host), and a URL without a user logs in "
                           "as the default user");
    }
  }

  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos)
      return invalid_input("redis URL: unclosed '[' in the host");
    options.host.assign(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid_input("redis URL: expected ':' after ']'");
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    options.host.assign(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (options.host.empty()) return invalid_input("redis URL: the host is missing");
  long number = 0;
  if (!port_text.empty() || authority.back() == ':') {
    if (!parse_number(port_text, 1, 65535, number)) {
      return invalid_input("redis URL: port '" + std::string(port_text) +
                           "' is not a number from 1 to 65535");
    }
    options.port = static_cast<int>(number);
  }
  if (!path.empty()) {
    if (!parse_number(path, 0, 1000000, number)) {
      return invalid_input("redis URL: database '" + std::string(path) + "' is not a number");
    }
    options.database = static_cast<int>(number);
  }
  return options;
}

struct RedisKv::Reply {
  ReplyPtr reply;   // set on success (which may be a Redis error reply)
  KvReply failure;  // when reply is null: why
};

RedisKv::RedisKv(RedisOptions options) : options_(std::move(options)) {}

RedisKv::~RedisKv() {
  disconnect();
}

std::string RedisKv::address() const {
  const bool ipv6 = options_.host.find(':') != std::string::npos;
  return (ipv6 ? "[" + options_.host + "]" : options_.host) + ":" + std::to_string(options_.port);
}

void RedisKv::disconnect() {
  if (context_) redisFree(context_);
  context_ = nullptr;
}

KvReply RedisKv::connect() {
  // Options filled in by code are refused as a URL is, before any connection.
  if (!options_.username.empty() && options_.password.empty()) {
    return KvReply::failure(QV_UNAVAILABLE,
                            "redis " + address() + ": " + kUserWithoutPassword +
                                " (RedisOptions::password), and options without a username "
                                "log in as the default user");
  }
  // Real time, not options_.clock (which times the back-off).
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.connect_timeout_ms);
  const std::string within = " within " + std::to_string(options_.connect_timeout_ms) + " ms";
  auto addresses = addresses_of(options_.host, options_.resolve, deadline);
  if (!addresses.ok()) {
    const Error& error = addresses.error();
    return KvReply::failure(error.status,
                            "redis " + address() + ": cannot resolve '" + options_.host + "'" +
                                (error.status == QV_TIMEOUT ? within + " (connect_timeout_ms)"
                                                            : " (" + error.message + ")"));
  }
  // Each address in turn, in the time left, until one accepts.
  KvReply failure;
  for (const std::string& host : addresses.value()) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    errno = 0;
    context_ = redisConnectWithTimeout(host.c_str(), options_.port,
                                       to_timeval(static_cast<uint32_t>(left.count())));
    if (!context_) {
      return KvReply::failure(QV_UNAVAILABLE,
                              "redis " + address() + ": cannot allocate a connection");
    }
    if (!context_->err) break;
    const int saved_errno = errno;
    const bool timed_out =
        saved_errno == ETIMEDOUT || std::strstr(context_->errstr, "timed out") != nullptr;
    failure = KvReply::failure(timed_out ? QV_TIMEOUT : QV_UNAVAILABLE,
                               "redis " + address() + ": cannot connect (" + context_->errstr +
                                   ")" + (timed_out ? within : ""));
    disconnect();
  }
  if (!context_) {
    if (failure.ok()) {  // the time ran out before an address was tried
      failure = KvReply::failure(QV_TIMEOUT, "redis " + address() + ": cannot connect" + within);
    }
    return failure;
  }
  if (redisSetTimeout(context_, to_timeval(options_.command_timeout_ms)) != REDIS_OK) {
    disconnect();
    return KvReply::failure(QV_UNAVAILABLE, "redis " + address() + ": cannot set the timeout");
  }
  // The connection is usable from here: AUTH, SELECT and CLIENT SETNAME go through send().
  if (!options_.password.empty()) {
    Reply auth = options_.username.empty() ? send({"AUTH", options_.password})
                                           : send({"AUTH", options_.username, options_.password});
    if (!auth.reply) return auth.failure;
    if (auth.reply->type == REDIS_REPLY_ERROR) {
      KvReply failure = error_reply(address(), "AUTH", *auth.reply);
      disconnect();
      return failure;
    }
  }
  if (options_.database != 0) {
    Reply select = send({"SELECT", std::to_string(options_.database)});
    if (!select.reply) return select.failure;
    if (select.reply->type == REDIS_REPLY_ERROR) {
      KvReply failure = error_reply(address(), "SELECT", *select.reply);
      disconnect();
      return failure;
    }
  }
  if (!options_.client_name.empty()) {
    Reply named = send({"CLIENT", "SETNAME", options_.client_name});
    if (!named.reply) return named.failure;
    if (named.reply->type == REDIS_REPLY_ERROR) {
      KvReply failure = error_reply(address(), "CLIENT SETNAME", *named.reply);
      disconnect();
      return failure;
    }
  }
  return {};
}

std::chrono::steady_clock::time_point RedisKv::now() const {
  return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

void RedisKv::back_off(const KvReply& failure) {
  backoff_ms_ = backoff_ms_ ? std::min(2 * backoff_ms_, options_.reconnect_backoff_max_ms)
                            : options_.reconnect_backoff_ms;
  next_attempt_ = now() + std::chrono::milliseconds(backoff_ms_);
  last_failure_ = failure;
}

RedisKv::Reply RedisKv::command(std::initializer_list<std::string_view> args) {
  Reply result;
  // A command sent on a connection the server already closed would fail, though the
  // server may well be back: reconnect first, as the JS shim's client does by itself.
  if (context_ && closed_while_idle(context_->fd)) disconnect();
  if (!context_) {
    const auto at = now();
    if (backoff_ms_ > 0 && at < next_attempt_) {
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_attempt_ - at);
      result.failure = last_failure_;
      result.failure.message +=
          "; next connection attempt in " + std::to_string(wait.count()) + " ms";
      return result;
    }
    KvReply connected = connect();
    if (!connected.ok()) {
      back_off(connected);
      result.failure = std::move(connected);
      return result;
    }
  }
  result = send(args);
  if (result.reply) {
    backoff_ms_ = 0;  // the server answers (an error reply too)
  } else if (result.failure.status == QV_TIMEOUT) {
    // A stalled server accepts connections and answers nothing: without the back-off every
    // operation would reconnect and wait out the command timeout again.
    back_off(result.failure);
  }
  return result;
}

RedisKv::Reply RedisKv::send(std::initializer_list<std::string_view> args) {
  Reply result;
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (std::string_view arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  void* raw = nullptr;
  int saved_errno = 0;
  {
    SigpipeGuard guard;
    errno = 0;
    raw = redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data());
    saved_errno = errno;
  }
  if (raw) {
    result.reply.reset(static_cast<redisReply*>(raw));
    return result;
  }
  // No reply: the connection is in an unknown state (an answer may still be on its way).
  const bool timed_out =
      context_->err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK);
  const std::string command_name(args.size() ? *args.begin() : "command");
  result.failure = KvReply::failure(
      timed_out ? QV_TIMEOUT : QV_UNAVAILABLE,
      timed_out
          ? "redis " + address() + ": no answer to " + command_name + " within " +
                std::to_string(options_.command_timeout_ms) + " ms"
          : "redis " + address() + ": " + command_name + " failed (" + context_->errstr + ")");
  disconnect();
  return result;
}

KvReply RedisKv::get(std::string_view key) {
  const std::string full_key = options_.key_prefix + std::string(key);
  Reply got = command({"GET", full_key});
  if (!got.reply) return got.failure;
  KvReply reply;
  switch (got.reply->type) {
    case REDIS_REPLY_STRING:
      reply.value.assign(reply_text(*got.reply));
      return reply;
    case REDIS_REPLY_NIL:
      reply.status = QV_NOT_FOUND;
      return reply;
    case REDIS_REPLY_ERROR:
      return error_reply(address(), "GET", *got.reply);
    default:
      return KvReply::failure(QV_UNAVAILABLE,
                              "redis " + address() + ": GET gave an unexpected reply");
  }
}

KvReply RedisKv::set(std::string_view key, std::string_view value, uint32_t ttl_ms) {
  const std::string full_key = options_.key_prefix + std::string(key);
  const std::string ttl = std::to_string(ttl_ms);
  Reply set =
      ttl_ms ? command({"SET", full_key, value, "PX", ttl}) : command({"SET", full_key, value});
  if (!set.reply) return set.failure;
  if (set.reply->type == REDIS_REPLY_ERROR) return error_reply(address(), "SET", *set.reply);
  return {};
}

KvReply RedisKv::incr(std::string_view key, int64_t delta, uint32_t ttl_ms) {
  const std::string full_key = options_.key_prefix + std::string(key);
  const std::string amount = std::to_string(delta);
  const std::string ttl = std::to_string(ttl_ms);
  Reply incr = ttl_ms ? command({"EVAL", kIncrWithTtlScript, "1", full_key, amount, ttl})
                      : command({"INCRBY", full_key, amount});
  if (!incr.reply) return incr.failure;
  if (incr.reply->type == REDIS_REPLY_ERROR) return error_reply(address(), "INCRBY", *incr.reply);
  KvReply reply;
  if (incr.reply->type == REDIS_REPLY_INTEGER) {
    reply.number = incr.reply->integer;
  } else if (incr.reply->type != REDIS_REPLY_STRING ||
             !parse_kv_integer(reply_text(*incr.reply), reply.number)) {
    return KvReply::failure(QV_UNAVAILABLE, "redis " + address() + ": INCRBY gave no integer");
  }
  return reply;
}

KvReply RedisKv::del(std::string_view key) {
  const std::string full_key = options_.key_prefix + std::string(key);
  Reply del = command({"DEL", full_key});
  if (!del.reply) return del.failure;
  if (del.reply->type == REDIS_REPLY_ERROR) return error_reply(address(), "DEL", *del.reply);
  KvReply reply;
  reply.number = del.reply->type == REDIS_REPLY_INTEGER ? del.reply->integer : 0;
  return reply;
}

KvReply RedisKv::cas(std::string_view key, std::optional<std::string_view> expected,
                     std::string_view value, uint32_t ttl_ms) {
  const std::string full_key = options_.key_prefix + std::string(key);
  Reply cas = command({"EVAL", kCasScript, "1", full_key, expected ? "0" : "1",
                       expected.value_or(std::string_view()), value, std::to_string(ttl_ms)});
  if (!cas.reply) return cas.failure;
  const redisReply& r = *cas.reply;
  if (r.type == REDIS_REPLY_ERROR) return error_reply(address(), "EVAL (compare-and-set)", r);
  if (r.type != REDIS_REPLY_ARRAY || r.elements < 1 || r.element[0]->type != REDIS_REPLY_INTEGER) {
    return KvReply::failure(QV_UNAVAILABLE,
                            "redis " + address() + ": compare-and-set gave an unexpected reply");
  }
  KvReply reply;
  reply.number = r.element[0]->integer;
  if (reply.number == 0 && r.elements > 1) reply.value.assign(reply_text(*r.element[1]));
  return reply;
}

KvReply RedisKv::ping() {
  Reply pong = command({"PING"});
  if (!pong.reply) return pong.failure;
  if (pong.reply->type == REDIS_REPLY_ERROR) return error_reply(address(), "PING", *pong.reply);
  return {};
}

}  // namespace qv::host
