// RedisKv against a real redis-server, whose URL the test command passes in QV_REDIS_URL
// (scripts/test starts a throw-away server on a free port). Every run uses its own key
// prefix, so runs sharing a server never collide.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>

#include "qv/host/redis_kv.h"
#include "support/local_server.h"
#include "support/test_host.h"

using qv::host::KvReply;
using qv::host::RedisKv;
using qv::host::RedisOptions;

namespace {

// The options for the test server, with a key prefix unique to this run. Fails the test
// when QV_REDIS_URL is not set: a skipped Redis test would pass silently.
RedisOptions test_options() {
  const char* url = std::getenv("QV_REDIS_URL");
  if (!url || !*url) {
    FAIL(
        "QV_REDIS_URL is not set. The test command (npm test, scripts/test) starts a "
        "redis-server and sets it; by hand: redis-server --port 6399 --save '' --appendonly no "
        "--daemonize yes, then QV_REDIS_URL=redis://127.0.0.1:6399 ctest --preset native");
  }
  auto options = qv::host::parse_redis_url(url);
  INFO("QV_REDIS_URL: " << (options.ok() ? "" : options.error().message));  // no password
  REQUIRE(options.ok());
  static const std::string prefix = [] {
    std::random_device device;
    return "qvtest:" + std::to_string(::getpid()) + ":" + std::to_string(device()) + ":";
  }();
  options.value().key_prefix = prefix;
  return options.value();
}

void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// A second connection to the test server, for what RedisKv does not ask.
using Admin = std::unique_ptr<redisContext, decltype(&redisFree)>;
Admin admin_connection(const RedisOptions& options) {
  Admin admin(redisConnect(options.host.c_str(), options.port), &redisFree);
  REQUIRE(admin);
  REQUIRE(admin->err == 0);
  if (!options.password.empty()) {
    freeReplyObject(redisCommand(admin.get(), "AUTH %s", options.password.c_str()));
  }
  return admin;
}

// The server's clock, in whole ms (as Redis keeps expiries).
int64_t server_ms(redisContext* admin) {
  auto* time = static_cast<redisReply*>(redisCommand(admin, "TIME"));
  REQUIRE(time);
  REQUIRE(time->type == REDIS_REPLY_ARRAY);
  REQUIRE(time->elements == 2);
  const int64_t ms =
      std::stoll(time->element[0]->str) * 1000 + std::stoll(time->element[1]->str) / 1000;
  freeReplyObject(time);
  return ms;
}

// When Redis ends the key (PEXPIRETIME: ms since the epoch; -1 without a TTL).
int64_t expires_at(redisContext* admin, const std::string& key) {
  auto* at =
      static_cast<redisReply*>(redisCommand(admin, "PEXPIRETIME %b", key.data(), key.size()));
  REQUIRE(at);
  INFO((at->type == REDIS_REPLY_ERROR ? std::string(at->str, at->len) : std::string()));
  REQUIRE(at->type == REDIS_REPLY_INTEGER);
  const int64_t value = at->integer;
  freeReplyObject(at);
  return value;
}

// Whether write gave the key a TTL of ttl_ms: its expiry lies ttl_ms past the server's clock
// between the write being sent and answered. A TTL is read, not waited out.
template <typename Write>
void check_ttl(redisContext* admin, const std::string& key, int64_t ttl_ms, Write write) {
  const int64_t sent = server_ms(admin);
  write();
  const int64_t answered = server_ms(admin);
  const int64_t at = expires_at(admin, key);
  INFO("expiry " << at << ", write sent at " << sent << ", answered at " << answered);
  CHECK(at >= sent + ttl_ms);
  CHECK(at <= answered + ttl_ms);
}

}  // namespace

TEST_CASE("RedisKv: get, set, del", "[redis]") {
  RedisKv kv(test_options());
  REQUIRE(kv.ping().ok());
  CHECK(kv.get("missing").status == QV_NOT_FOUND);
  REQUIRE(kv.set("name", "value", 0).ok());
  CHECK(kv.get("name").value == "value");
  REQUIRE(kv.set("name", "", 0).ok());  // an empty value is a value, not a miss
  const KvReply empty = kv.get("name");
  CHECK(empty.status == QV_OK);
  CHECK(empty.value.empty());
  CHECK(kv.del("name").number == 1);
  CHECK(kv.del("name").number == 0);
  CHECK(kv.get("name").status == QV_NOT_FOUND);
}

