// A tiny HTTP/TCP server on loopback for tests: it answers each accepted connection with
// the next canned response, or (silent) accepts connections into the backlog and never
// reads or answers, which is what a hung dependency looks like to a client, or (gathering)
// answers nothing until a number of requests have all arrived, which a client sending them
// one after another never gets to.
//
// Hand-written rather than a library: the tests need one canned answer per connection
// and a server that hangs on purpose, which no packaged test server offers.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace qv::test {

class LocalServer {
 public:
  // Answers connection i with responses[i], then stops accepting.
  static std::unique_ptr<LocalServer> answering(std::vector<std::string> responses) {
    return std::unique_ptr<LocalServer>(new LocalServer(std::move(responses), Mode::answering));
  }
  // Listens and never accepts: connects succeed, nothing is ever read or answered.
  static std::unique_ptr<LocalServer> silent() {
    return std::unique_ptr<LocalServer>(new LocalServer({}, Mode::silent));
  }
  // Reads one request on each of count connections and answers none before the last has
  // arrived; then each, the last first, with a 200 whose body is its request's target.
  static std::unique_ptr<LocalServer> gathering(size_t count) {
    auto server = std::unique_ptr<LocalServer>(new LocalServer({}, Mode::gathering));
    server->thread_ = std::thread([raw = server.get(), count] { raw->gather(count); });
    return server;
  }

  ~LocalServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (const int connection : held_) ::close(connection);
    ::close(listener_);
  }
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // A silent server's connection attempts since the last call: accepts the connections
  // waiting in its backlog (holding them open, never read or answered) and counts them. A
  // client's connect() returns once its connection waits there.
  int accept_waiting() {
    int accepted = 0;
    for (pollfd ready{listener_, POLLIN, 0}; ::poll(&ready, 1, 0) > 0; ++accepted) {
      const int connection = ::accept(listener_, nullptr, nullptr);
      if (connection < 0) break;
      held_.push_back(connection);
    }
    return accepted;
  }
  // The requests received so far, as raw text (head and body).
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  // A complete HTTP/1.1 response that closes the connection.
  static std::string response(int status, const std::string& reason,
                              const std::vector<std::string>& headers, const std::string& body) {
    std::string text = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
    for (const auto& header : headers) text += header + "\r\n";
    text += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    return text + body;
  }

 private:
  enum class Mode { answering, silent, gathering };

  LocalServer(std::vector<std::string> responses, Mode mode) : responses_(std::move(responses)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listener_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;  // any free port
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 16) != 0) {
      throw std::runtime_error("bind/listen on 127.0.0.1 failed");
    }
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    if (mode == Mode::answering) thread_ = std::thread([this] { serve(); });
  }

  // The next connection, or -1 once the server stops.
  int next_connection() {
    while (!stop_) {
      pollfd ready{listener_, POLLIN, 0};
      if (::poll(&ready, 1, 20) > 0) {
        const int connection = ::accept(listener_, nullptr, nullptr);
        if (connection >= 0) return connection;
      }
    }
    return -1;
  }

  // Reads connection's request and keeps it for requests().
  std::string take_request(int connection) {
    std::string request = read_request(connection);
    std::lock_guard lock(mutex_);
    requests_.push_back(request);
    return request;
  }

  static void send_all(int connection, const std::string& text) {
    size_t sent = 0;
    while (sent < text.size()) {
      const ssize_t n = ::send(connection, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
  }

  void gather(size_t count) {
    std::vector<std::pair<int, std::string>> arrived;  // connection, request target
    while (arrived.size() < count) {
      const int connection = next_connection();
      if (connection < 0) break;
      const std::string request = take_request(connection);
      const size_t start = request.find(' ') + 1;
      arrived.emplace_back(connection, request.substr(start, request.find(' ', start) - start));
    }
    for (auto it = arrived.rbegin(); it != arrived.rend(); ++it) {
      if (arrived.size() == count) send_all(it->first, response(200, "OK", {}, it->second));
      ::close(it->first);
    }
  }

  void serve() {
    for (const auto& response : responses_) {
      const int connection = next_connection();
      if (connection < 0) return;
      take_request(connection);
      send_all(connection, response);
      ::close(connection);
    }
  }

  // Reads the head and a Content-Length body (enough for the client requests of tests).
  std::string read_request(int connection) {
    std::string text;
    char buffer[4096];
    size_t wanted = std::string::npos;
    while (!stop_ && (wanted == std::string::npos || text.size() < wanted)) {
      pollfd ready{connection, POLLIN, 0};
      if (::poll(&ready, 1, 20) <= 0) continue;
      const ssize_t n = ::recv(connection, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      text.append(buffer, static_cast<size_t>(n));
      const size_t head_end = text.find("\r\n\r\n");
      if (wanted == std::string::npos && head_end != std::string::npos) {
        size_t body_length = 0;
        std::string head = text.substr(0, head_end);
        for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const size_t field = head.find("\r\ncontent-length:");
        if (field != std::string::npos) body_length = std::stoul(head.substr(field + 17));
        wanted = head_end + 4 + body_length;
      }
    }
    return text;
  }

  std::vector<std::string> responses_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::vector<int> held_;  // connections accept_waiting() took
};

// A loopback port nothing listens on: bound, then closed.
inline int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace qv::test
