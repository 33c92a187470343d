// Test harness for the proxy's component tests: raw client sockets, HTTP
// responses read by hand, backends on 127.0.0.1 and an Observer that
// records what the proxy reports. Shared by proxy_component_test.cc and
// mtls_component_test.cc.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/observer.h"
#include "proxy/proxy.h"

namespace remora::proxy::testing {

// A proxy's options for a component test: `workers` workers, both listeners
// on 127.0.0.1 with ports the kernel picks, no IPv6. The test sets the
// original destination (and certificates, if any).
inline ProxyOptions loopbackOptions(std::size_t workers) {
  ProxyOptions options;
  options.concurrency = workers;
  options.outbound_port = 0;
  options.inbound_port = 0;
  options.bind_v6 = "";
  options.bind_v4 = "127.0.0.1";
  return options;
}

// ------------------------------------------------------------ raw sockets

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset();
    fd_ = std::exchange(o.fd_, -1);
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

inline Fd connectTo(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return Fd();
  }
  timeval tv{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return Fd(fd);
}

inline bool sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Everything until EOF (or the 10 s receive timeout).
inline std::string readAll(int fd) {
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// Reads until `out` contains `marker`; returns false on EOF/timeout first.
inline bool readUntil(int fd, std::string& out, std::string_view marker) {
  char buf[16384];
  while (out.find(marker) == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

// One response with a Content-Length body (or none), read from `fd`;
// leftover bytes stay in `rest`.
struct Response {
  int status = 0;
  std::string head;
  std::string body;
};

inline Response readResponse(int fd, std::string& rest) {
  Response r;
  if (!readUntil(fd, rest, "\r\n\r\n")) return r;
  std::size_t end = rest.find("\r\n\r\n") + 4;
  r.head = rest.substr(0, end);
  rest.erase(0, end);
  r.status = std::atoi(r.head.c_str() + 9);
  std::size_t cl = 0;
  std::string lower = r.head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto p = lower.find("content-length: "); p != std::string::npos) {
    cl = std::stoul(lower.substr(p + 16));
  } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    // Test bodies are small: read to the last chunk and decode.
    readUntil(fd, rest, "0\r\n\r\n");
    std::size_t pos = 0;
    for (;;) {
      std::size_t eol = rest.find("\r\n", pos);
      std::size_t size = std::stoul(rest.substr(pos, eol - pos), nullptr, 16);
      pos = eol + 2;
      if (size == 0) {
        pos += 2;
        break;
      }
      r.body += rest.substr(pos, size);
      pos += size + 2;
    }
    rest.erase(0, pos);
    return r;
  }
  while (rest.size() < cl) {
    char buf[16384];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    rest.append(buf, static_cast<std::size_t>(n));
  }
  r.body = rest.substr(0, cl);
  rest.erase(0, std::min(cl, rest.size()));
  return r;
}

inline bool hasHeader(const Response& r, std::string_view line) {
  std::string lower = r.head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find(std::string(line)) != std::string::npos;
}

// A backend: accepts on 127.0.0.1:0 and runs `handler(fd)` per connection on
// its own thread. Counts connections.
class Backend {
 public:
  explicit Backend(std::function<void(int)> handler) : handler_(std::move(handler)) {
    listen_ = Fd(::socket(AF_INET, SOCK_STREAM, 0));
    int one = 1;
    ::setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    ::listen(listen_.get(), 128);
    socklen_t len = sizeof(sa);
    ::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~Backend() {
    stop_ = true;
    ::shutdown(listen_.get(), SHUT_RDWR);
    thread_.join();
    std::lock_guard lock(mu_);
    // Pooled proxy connections stay open: unblock their handlers.
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    for (auto& t : conns_) t.join();
    for (int fd : fds_) ::close(fd);
  }
  std::uint16_t port() const { return port_; }
  int connections() const { return accepted_.load(); }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int fd = ::accept(listen_.get(), nullptr, nullptr);
      if (fd < 0) continue;
      ++accepted_;
      timeval tv{.tv_sec = 10, .tv_usec = 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      std::lock_guard lock(mu_);  // guards conns_ and fds_
      fds_.push_back(fd);
      conns_.emplace_back([this, fd] {
        handler_(fd);
        ::shutdown(fd, SHUT_RDWR);  // the fd itself is closed by the destructor
      });
    }
  }

  std::function<void(int)> handler_;
  Fd listen_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::vector<std::thread> conns_;
  std::vector<int> fds_;  // closed when the backend goes (pooled connections stay open)
};

// A keep-alive HTTP/1.1 backend: answers every request (Content-Length
// bodies and body-less only) with 200 and a body naming what it saw.
inline void httpHandler(int fd, const std::string& name) {
  std::string in;
  for (;;) {
    if (!readUntil(fd, in, "\r\n\r\n")) return;
    std::size_t end = in.find("\r\n\r\n") + 4;
    std::string head = in.substr(0, end);
    in.erase(0, end);
    std::string lower = head;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t cl = 0;
    if (auto p = lower.find("content-length: "); p != std::string::npos) {
      cl = std::stoul(lower.substr(p + 16));
    }
    bool chunked = lower.find("transfer-encoding: chunked") != std::string::npos;
    std::string body;
    if (chunked) {
      if (!readUntil(fd, in, "0\r\n\r\n")) return;
      std::size_t pos = 0;
      for (;;) {
        std::size_t eol = in.find("\r\n", pos);
        std::size_t size = std::stoul(in.substr(pos, eol - pos), nullptr, 16);
        pos = eol + 2;
        if (size == 0) {
          pos += 2;
          break;
        }
        body += in.substr(pos, size);
        pos += size + 2;
      }
      in.erase(0, pos);
    } else {
      while (in.size() < cl) {
        char buf[16384];
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) return;
        in.append(buf, static_cast<std::size_t>(n));
      }
      body = in.substr(0, cl);
      in.erase(0, cl);
    }
    std::string reply = fmt::format("{}\n{}\nbody={}", name, head, body.size());
    std::string resp =
        fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Backend: {}\r\n\r\n{}",
                    reply.size(), name, reply);
    if (!sendAll(fd, resp)) return;
    if (lower.find("connection: close") != std::string::npos) return;
  }
}