TEST_CASE("RedisKv: keys and values are binary-safe", "[redis]") {
  RedisKv kv(test_options());
  const std::string key("bin\0ary\r\n key %s", 17);
  std::string value;
  for (int round = 0; round < 4; ++round) {
    for (int c = 0; c < 256; ++c) value += static_cast<char>(c);
  }
  REQUIRE(kv.set(key, value, 0).ok());
  const KvReply got = kv.get(key);
  REQUIRE(got.ok());
  CHECK(got.value == value);
  CHECK(kv.get(std::string("bin", 3)).status == QV_NOT_FOUND);  // the NUL is part of the key
  CHECK(kv.del(key).number == 1);
}

TEST_CASE("RedisKv: set with a TTL gives the key that expiry; without one, none", "[redis]") {
  const RedisOptions options = test_options();
  RedisKv kv(options);
  const Admin admin = admin_connection(options);
  const std::string key = options.key_prefix + "short";
  check_ttl(admin.get(), key, 60000, [&] { REQUIRE(kv.set("short", "lived", 60000).ok()); });
  CHECK(kv.get("short").value == "lived");
  REQUIRE(kv.set("short", "again", 0).ok());
  CHECK(expires_at(admin.get(), key) == -1);
  kv.del("short");
}

TEST_CASE("RedisKv: incr sets the TTL only when it creates the key", "[redis]") {
  const RedisOptions options = test_options();
  RedisKv kv(options);
  const Admin admin = admin_connection(options);
  const auto key = [&](const char* name) { return options.key_prefix + name; };
  check_ttl(admin.get(), key("created"), 60000,
            [&] { CHECK(kv.incr("created", 5, 60000).number == 5); });  // new: its TTL
  CHECK(kv.incr("kept", 1, 10000).number == 1);
  const int64_t kept_until = expires_at(admin.get(), key("kept"));
  CHECK(kv.incr("kept", 1, 150).number == 2);  // existing: keeps its expiry
  CHECK(expires_at(admin.get(), key("kept")) == kept_until);
  REQUIRE(kv.set("no-ttl", "7", 0).ok());
  CHECK(kv.incr("no-ttl", 3, 150).number == 10);  // existing without TTL: stays so
  CHECK(expires_at(admin.get(), key("no-ttl")) == -1);
  CHECK(kv.incr("plain", -4, 0).number == -4);  // no TTL asked
  CHECK(expires_at(admin.get(), key("plain")) == -1);
  CHECK(kv.get("created").value == "5");
  CHECK(kv.get("kept").value == "2");
  CHECK(kv.get("no-ttl").value == "10");
  CHECK(kv.get("plain").value == "-4");

  REQUIRE(kv.set("text", "abc", 0).ok());
  const KvReply refused = kv.incr("text", 1, 0);
  CHECK(refused.status == QV_UNAVAILABLE);
  CHECK_THAT(refused.message, Catch::Matchers::Contains("not an integer"));
  const KvReply refused_by_script = kv.incr("text", 1, 1000);  // the EVAL path too
  CHECK(refused_by_script.status == QV_UNAVAILABLE);
  CHECK(refused_by_script.message == refused.message);  // not where in the script
  CHECK(kv.get("text").value == "abc");
  for (const char* name : {"created", "kept", "no-ttl", "plain", "text"}) kv.del(name);
}

