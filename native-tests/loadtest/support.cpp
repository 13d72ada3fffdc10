#include "support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <queue>
#include <stdexcept>
#include <thread>

namespace qv::loadtest::testing {

namespace {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int listen_loopback(int& port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(fd, 4096) != 0) {
    throw std::runtime_error("test server: cannot listen on loopback");
  }
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  port = ntohs(address.sin_port);
  return fd;
}

std::string response(int status, const std::string& body, bool close = false) {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Length: " + std::to_string(body.size()) +
         (close ? "\r\nConnection: close" : "") + "\r\n\r\n" + body;
}

// The child process: an epoll loop answering requests, some after a delay.
[[noreturn]] void serve(int listener) {
  const int epoll = epoll_create1(0);
  fcntl(listener, F_SETFL, O_NONBLOCK);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = listener;
  epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
  std::map<int, std::string> input;
  std::map<int, uint64_t> connection_of;  // fd -> connection number: fds are reused
  uint64_t connections = 0;
  struct Due {
    int64_t at;
    int fd;
    uint64_t connection;
    std::string bytes;
    bool close = false;  // closes the connection instead of writing
    bool operator>(const Due& other) const { return at > other.at; }
  };
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due;
  uint64_t served = 0;
  std::string log;
  auto drop = [&](int fd) {
    input.erase(fd);
    connection_of.erase(fd);
    close(fd);
  };
  auto write_all = [&](int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        pollfd wait{fd, POLLOUT, 0};
        poll(&wait, 1, 1000);
      } else {
        return false;
      }
    }
    return true;
  };
  epoll_event events[256];
  for (;;) {
    int timeout = -1;
    if (!due.empty())
      timeout = static_cast<int>(std::max<int64_t>(0, (due.top().at - now_us() + 999) / 1000));
    const int ready = epoll_wait(epoll, events, 256, timeout);
    while (!due.empty() && due.top().at <= now_us()) {
      Due next = due.top();
      due.pop();
      if (connection_of.count(next.fd) && connection_of[next.fd] == next.connection) {
        if (next.close) {
          drop(next.fd);
          continue;
        }
        write_all(next.fd, next.bytes);
        ++served;
      }
    }
    for (int i = 0; i < ready; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        for (;;) {
          const int client = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
          if (client < 0) break;
          const int one = 1;
          setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event client_event{};
          client_event.events = EPOLLIN;
          client_event.data.fd = client;
          epoll_ctl(epoll, EPOLL_CTL_ADD, client, &client_event);
          input[client];
          connection_of[client] = ++connections;
        }
        continue;
      }
      char buffer[65536];
      const ssize_t got = read(fd, buffer, sizeof buffer);
      if (got <= 0) {
        if (got < 0 && errno == EAGAIN) continue;
        drop(fd);
        continue;
      }
      std::string& pending = input[fd];
      pending.append(buffer, static_cast<size_t>(got));
      for (;;) {
        const size_t end = pending.find("\r\n\r\n");
        if (end == std::string::npos) break;
        if (pending.rfind("POST /early-close ", 0) == 0) {
          // Answers from the headers alone and closes at once, the body unread.
          write_all(fd, response(413, "too large", true));
          ++served;
          drop(fd);
          break;
        }
        if (pending.rfind("POST /early ", 0) == 0) {
          // Answers from the headers alone and reads nothing more: the body stays unsent.
          write_all(fd, response(413, "too large", true));
          ++served;
          epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
          pending.clear();
          break;
        }
        size_t length = 0;
        const size_t header = pending.find("Content-Length: ");
        if (header != std::string::npos && header < end)
          length = std::strtoul(pending.c_str() + header + 16, nullptr, 10);
        if (pending.size() < end + 4 + length) break;
        const std::string line = pending.substr(0, pending.find("\r\n"));
        const std::string body = pending.substr(end + 4, length);
        pending.erase(0, end + 4 + length);
        const size_t space = line.find(' ');
        const std::string path = line.substr(space + 1, line.rfind(' ') - space - 1);
        if (path == "/__stats") {
          write_all(fd, response(200, std::to_string(served)));
          continue;
        }
        if (path == "/__log") {
          write_all(fd, response(200, log));
          continue;
        }
        if (log.size() < (8u << 20)) log += line + (body.empty() ? "" : " " + body) + "\n";
        if (path.rfind("/delay/", 0) == 0) {
          due.push({now_us() + 1000 * std::atoll(path.c_str() + 7), fd, connection_of[fd],
                    response(200, "delayed")});
        } else if (path.rfind("/status/", 0) == 0) {
          write_all(fd, response(std::atoi(path.c_str() + 8), "status"));
          ++served;
        } else if (path == "/chunked") {
          write_all(fd,
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                    "chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n");
          ++served;
        } else if (path == "/close") {
          write_all(fd, response(200, "bye", true));
          ++served;
          drop(fd);
          break;
        } else if (path == "/idle-close") {
          write_all(fd, response(200, "ok"));
          ++served;
          epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
          due.push({now_us() + 20'000, fd, connection_of[fd], "", true});
          break;
        } else if (path == "/malformed") {
          write_all(fd, "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n");
          ++served;
          drop(fd);
          break;
        } else if (path == "/hang") {
          // never answers
        } else if (path == "/reset") {
          linger reset{1, 0};
          setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
          drop(fd);
          break;
        } else {
          write_all(fd, response(200, "ok"));
          ++served;
        }
      }
    }
  }
}

}  // namespace

