// relay_floor: the L4 relay floor of PERFORMANCE.md §3.2 and goal 1, for
// bench/proxy_bench.py and bench/latency_bench.py. It does the least a
// sidecar can do: accept a captured connection, read its original
// destination (SO_ORIGINAL_DST), connect there and copy bytes both ways with
// epoll_wait/read/write on one thread. No HTTP, no pooling, no telemetry: the
// "relay" and "relay-pair" setups it makes show what the capture, the extra
// hops and their wake-ups cost by themselves, so a proxy's figures can be
// read against the floor measured in the same run.
//
// Benchmark infrastructure only: never part of the product or of the tests.
//
//   relay_floor <listen port> [<source address for upstream connections>]
//
// The source address is the server pod's 127.0.0.6 (Istio's inbound
// passthrough source, which the capture rules let through).
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>

#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

constexpr std::size_t kBuffer = 16 * 1024;

// One side of a relayed connection: its socket, what epoll last said of it
// (edge-triggered: a flag stays set until a call finds the socket drained or
// full), and the bytes read from it not yet written to the other side.
struct Side {
  int fd = -1;
  bool readable = false;
  bool writable = false;
  bool read_closed = false;  // EOF seen
  bool fin_pending = false;  // EPOLLRDHUP seen: a FIN waits behind the data
  std::size_t begin = 0;
  std::size_t end = 0;
  std::array<char, kBuffer> pending{};
};

struct Pair {
  Side down;  // the captured client connection
  Side up;    // the connection to the original destination
  bool connected = false;
};

int fail(const char* what) {
  std::fprintf(stderr, "relay_floor: %s: %s\n", what, std::strerror(errno));
  return 1;
}

class Relay {
 public:
  Relay(int listener, int epoll, std::string source)
      : listener_(listener), epoll_(epoll), source_(std::move(source)) {}

  int run() {
    std::array<epoll_event, 64> events{};
    for (;;) {
      int n = epoll_wait(epoll_, events.data(), events.size(), -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail("epoll_wait");
      }
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == listener_) {
          acceptAll();
          continue;
        }
        auto it = by_fd_.find(fd);
        if (it == by_fd_.end()) continue;
        std::shared_ptr<Pair> pair = it->second;  // finish() erases the map's
        service(pair, fd, events[i].events);
      }
    }
  }

 private:
  void acceptAll() {
    for (;;) {
      int down = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (down < 0) return;
      sockaddr_in dst{};
      socklen_t len = sizeof(dst);
      int up = -1;
      if (getsockopt(down, SOL_IP, SO_ORIGINAL_DST, &dst, &len) == 0) {
        up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      }
      if (up < 0) {
        close(down);
        continue;
      }
      int one = 1;
      setsockopt(down, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      if (!source_.empty()) {
        sockaddr_in src{};
        src.sin_family = AF_INET;
        inet_pton(AF_INET, source_.c_str(), &src.sin_addr);
        bind(up, reinterpret_cast<sockaddr*>(&src), sizeof(src));
      }
      if (connect(up, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0 &&
          errno != EINPROGRESS) {
        close(up);
        close(down);
        continue;
      }
      auto pair = std::make_shared<Pair>();
      pair->down.fd = down;
      pair->up.fd = up;
      pair->down.writable = true;
      by_fd_[down] = pair;
      by_fd_[up] = pair;
      // Registered once, edge-triggered: no epoll_ctl per event.
      for (int fd : {down, up}) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.fd = fd;
        epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
      }
    }
  }

  // Moves bytes from `from` to `to` until one of them would block; false
  // when the connection failed.
  static bool pump(Side& from, Side& to) {
    for (;;) {
      if (from.begin == from.end) {
        if (from.read_closed || !from.readable) return true;
        ssize_t n = read(from.fd, from.pending.data(), from.pending.size());
        if (n > 0) {
          from.begin = 0;
          from.end = static_cast<std::size_t>(n);
          // A short read drained the socket: the next byte brings an edge.
          // Not a FIN that came with the data: its edge is spent, read on.
          if (from.end < from.pending.size() && !from.fin_pending) from.readable = false;
        } else if (n == 0) {
          from.read_closed = true;
          shutdown(to.fd, SHUT_WR);
          return true;
        } else if (errno == EAGAIN || errno == EINTR) {
          from.readable = false;
          return true;
        } else {
          return false;
        }
      }
      if (!to.writable) return true;
      ssize_t n = write(to.fd, from.pending.data() + from.begin, from.end - from.begin);
      if (n < 0) {
        if (errno != EAGAIN) return false;
        to.writable = false;
        return true;
      }
      from.begin += static_cast<std::size_t>(n);
    }
  }

  void service(const std::shared_ptr<Pair>& pair, int fd, std::uint32_t events) {
    Pair& p = *pair;
    Side& side = fd == p.down.fd ? p.down : p.up;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) side.readable = true;
    if (events & (EPOLLRDHUP | EPOLLHUP)) side.fin_pending = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) side.writable = true;
    if (!p.connected) {
      if (!p.up.writable) {
        p.up.readable = false;  // nothing to read before the connection is up
        if (!pump(p.down, p.up)) return finish(pair);
        return;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(p.up.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return finish(pair);
      p.connected = true;
    }
    if (!pump(p.down, p.up) || !pump(p.up, p.down)) return finish(pair);
    if (p.down.read_closed && p.up.read_closed && p.down.begin == p.down.end &&
        p.up.begin == p.up.end) {
      finish(pair);
    }
  }

  void finish(const std::shared_ptr<Pair>& pair) {
    for (int fd : {pair->down.fd, pair->up.fd}) {
      by_fd_.erase(fd);
      close(fd);  // also leaves the epoll set
    }
  }

  int listener_;
  int epoll_;
  std::string source_;
  std::unordered_map<int, std::shared_ptr<Pair>> by_fd_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: relay_floor <listen port> [<upstream source address>]\n");
    return 2;
  }
  int port = std::atoi(argv[1]);
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return fail("bind");
  if (listen(listener, 1024) != 0) return fail("listen");
  int epoll = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &ev);
  return Relay(listener, epoll, argc == 3 ? argv[2] : "").run();
}