TEST_CASE("RedisKv: incr is exact across the 64-bit range, with a TTL too", "[redis]") {
  // Past 2^53 a Lua number (a double) can no longer hold every integer: the EVAL path must
  // not pass the value through one.
  RedisKv kv(test_options());
  REQUIRE(kv.set("big", "9007199254740992", 0).ok());  // 2^53
  CHECK(kv.incr("big", 1, 10000).number == 9007199254740993);
  CHECK(kv.incr("big", 1, 0).number == 9007199254740994);
  REQUIRE(kv.set("top", "9223372036854775806", 0).ok());
  CHECK(kv.incr("top", 1, 10000).number == INT64_MAX);
  CHECK(kv.incr("top", 1, 10000).status == QV_UNAVAILABLE);     // would overflow
  CHECK(kv.incr("low", INT64_MIN, 10000).number == INT64_MIN);  // created, with its TTL
  for (const char* key : {"big", "top", "low"}) kv.del(key);
}

TEST_CASE("RedisKv: compare-and-set", "[redis]") {
  const RedisOptions options = test_options();
  RedisKv kv(options);
  const Admin admin = admin_connection(options);
  const std::string key = "cas";
  REQUIRE(kv.del(key).ok());
  // Absent: only an expect-absent set succeeds.
  CHECK(kv.cas(key, std::string_view("x"), "1", 0).number == -1);
  CHECK(kv.cas(key, std::nullopt, "1", 0).number == 1);
  CHECK(kv.cas(key, std::nullopt, "2", 0).number == 0);
  // Present: the expected value must match exactly; a mismatch returns the current one.
  KvReply mismatch = kv.cas(key, std::string_view("0"), "2", 0);
  CHECK(mismatch.number == 0);
  CHECK(mismatch.value == "1");
  check_ttl(admin.get(), options.key_prefix + key, 60000, [&] {  // the TTL of the set applies
    CHECK(kv.cas(key, std::string_view("1"), std::string_view("\0two", 4), 60000).number == 1);
  });
  CHECK(kv.get(key).value == std::string("\0two", 4));
  kv.del(key);
}

TEST_CASE("A Redis URL's credentials are never quoted: a refused URL is named without them",
          "[redis]") {
  const std::pair<const char*, const char*> refused[] = {
      {"http://alice:s3cret@127.0.0.1:6379", "got 'http://127.0.0.1:6379'"},
      {"http://:s3cret@127.0.0.1:6379/0", "got 'http://127.0.0.1:6379/0'"},
      {"alice:s3cret@127.0.0.1:6379", "got '127.0.0.1:6379'"},
      {"rediss://alice:s3cret@127.0.0.1:6379", "TLS"},
      {"redis://alice:s3cret@127.0.0.1:99999", "port '99999'"},
      {"redis://alice:s3cret@127.0.0.1/x", "database 'x'"},
      {"redis://alice:s3cret@127.0.0.1?db=1", "query"},
      {"redis://alice:s3cret@", "host is missing"},
      // AUTH takes a user only with its password: in the JS host's words too
      // (wasm-tests/redis.test.mjs).
      {"redis://alice@127.0.0.1:6379",
       "redis URL: the user has no password: Redis's AUTH takes a user only with its "
       "password (redis://user:password@host), and a URL without a user logs in as the "
       "default user"},
      {"redis://alice:@127.0.0.1:6379",
       "redis URL: the user has no password: Redis's AUTH takes a user only with its "
       "password (redis://user:password@host), and a URL without a user logs in as the "
       "default user"},
  };
  for (const auto& [url, message] : refused) {
    auto parsed = qv::host::parse_redis_url(url);
    REQUIRE_FALSE(parsed.ok());
    INFO(parsed.error().message);
    CHECK_THAT(parsed.error().message, Catch::Matchers::Contains(message));
    CHECK_THAT(parsed.error().message, !Catch::Matchers::Contains("s3cret"));
    CHECK_THAT(parsed.error().message, !Catch::Matchers::Contains("alice"));
  }

  // Nor do the failures to connect or to log in, which name the server by host:port.
  auto unreachable = qv::host::parse_redis_url("redis://alice:s3cret@127.0.0.1:" +
                                               std::to_string(qv::test::closed_port()));
  REQUIRE(unreachable.ok());
  const KvReply refused_connection = RedisKv(unreachable.value()).get("k");
  INFO(refused_connection.message);
  CHECK_THAT(refused_connection.message, Catch::Matchers::Contains("cannot connect"));
  CHECK_THAT(refused_connection.message, !Catch::Matchers::Contains("s3cret"));
  RedisOptions wrong_password = test_options();
  wrong_password.username = "qv-no-such-user";
  wrong_password.password = "s3cret";
  const KvReply refused_login = RedisKv(wrong_password).get("k");
  INFO(refused_login.message);
  CHECK(refused_login.status == QV_UNAVAILABLE);
  CHECK_THAT(refused_login.message, Catch::Matchers::Contains("AUTH failed"));
  CHECK_THAT(refused_login.message, !Catch::Matchers::Contains("s3cret"));
}

