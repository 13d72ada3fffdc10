// What the load tester's end-to-end tests start on loopback: a small HTTP server of our own
// in a child process (so SIGSTOP can freeze it), Debian's nginx, and the qv binary; and a
// recorded second of requests, for tests of what a run's results make.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "loadtest/run_result.h"

namespace qv::loadtest::testing {

// A single-threaded epoll HTTP/1.1 server in a forked child, on 127.0.0.1, port chosen by
// the kernel. Paths:
//   /delay/MS      200 after MS milliseconds        /status/CODE  that status
//   /chunked       a chunked body in three chunks    /close        answers, then closes
//   /hang          never answers                     /reset        closes with a TCP reset
//   POST /early    413 as soon as the headers are in, the body never read
//   POST /early-close  the same, and the connection closed at once
//   /idle-close    answers (keep-alive), then reads nothing more and closes 20 ms later
//   /malformed     a status line with a status code that is not a number, then closes
//   /__stats       the number of requests answered (not counting /__stats, /__log)
//   /__log         every request line and body received, one per line
//   anything else  200 "ok"
class TestServer {
 public:
  TestServer();
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string url(const std::string& path = "/") const;
  void pause() const;   // SIGSTOP
  void resume() const;  // SIGCONT
  uint64_t served() const;
  std::string log() const;

 private:
  int port_ = 0;
  pid_t pid_ = -1;
};

// Debian's nginx on 127.0.0.1 in a temporary prefix, with its access log there. With tls,
// also an https:// server on another port (127.0.0.1 and 127.0.0.2), with a self-signed
// certificate made by the openssl command for the IP address 127.0.0.1 only; its /close
// answers and closes the connection.
class Nginx {
 public:
  explicit Nginx(int worker_connections = 4096, bool tls = false);
  ~Nginx();
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path = "/") const;
  // https://HOST:TLS_PORT/path, host 127.0.0.1 (the certificate's) or 127.0.0.2.
  std::string https_url(const std::string& path = "/", const std::string& host = "127.0.0.1") const;
  // The PEM file of the https server's self-signed certificate (its own CA).
  std::string certificate() const { return prefix_ + "/cert.pem"; }
  // Lines in the access log (nginx writes one per request, unbuffered).
  size_t access_log_lines() const;

 private:
  std::string prefix_;
  int port_ = 0;
  int tls_port_ = 0;
  pid_t pid_ = -1;
  size_t baseline_ = 0;  // lines of the start-up probe
};

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs a program with arguments, collecting stdout, stderr and its exit code; with `signal`,
// sends it that signal `signal_after_ms` after the start.
CommandResult run_command(const std::vector<std::string>& argv, int signal = 0,
                          int signal_after_ms = 0);

std::string make_temp_dir();
// A temporary directory, removed with everything in it when the test is done.
struct TempDir {
  TempDir() : path(make_temp_dir()) {}
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string path;
};
std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);
// A loopback port nothing listens on.
int closed_port();
// A GET to 127.0.0.1:port, returning the body ("" on failure).
std::string http_get(int port, const std::string& path);
// One second of a run with one request name, as the engine records it: `requests` answered in
// 1 ms each, `failed` of them failed.
Interval second_of_requests(int64_t start_unix_ms, uint64_t requests, uint64_t failed);

}  // namespace qv::loadtest::testing