TestServer::TestServer() {
  const int listener = listen_loopback(port_);
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // a test that dies takes its server with it
    serve(listener);
  }
  close(listener);
}

TestServer::~TestServer() {
  if (pid_ > 0) {
    kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string TestServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}
void TestServer::pause() const {
  kill(pid_, SIGSTOP);
}
void TestServer::resume() const {
  kill(pid_, SIGCONT);
}
uint64_t TestServer::served() const {
  return std::strtoull(http_get(port_, "/__stats").c_str(), nullptr, 10);
}
std::string TestServer::log() const {
  return http_get(port_, "/__log");
}

std::string http_get(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return "";
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string reply;
  char buffer[65536];
  for (;;) {
    pollfd wait{fd, POLLIN, 0};
    if (poll(&wait, 1, 5000) <= 0) break;
    const ssize_t got = read(fd, buffer, sizeof buffer);
    if (got <= 0) break;
    reply.append(buffer, static_cast<size_t>(got));
    const size_t end = reply.find("\r\n\r\n");
    if (end != std::string::npos) {
      const size_t header = reply.find("Content-Length: ");
      if (header != std::string::npos && header < end &&
          reply.size() >= end + 4 + std::strtoul(reply.c_str() + header + 16, nullptr, 10)) {
        break;
      }
    }
  }
  close(fd);
  const size_t end = reply.find("\r\n\r\n");
  return end == std::string::npos ? "" : reply.substr(end + 4);
}

int closed_port() {
  int port = 0;
  const int fd = listen_loopback(port);
  close(fd);
  return port;
}

std::string make_temp_dir() {
  char pattern[] = "/tmp/qv-loadtest-XXXXXX";
  const char* made = mkdtemp(pattern);
  if (!made) throw std::runtime_error("mkdtemp failed");
  return made;
}

TempDir::~TempDir() {
  std::system(("rm -rf '" + path + "'").c_str());
}

std::string read_text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
}