TEST_CASE("RedisKv: options with a user and no password are refused as such a URL is", "[redis]") {
  // Filled in by code, not parsed from a URL: no AUTH would be sent and the operations would
  // go on as the default user. Refused in the URL's words, the server named, no key written.
  RedisOptions options = test_options();
  options.username = "alice";
  options.password.clear();
  RedisKv kv(options);
  const KvReply refused = kv.set("user-without-password", "1", 0);
  INFO(refused.message);
  CHECK(refused.status == QV_UNAVAILABLE);
  CHECK_THAT(refused.message,
             Catch::Matchers::StartsWith("redis " + kv.address() +
                                         ": the user has no password: Redis's AUTH takes a user "
                                         "only with its password (RedisOptions::password)"));
  Admin admin = admin_connection(test_options());
  auto* exists = static_cast<redisReply*>(redisCommand(
      admin.get(), "EXISTS %s", (options.key_prefix + "user-without-password").c_str()));
  REQUIRE(exists);
  CHECK(exists->integer == 0);
  freeReplyObject(exists);
}

TEST_CASE("RedisKv: an unreachable server is unavailable, fast, and never a crash", "[redis]") {
  RedisOptions options;
  options.host = "127.0.0.1";
  options.port = qv::test::closed_port();  // refused at once
  options.connect_timeout_ms = 300;
  options.reconnect_backoff_ms = 60000;  // no second attempt within this test
  RedisKv kv(options);
  const KvReply reply = kv.get("anything");
  CHECK(reply.status == QV_UNAVAILABLE);
  CHECK_THAT(reply.message, Catch::Matchers::Contains("cannot connect"));
  CHECK_THAT(reply.message, Catch::Matchers::Contains(kv.address()));
  CHECK_THAT(reply.message, !Catch::Matchers::Contains("next connection attempt"));
  // Within the back-off no attempt is made: the operation fails at once with the last
  // failure and says when the next attempt is.
  const KvReply held = kv.set("k", "v", 0);
  CHECK(held.status == QV_UNAVAILABLE);
  CHECK_THAT(held.message, Catch::Matchers::Contains("cannot connect"));
  CHECK_THAT(held.message, Catch::Matchers::Contains("; next connection attempt in "));
  CHECK(kv.ping().status == QV_UNAVAILABLE);

  // Once the back-off has passed, the next operation tries again.
  RedisOptions brief = options;
  brief.reconnect_backoff_ms = brief.reconnect_backoff_max_ms = 1;
  RedisKv retrying(brief);
  CHECK(retrying.get("k").status == QV_UNAVAILABLE);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const KvReply retried = retrying.get("k");
  CHECK_THAT(retried.message, Catch::Matchers::Contains("cannot connect"));
  CHECK_THAT(retried.message, !Catch::Matchers::Contains("next connection attempt"));

  RedisOptions port_one = options;
  port_one.port = 1;
  CHECK(RedisKv(port_one).incr("k", 1, 0).status == QV_UNAVAILABLE);
}