inline void echoHandler(int fd) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    if (!sendAll(fd, std::string_view(buf, static_cast<std::size_t>(n)))) return;
  }
  ::shutdown(fd, SHUT_WR);
}

// Records what the proxy reports.
class Recorder : public Observer {
 public:
  struct Req {
    int code;
    std::uint32_t flags;
    std::string cluster;
    std::string service;
    std::string request_id;
    std::uint64_t request_bytes;
    std::uint64_t response_bytes;
    std::string details;  // response_code_details
  };
  struct Tcp {
    std::uint32_t flags;
    std::uint64_t sent;
    std::uint64_t received;
    std::string cluster;
  };
  void onRequest(const RequestReport& r) override {
    std::lock_guard lock(mu_);  // guards the vectors: workers call from their threads
    requests.push_back({r.response_code, r.response_flags, r.route->cluster,
                        r.route->destination_service, std::string(r.request_id),
                        r.request_body_bytes, r.response_body_bytes,
                        std::string(r.response_code_details)});
  }
  void onTcpOpen(const ConnectionReport&) override { ++opened; }
  void onTcpClose(const ConnectionReport& r) override {
    std::lock_guard lock(mu_);
    closed.push_back({r.response_flags, r.bytes_sent, r.bytes_received, r.route->cluster});
  }
  std::vector<Req> requestsSnapshot() {
    std::lock_guard lock(mu_);
    return requests;
  }
  std::vector<Tcp> closedSnapshot() {
    std::lock_guard lock(mu_);
    return closed;
  }
  // Waits (bounded) until `n` requests were reported: reports come after
  // the response's last byte.
  std::vector<Req> waitRequests(std::size_t n) {
    for (int i = 0; i < 500; ++i) {
      auto r = requestsSnapshot();
      if (r.size() >= n) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return requestsSnapshot();
  }
  std::vector<Tcp> waitClosed(std::size_t n) {
    for (int i = 0; i < 500; ++i) {
      auto r = closedSnapshot();
      if (r.size() >= n) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return closedSnapshot();
  }
  std::atomic<int> opened{0};

 private:
  std::mutex mu_;
  std::vector<Req> requests;
  std::vector<Tcp> closed;
};

}  // namespace remora::proxy::testing