Nginx::Nginx(int worker_connections, bool tls) {
  prefix_ = make_temp_dir();
  port_ = closed_port();
  write_text(prefix_ + "/index.html", "<html><body>qv loadtest</body></html>\n");
  std::string tls_server;
  if (tls) {
    const CommandResult made =
        run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                     "/CN=qv loadtest", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
                     prefix_ + "/key.pem", "-out", certificate()});
    if (made.exit_code != 0) throw std::runtime_error("openssl req: " + made.err);
    tls_port_ = closed_port();
    const std::string port = std::to_string(tls_port_);
    tls_server =
        "  server {\n    listen 127.0.0.1:" + port +
        " ssl backlog=4096;\n    listen 127.0.0.2:" + port + " ssl;\n    ssl_certificate " +
        certificate() + ";\n    ssl_certificate_key " + prefix_ + "/key.pem;\n    root " + prefix_ +
        ";\n    location = /close { keepalive_timeout 0; try_files /index.html =404; }\n  }\n";
  }
  write_text(prefix_ + "/nginx.conf",
             "worker_processes 1;\n"
             "user root;\n"
             "error_log " +
                 prefix_ +
                 "/error.log;\n"
                 "worker_rlimit_nofile " +
                 std::to_string(worker_connections * 2 + 64) +
                 ";\n"
                 "events { worker_connections " +
                 std::to_string(worker_connections) +
                 "; }\n"
                 "http {\n"
                 "  access_log " +
                 prefix_ +
                 "/access.log;\n"
                 "  client_body_temp_path " +
                 prefix_ +
                 "/body;\n"
                 "  proxy_temp_path " +
                 prefix_ +
                 "/proxy;\n"
                 "  fastcgi_temp_path " +
                 prefix_ +
                 "/fastcgi;\n"
                 "  uwsgi_temp_path " +
                 prefix_ +
                 "/uwsgi;\n"
                 "  scgi_temp_path " +
                 prefix_ +
                 "/scgi;\n"
                 "  keepalive_requests 1000000;\n"
                 "  server {\n"
                 "    listen 127.0.0.1:" +
                 std::to_string(port_) +
                 " backlog=4096;\n"
                 "    root " +
                 prefix_ +
                 ";\n"
                 "    location = /error { return 503; }\n"
                 "  }\n" +
                 tls_server + "}\n");
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // nginx's master stops its workers on SIGTERM
    const std::string pid_directive = "daemon off; pid " + prefix_ + "/nginx.pid;";
    execl("/usr/sbin/nginx", "nginx", "-p", prefix_.c_str(), "-c",
          (prefix_ + "/nginx.conf").c_str(), "-g", pid_directive.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 200; ++i) {
    if (http_get(port_, "/index.html").find("qv loadtest") != std::string::npos) {
      // nginx logs the probe just after answering it: wait for that line, count from there.
      for (int wait = 0; wait < 200 && access_log_lines() == 0; ++wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      baseline_ = access_log_lines();
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  throw std::runtime_error("nginx did not start: " + read_text(prefix_ + "/error.log"));
}

Nginx::~Nginx() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::system(("rm -rf '" + prefix_ + "'").c_str());
}

std::string Nginx::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::string Nginx::https_url(const std::string& path, const std::string& host) const {
  return "https://" + host + ":" + std::to_string(tls_port_) + path;
}

size_t Nginx::access_log_lines() const {
  const std::string text = read_text(prefix_ + "/access.log");
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  return lines - baseline_;
}

CommandResult run_command(const std::vector<std::string>& argv, int signal, int signal_after_ms) {
  const std::string directory = make_temp_dir();
  const std::string out_path = directory + "/out", err_path = directory + "/err";
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    freopen(out_path.c_str(), "w", stdout);
    freopen(err_path.c_str(), "w", stderr);
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  if (signal) {
    std::this_thread::sleep_for(std::chrono::milliseconds(signal_after_ms));
    kill(pid, signal);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_text(out_path);
  result.err = read_text(err_path);
  std::system(("rm -rf '" + directory + "'").c_str());
  return result;
}

Interval second_of_requests(int64_t start_unix_ms, uint64_t requests, uint64_t failed) {
  Interval interval;
  interval.start_unix_ms = start_unix_ms;
  interval.requests.resize(1);
  Histogram latency;
  latency.record(1000, requests);
  interval.requests[0].latency = interval.requests[0].latency_uncorrected = latency.to_sparse();
  interval.requests[0].counters.requests = requests;
  interval.requests[0].counters.failed = failed;
  return interval;
}

}  // namespace qv::loadtest::testing