TEST_CASE("RedisKv: a host name is resolved within the connect timeout", "[redis]") {
  // A resolver that answers only once the test lets it: the operation must not wait for it.
  // (It gives up after 30 s, so a RedisKv that waits fails this test rather than hanging it.)
  struct Held {
    std::mutex mutex;
    std::condition_variable released_cv;
    bool released = false;
    bool answered = false;
    std::vector<std::string> asked;
  };
  auto held = std::make_shared<Held>();
  RedisOptions options;
  options.host = "redis.test";
  options.port = qv::test::closed_port();
  options.connect_timeout_ms = 50;
  options.reconnect_backoff_ms = 60000;  // no second attempt within this test
  options.resolve = [held](const std::string& host) -> qv::Result<std::vector<std::string>> {
    std::unique_lock<std::mutex> lock(held->mutex);
    held->asked.push_back(host);
    held->released_cv.wait_for(lock, std::chrono::seconds(30), [&] { return held->released; });
    held->answered = true;
    return std::vector<std::string>{"127.0.0.1"};
  };
  RedisKv kv(options);
  const KvReply reply = kv.get("k");
  bool answered = false;
  {
    std::lock_guard<std::mutex> lock(held->mutex);
    answered = held->answered;
    held->released = true;
  }
  held->released_cv.notify_all();
  CHECK_FALSE(answered);  // the get ended while the resolver still held its answer
  CHECK(reply.status == QV_TIMEOUT);
  CHECK(reply.message == "redis " + kv.address() +
                             ": cannot resolve 'redis.test' within 50 ms (connect_timeout_ms)");

  // A name that does not resolve says why; a numeric host is not resolved at all.
  options.resolve = [held](const std::string& host) -> qv::Result<std::vector<std::string>> {
    std::lock_guard<std::mutex> lock(held->mutex);
    held->asked.push_back(host);
    return qv::Error{QV_UNAVAILABLE, "Name or service not known"};
  };
  const KvReply unknown = RedisKv(options).get("k");
  CHECK(unknown.status == QV_UNAVAILABLE);
  CHECK(unknown.message ==
        "redis " + kv.address() + ": cannot resolve 'redis.test' (Name or service not known)");
  options.host = "127.0.0.1";
  CHECK_THAT(RedisKv(options).get("k").message, Catch::Matchers::Contains("cannot connect"));
  std::lock_guard<std::mutex> lock(held->mutex);
  CHECK(held->asked == std::vector<std::string>{"redis.test", "redis.test"});
}

TEST_CASE("RedisKv: connects to the addresses its host name resolves to, in turn", "[redis]") {
  RedisOptions options = test_options();
  const std::string server = options.host;
  options.host = "redis.test";
  // The first address no TCP connection reaches (the broadcast address); the next is the
  // test server.
  options.resolve = [server](const std::string&) -> qv::Result<std::vector<std::string>> {
    return std::vector<std::string>{"255.255.255.255", server};
  };
  RedisKv kv(options);
  CHECK(kv.set("resolved", "yes", 0).ok());
  CHECK(kv.get("resolved").value == "yes");
  // getaddrinfo's answers, when no resolver is given.
  options.resolve = nullptr;
  options.host = server == "127.0.0.1" ? "localhost" : server;
  CHECK(RedisKv(options).get("resolved").value == "yes");
}

TEST_CASE("RedisKv: a server that never answers is a timeout", "[redis]") {
  auto hung = qv::test::LocalServer::silent();  // accepts connections, never replies
  RedisOptions options;
  options.port = hung->port();
  options.command_timeout_ms = 200;
  RedisKv kv(options);
  const KvReply reply = kv.get("anything");
  CHECK(reply.status == QV_TIMEOUT);
  CHECK_THAT(reply.message, Catch::Matchers::Contains("no answer to GET within 200 ms"));
  CHECK(kv.incr("k", 1, 100).status == QV_TIMEOUT);  // the same failure, within the back-off
}

