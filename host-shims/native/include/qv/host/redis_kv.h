// A Kv backed by a Redis server (Redis 7; also what Upstash and Vercel KV speak), through
// hiredis's blocking API with connect and command timeouts. One connection, opened on
// first use and reopened on the next use after any failure, or when the server closed it
// since the last use (a restart, an idle timeout: seen before sending, so the operation
// does not fail for it). After a connection attempt fails or a command times out, the next
// attempt waits (50 ms, doubling up to 2 s, until a command is answered): meanwhile
// operations fail at once (saying when the next attempt is), rather than each paying a
// connect or command timeout against a server that is down or stalled. Not thread-safe:
// use one RedisKv per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "qv/host/kv.h"
#include "qv/result.h"

struct redisContext;  // hiredis

namespace qv::host {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string username;  // ACL user (with a password: without one, every operation fails,
                         // as parse_redis_url() refuses such a URL); empty: the default user
  std::string password;  // empty: no AUTH
  int database = 0;      // SELECT on connect when not 0
  // The JS host's defaults: a stalled (not refusing) KV must cost a request a fraction of
  // a second, not seconds. The connect timeout bounds a connection attempt whole: the host
  // name's resolution, then the connection to each address in turn. A command's timeout
  // bounds each wait for the server's bytes.
  uint32_t connect_timeout_ms = 1000;
  uint32_t command_timeout_ms = 250;
  // Finds the numeric addresses of a host name (not called for a numeric host), in the order
  // to try them; empty: getaddrinfo. It runs on a thread of its own, waited for no longer
  // than the connect timeout (getaddrinfo has none: a DNS server that does not answer holds
  // it for seconds); one that outlasts it ends by itself and its answer is dropped. Tests: a
  // resolver they hold.
  std::function<Result<std::vector<std::string>>(const std::string& host)> resolve;
  // Prepended to every key, so several tenants or test runs can share one server.
  std::string key_prefix;
  // Set with CLIENT SETNAME on connect when not empty (shows in CLIENT LIST).
  std::string client_name;
  // After a failed connection attempt or a command that timed out, the next attempt waits
  // this long, doubling up to the maximum while attempts fail; an answer ends the back-off.
  uint32_t reconnect_backoff_ms = 50;
  uint32_t reconnect_backoff_max_ms = 2000;
  // What the back-off is timed by; empty: std::chrono::steady_clock (tests: a clock they set).
  std::function<std::chrono::steady_clock::time_point()> clock;
};

// Parses redis://[[user]:password@]host[:port][/database]. The user and password may be
// percent-encoded; an IPv6 host is written in brackets; a user without a password is
// refused, as the JS host's RedisKv.connect() refuses it. Errors name the part that is
// wrong, and never quote the credentials. rediss:// (TLS) is refused: Debian's hiredis
// 0.14 has no TLS.
Result<RedisOptions> parse_redis_url(std::string_view url);

class RedisKv final : public Kv {
 public:
  explicit RedisKv(RedisOptions options);
  ~RedisKv() override;
  RedisKv(const RedisKv&) = delete;
  RedisKv& operator=(const RedisKv&) = delete;

  // As Kv says. Each is one round trip: GET; SET key value [PX ttl]; DEL; INCRBY, or with
  // a TTL one EVAL of a script doing EXISTS, INCRBY, (for a new key) PEXPIRE and GET.
  KvReply get(std::string_view key) override;
  KvReply set(std::string_view key, std::string_view value, uint32_t ttl_ms) override;
  KvReply incr(std::string_view key, int64_t delta, uint32_t ttl_ms) override;
  KvReply del(std::string_view key) override;
  KvReply cas(std::string_view key, std::optional<std::string_view> expected,
              std::string_view value, uint32_t ttl_ms) override;

  // Connects if needed and sends PING. Returns QV_OK or the failure (for tools that want
  // to fail early when the server is down).
  KvReply ping();

  const RedisOptions& options() const { return options_; }
  // "host:port" for messages.
  std::string address() const;

 private:
  // Sends one command (arguments are binary-safe), connecting first when there is no
  // connection, and returns hiredis's reply, or a failed KvReply in `failure`. Keeps the
  // back-off: within it, fails at once; a failed connection attempt or a timed-out command
  // starts or doubles it; a reply ends it.
  struct Reply;
  Reply command(std::initializer_list<std::string_view> args);
  // Sends one command on the open connection; on failure (QV_TIMEOUT when the server left
  // it unanswered for the command timeout) drops the connection.
  Reply send(std::initializer_list<std::string_view> args);
  std::chrono::steady_clock::time_point now() const;
  // Starts or doubles the back-off after failure, which operations repeat until it ends.
  void back_off(const KvReply& failure);
  // Opens the connection, then AUTH, SELECT and CLIENT SETNAME as the options ask.
  // Returns QV_OK, or the failure with no connection left open.
  KvReply connect();
  // Closes the connection; the next command opens a new one.
  void disconnect();

  RedisOptions options_;
  redisContext* context_ = nullptr;
  // The back-off after failed attempts: 0 ms while commands are answered.
  uint32_t backoff_ms_ = 0;
  std::chrono::steady_clock::time_point next_attempt_{};
  KvReply last_failure_;  // of the last attempt, repeated until the next one
};

}  // namespace qv::host