TEST_CASE("RedisKv: after a command times out, operations fail at once until the back-off ends",
          "[redis]") {
  // A stalled server: connections succeed, commands are never answered. Every connection
  // attempt is counted; the back-off runs on a clock the test sets.
  auto stalled = qv::test::LocalServer::silent();
  auto now = std::chrono::steady_clock::now();
  RedisOptions options;
  options.port = stalled->port();
  options.command_timeout_ms = 50;
  options.reconnect_backoff_ms = 1000;
  options.reconnect_backoff_max_ms = 4000;
  options.clock = [&now] { return now; };
  RedisKv kv(options);
  const KvReply first = kv.get("k");
  CHECK(first.status == QV_TIMEOUT);
  CHECK_THAT(first.message, Catch::Matchers::Contains("no answer to GET within 50 ms"));
  CHECK(stalled->accept_waiting() == 1);

  // Within the back-off every operation fails at once with that failure, saying when the
  // next attempt is, and none connects (or waits out the command timeout).
  const KvReply held = kv.set("k", "v", 0);
  CHECK(held.status == QV_TIMEOUT);
  CHECK(held.message == first.message + "; next connection attempt in 1000 ms");
  CHECK(kv.incr("k", 1, 100).status == QV_TIMEOUT);
  CHECK(kv.del("k").status == QV_TIMEOUT);
  CHECK(kv.cas("k", std::nullopt, "v", 0).status == QV_TIMEOUT);
  CHECK(kv.ping().status == QV_TIMEOUT);
  now += std::chrono::milliseconds(999);
  CHECK_THAT(kv.get("k").message, Catch::Matchers::EndsWith("; next connection attempt in 1 ms"));
  CHECK(stalled->accept_waiting() == 0);
  now += std::chrono::milliseconds(1);

  // Once it has passed, one operation tries again; timed out again, the back-off doubles,
  // up to its maximum.
  for (const int next_ms : {2000, 4000, 4000}) {
    const KvReply attempt = kv.get("k");
    CHECK(attempt.status == QV_TIMEOUT);
    CHECK(attempt.message == first.message);
    CHECK(stalled->accept_waiting() == 1);
    CHECK_THAT(kv.get("k").message, Catch::Matchers::EndsWith("; next connection attempt in " +
                                                              std::to_string(next_ms) + " ms"));
    CHECK(stalled->accept_waiting() == 0);
    now += std::chrono::milliseconds(next_ms);
  }
}

TEST_CASE("RedisKv: an answer ends the back-off", "[redis]") {
  RedisOptions options = test_options();
  options.command_timeout_ms = 50;
  options.reconnect_backoff_ms = 1000;
  options.reconnect_backoff_max_ms = 4000;
  auto now = std::chrono::steady_clock::now();
  options.clock = [&now] { return now; };
  RedisKv kv(options);
  REQUIRE(kv.set("paused", "0", 0).ok());
  // CLIENT PAUSE ... WRITE holds the server's answers to writes (and lets reads and this
  // connection's CLIENT UNPAUSE through): a server stalled for SET.
  const Admin admin = admin_connection(options);
  const auto pause_writes = [&](bool on) {
    auto* reply =
        static_cast<redisReply*>(on ? redisCommand(admin.get(), "CLIENT PAUSE 10000 WRITE")
                                    : redisCommand(admin.get(), "CLIENT UNPAUSE"));
    REQUIRE(reply);
    CHECK(reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
  };
  pause_writes(true);
  CHECK(kv.set("paused", "1", 0).status == QV_TIMEOUT);  // back-off 1000 ms
  now += std::chrono::milliseconds(1000);
  CHECK(kv.set("paused", "2", 0).status == QV_TIMEOUT);  // doubled: 2000 ms
  CHECK_THAT(kv.set("paused", "3", 0).message,
             Catch::Matchers::EndsWith("; next connection attempt in 2000 ms"));
  pause_writes(false);
  now += std::chrono::milliseconds(2000);
  const KvReply answered = kv.set("paused", "4", 0);
  INFO(answered.message);
  CHECK(answered.ok());

  // The next timeout starts the back-off over, at 1000 ms, not 4000.
  pause_writes(true);
  CHECK(kv.set("paused", "5", 0).status == QV_TIMEOUT);
  CHECK_THAT(kv.set("paused", "6", 0).message,
             Catch::Matchers::EndsWith("; next connection attempt in 1000 ms"));
  pause_writes(false);
  now += std::chrono::milliseconds(1000);
  CHECK(kv.get("paused").value == "4");
  kv.del("paused");
}

TEST_CASE("RedisKv: reconnects on the next use after the connection broke", "[redis]") {
  RedisOptions options = test_options();
  options.client_name = "qvtest-" + std::to_string(::getpid()) + "-reconnect";
  RedisKv kv(options);
  REQUIRE(kv.set("survivor", "1", 0).ok());

  // Kill that connection from a second one, found by its client name.
  const Admin admin = admin_connection(options);
  auto* list = static_cast<redisReply*>(redisCommand(admin.get(), "CLIENT LIST TYPE normal"));
  REQUIRE(list);
  REQUIRE(list->type == REDIS_REPLY_STRING);
  const std::string clients(list->str, list->len);
  freeReplyObject(list);
  const size_t named = clients.find(" name=" + options.client_name + " ");
  REQUIRE(named != std::string::npos);
  const size_t line = clients.rfind('\n', named);
  const size_t id_at = clients.find("id=", line == std::string::npos ? 0 : line) + 3;
  const std::string id = clients.substr(id_at, clients.find(' ', id_at) - id_at);
  auto* killed =
      static_cast<redisReply*>(redisCommand(admin.get(), "CLIENT KILL ID %s", id.c_str()));
  REQUIRE(killed);
  CHECK(killed->type == REDIS_REPLY_INTEGER);
  freeReplyObject(killed);

  // The server closed the idle connection (as a restart or its idle timeout does): the
  // next use sees that before it sends, and opens a new one, as the JS shim's client
  // reconnects by itself; the operation does not fail.
  sleep_ms(50);
  const KvReply again = kv.get("survivor");
  INFO(again.message);
  CHECK(again.status == QV_OK);
  CHECK(again.value == "1");
  kv.del("survivor");
}

TEST_CASE("RedisKv: a connection that breaks during a command fails it; the next use reconnects",
          "[redis]") {
  // A stand-in server: the first connection reads a command and closes unanswered; the
  // second answers one GET with "1".
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(listener, 4) == 0);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  std::thread server([listener] {
    for (const char* answer : {"", "$1\r\n1\r\n"}) {
      const int connection = ::accept(listener, nullptr, nullptr);
      if (connection < 0) return;
      char buffer[512];
      (void)::recv(connection, buffer, sizeof buffer, 0);
      if (*answer) (void)::send(connection, answer, std::strlen(answer), MSG_NOSIGNAL);
      ::close(connection);
    }
  });
  RedisOptions options;
  options.port = ntohs(address.sin_port);
  RedisKv kv(options);
  const KvReply broken = kv.get("k");
  CHECK(broken.status == QV_UNAVAILABLE);
  CHECK_THAT(broken.message, Catch::Matchers::Contains(kv.address()));
  const KvReply again = kv.get("k");  // next use: a new connection
  INFO(again.message);
  CHECK(again.status == QV_OK);
  CHECK(again.value == "1");
  server.join();
  ::close(listener);
}

TEST_CASE("tiers.autoscale end to end through RedisKv", "[redis][tiers]") {
  auto kv = std::make_shared<RedisKv>(test_options());
  qv::test::ManualClock clock;
  auto instance = qv::test::make_instance(clock, kv);
  const std::string input = R"({"organizationId":"org_redis","currentTier":"Startup","history":[
    {"date":"2026-11-01","concurrentCalls":45},{"date":"2026-11-02","concurrentCalls":45},
    {"date":"2026-11-03","concurrentCalls":45}]})";
  const auto first = instance.run("tiers.autoscale", input);
  INFO(first.output);
  REQUIRE(first.ok());
  CHECK_THAT(first.output, Catch::Matchers::Contains("\"applied\":true,\"tierChanges\":1"));
  CHECK(kv->get("qv:tiers:org:org_redis").value == R"({"tier":"tier-2","changedOn":"2026-11-03"})");
  CHECK(kv->get("qv:tiers:org:org_redis:changes").value == "1");

  // The stored tier is now Growth: the same history no longer scales.
  const auto second = instance.run("tiers.autoscale", input);
  REQUIRE(second.ok());
  CHECK_THAT(second.output, Catch::Matchers::Contains("\"currentTier\":\"Growth\""));
  CHECK_THAT(second.output, Catch::Matchers::Contains("\"applied\":false"));
  kv->del("qv:tiers:org:org_redis");
  kv->del("qv:tiers:org:org_redis:changes");
}
