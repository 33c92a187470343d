// The proxy between a test client and test backends, all on 127.0.0.1.
// There is no iptables here: the original destination comes from the
// OriginalDstFn seam, set per test to where the "app" meant to connect.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <set>
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

#include "core/log.h"
#include "proxy/proxy.h"
#include "proxy/read_buffer.h"
#include "tests/proxy/proxy_harness.h"

namespace remora::proxy {
namespace {

using namespace std::chrono_literals;
using namespace remora::proxy::testing;

// ------------------------------------------------------------ the fixture

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* level = std::getenv("REMORA_LOG_LEVEL")) log::setLevel(level);
  }
  void startProxy(const std::string& yaml, std::size_t workers = 2) {
    auto config = mesh::parseConfig(yaml);
    ASSERT_TRUE(config) << config.error().message;
    ProxyOptions options = loopbackOptions(workers);
    options.idle_memory_check = idle_memory_check_;
    options.original_dst = [this](asio::ip::tcp::socket&,
                                  Direction) -> Result<asio::ip::tcp::endpoint> {
      std::lock_guard lock(dst_mu_);  // guards dst_, set by the test thread
      return dst_;
    };
    proxy_ =
        std::make_unique<Proxy>(options, mesh::Snapshot::build(std::move(*config)), &recorder_);
    ASSERT_TRUE(proxy_->start());
  }
  void setDestination(const std::string& address, std::uint16_t port) {
    std::lock_guard lock(dst_mu_);
    dst_ = asio::ip::tcp::endpoint(asio::ip::make_address(address), port);
  }
  void reload(const std::string& yaml, std::uint64_t generation) {
    auto config = mesh::parseConfig(yaml);
    ASSERT_TRUE(config) << config.error().message;
    proxy_->update(mesh::Snapshot::build(std::move(*config), generation));
  }
  Fd client() { return connectTo(proxy_->outboundPort()); }

  void TearDown() override {
    if (proxy_) {
      proxy_->stop();
      proxy_->wait();
    }
  }

  std::chrono::milliseconds idle_memory_check_ = ProxyOptions{}.idle_memory_check;
  Recorder recorder_;
  std::unique_ptr<Proxy> proxy_;
  std::mutex dst_mu_;
  asio::ip::tcp::endpoint dst_;
};

std::string fastDetection() { return "mesh: {protocolDetectionTimeout: 20ms}\n"; }

std::string serviceYaml(std::uint16_t backend_port, std::string_view lb = "ROUND_ROBIN",
                        std::string_view extra_endpoints = "") {
  return fmt::format(R"(
services:
- name: web
  addresses: [10.255.0.1]
  ports: [{{name: http, port: 80, targetPort: {}}}]
  loadBalancer: {}
  endpoints: [{{address: 127.0.0.1}}{}]
)",
                     backend_port, lb, extra_endpoints);
}

// ------------------------------------------------------------ opaque TCP

TEST_F(ProxyTest, TcpIsForwardedByteForByteWithHalfClose) {
  Backend echo(echoHandler);
  startProxy(fastDetection());
  setDestination("127.0.0.1", echo.port());
  std::string data(1 << 20, '\0');
  std::mt19937 rng(1);
  for (auto& c : data) c = static_cast<char>(rng());
  Fd c = client();
  ASSERT_GE(c.get(), 0);
  std::thread writer([&] {
    sendAll(c.get(), data);
    ::shutdown(c.get(), SHUT_WR);  // half-close: the echo must still come back
  });
  std::string got = readAll(c.get());
  writer.join();
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
  auto closed = recorder_.waitClosed(1);
  ASSERT_EQ(closed.size(), 1U);
  EXPECT_EQ(closed[0].sent, data.size());
  EXPECT_EQ(closed[0].received, data.size());
  EXPECT_EQ(closed[0].cluster, "PassthroughCluster");
}

TEST_F(ProxyTest, ServerFirstProtocolsWorkAfterTheDetectionTimeout) {
  Backend smtp([](int fd) {
    sendAll(fd, "220 ready\r\n");
    echoHandler(fd);
  });
  startProxy(fastDetection());
  setDestination("127.0.0.1", smtp.port());
  Fd c = client();
  std::string got;
  ASSERT_TRUE(readUntil(c.get(), got, "\r\n"));  // the client sent nothing
  EXPECT_EQ(got, "220 ready\r\n");
  sendAll(c.get(), "HELO x\r\n");
  got.clear();
  ASSERT_TRUE(readUntil(c.get(), got, "\r\n"));
  EXPECT_EQ(got, "HELO x\r\n");
}

TEST_F(ProxyTest, RegistryOnlyClosesUnknownTcp) {
  Backend echo(echoHandler);
  startProxy(
      "mesh: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}, protocolDetectionTimeout: "
      "20ms}\n");
  setDestination("127.0.0.1", echo.port());
  Fd c = client();
  sendAll(c.get(), std::string("\x01\x02\x03", 3));
  EXPECT_EQ(readAll(c.get()), "");
  EXPECT_EQ(echo.connections(), 0);
  auto closed = recorder_.waitClosed(1);
  ASSERT_EQ(closed.size(), 1U);
  EXPECT_EQ(closed[0].cluster, "BlackHoleCluster");
}

TEST_F(ProxyTest, TcpServiceUsesItsEndpoints) {
  Backend echo(echoHandler);
  startProxy(fmt::format(R"(
services:
- name: db
  addresses: [10.255.0.2]
  ports: [{{port: 5432, protocol: TCP, targetPort: {}}}]
  endpoints: [{{address: 127.0.0.1}}]
)",
                         echo.port()));
  setDestination("10.255.0.2", 5432);
  Fd c = client();
  sendAll(c.get(), "ping");
  ::shutdown(c.get(), SHUT_WR);
  EXPECT_EQ(readAll(c.get()), "ping");
  auto closed = recorder_.waitClosed(1);
  ASSERT_EQ(closed.size(), 1U);
  EXPECT_EQ(closed[0].cluster, "outbound|5432||db.default.svc.cluster.local");
}

// ------------------------------------------------------------ idle memory

// Connections quiet for two idle-memory checks give their read buffers'
// pages back (a TCP session's two, a keep-alive HTTP connection's, its
// pooled upstream's); the next bytes on each arrive intact.
TEST_F(ProxyTest, QuietConnectionsReleaseTheirBuffersAndKeepWorking) {
  Backend echo(echoHandler);
  Backend web([](int fd) { httpHandler(fd, "web"); });
  idle_memory_check_ = 20ms;
  startProxy(fastDetection() + serviceYaml(web.port()), 1);
  setDestination("127.0.0.1", echo.port());
  Fd tcp = client();
  ASSERT_TRUE(sendAll(tcp.get(), "ping"));
  std::string got;
  ASSERT_TRUE(readUntil(tcp.get(), got, "ping"));
  setDestination("10.255.0.1", 80);
  Fd http = client();
  std::string rest;
  auto get = [&](int i) {
    ASSERT_TRUE(sendAll(http.get(), fmt::format("GET /q{} HTTP/1.1\r\nHost: web\r\n\r\n", i)));
    Response r = readResponse(http.get(), rest);
    ASSERT_EQ(r.status, 200) << r.head;
    EXPECT_NE(r.body.find(fmt::format("GET /q{} HTTP/1.1", i)), std::string::npos) << r.body;
  };
  get(0);

  if (ReadBuffer::kOwnPages) {
    // TCP: both directions; HTTP: the downstream buffer and the pooled one.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (proxy_->idleBuffersReleased() < 4 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    EXPECT_GE(proxy_->idleBuffersReleased(), 4U);
  } else {
    std::this_thread::sleep_for(200ms);  // heap buffers: the checks run, release nothing
    EXPECT_EQ(proxy_->idleBuffersReleased(), 0U);
  }

  std::string data(256 * 1024, '\0');
  std::mt19937 rng(7);
  for (auto& c : data) c = static_cast<char>(rng());
  std::thread writer([&] {
    sendAll(tcp.get(), data);
    ::shutdown(tcp.get(), SHUT_WR);
  });
  std::string echoed = readAll(tcp.get());
  writer.join();
  EXPECT_TRUE(echoed == data) << echoed.size();
  get(1);
  get(2);
  EXPECT_EQ(web.connections(), 1);  // the released pooled connection served again
}

// ------------------------------------------------------------ HTTP

TEST_F(ProxyTest, HttpKeepAliveBothSidesWithPooledUpstream) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  startProxy(serviceYaml(web.port()), 1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  std::string rest;
  // A generated x-request-id is a UUID v4 (RFC 9562: version 4, variant
  // 10), lower-case as Envoy writes it, and new for every request.
  const std::regex uuid_v4(
      "x-request-id: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
      "[0-9a-f]{12}\r\n");
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(sendAll(c.get(), fmt::format("GET /r{} HTTP/1.1\r\nHost: web\r\n\r\n", i)));
    Response r = readResponse(c.get(), rest);
    ASSERT_EQ(r.status, 200) << r.head;
    EXPECT_NE(r.body.find(fmt::format("GET /r{} HTTP/1.1", i)), std::string::npos);
    std::smatch id;
    ASSERT_TRUE(std::regex_search(r.body, id, uuid_v4)) << r.body;
    ids.insert(id.str());
    EXPECT_NE(r.body.find("x-forwarded-proto: http"), std::string::npos);
  }
  EXPECT_EQ(ids.size(), 3U);
  EXPECT_EQ(web.connections(), 1);  // one upstream connection, reused
  auto reqs = recorder_.waitRequests(3);
  ASSERT_EQ(reqs.size(), 3U);
  EXPECT_EQ(reqs[0].code, 200);
  EXPECT_EQ(reqs[0].cluster, "outbound|80||web.default.svc.cluster.local");
  EXPECT_EQ(reqs[0].request_id.size(), 36U);
  EXPECT_NE(reqs[0].request_id, reqs[1].request_id);
}

TEST_F(ProxyTest, PipelinedRequestsAnswerInOrder) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  startProxy(serviceYaml(web.port()));
  setDestination("10.255.0.1", 80);
  Fd c = client();
  ASSERT_TRUE(sendAll(c.get(),
                      "GET /a HTTP/1.1\r\nHost: w\r\n\r\nGET /b HTTP/1.1\r\nHost: w\r\n\r\n"
                      "GET /c HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n"));
  std::string rest;
  for (const char* p : {"/a", "/b", "/c"}) {
    Response r = readResponse(c.get(), rest);
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.body.find(std::string("GET ") + p), std::string::npos) << r.body;
  }
  EXPECT_EQ(readAll(c.get()), rest);  // closed after the third
}

TEST_F(ProxyTest, ExistingRequestIdIsKeptAndHopByHopFieldsAreStripped) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  startProxy(serviceYaml(web.port()));
  setDestination("10.255.0.1", 80);
  Fd c = client();
  sendAll(
      c.get(),
      "GET / HTTP/1.1\r\nHost: w\r\nX-Request-Id: abc\r\nConnection: x-secret, keep-alive\r\n"
      "X-Secret: 1\r\nKeep-Alive: 5\r\nProxy-Connection: a\r\nX-Forwarded-Proto: https\r\n\r\n");
  std::string rest;
  Response r = readResponse(c.get(), rest);
  ASSERT_EQ(r.status, 200);
  std::string lower = r.body;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  EXPECT_NE(lower.find("x-request-id: abc"), std::string::npos);
  EXPECT_EQ(lower.find("x-secret"), std::string::npos) << r.body;
  EXPECT_EQ(lower.find("keep-alive"), std::string::npos);
  EXPECT_EQ(lower.find("proxy-connection"), std::string::npos);
  EXPECT_NE(lower.find("x-forwarded-proto: https"), std::string::npos);
}

TEST_F(ProxyTest, ChunkedRequestBodyIsStreamedAndRechunked) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  startProxy(serviceYaml(web.port()));
  setDestination("10.255.0.1", 80);
  Fd c = client();
  std::string big(200000, 'x');
  std::string req = "POST /up HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n";
  req += fmt::format("{:x}\r\n{}\r\n", big.size(), big);
  req += "3\r\nabc\r\n0\r\n\r\n";
  std::thread writer([&] { sendAll(c.get(), req); });
  std::string rest;
  Response r = readResponse(c.get(), rest);
  writer.join();
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(fmt::format("body={}", big.size() + 3)), std::string::npos) << r.body;
  auto reqs = recorder_.waitRequests(1);
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].request_bytes, big.size() + 3);
}

TEST_F(ProxyTest, CloseDelimitedResponseIsChunkedForHttp11Clients) {
  Backend web([](int fd) {
    std::string in;
    readUntil(fd, in, "\r\n\r\n");
    sendAll(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
  });
  startProxy(serviceYaml(web.port()));
  setDestination("10.255.0.1", 80);
  Fd c = client();
  sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\n\r\n");
  std::string rest;
  Response r = readResponse(c.get(), rest);
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(hasHeader(r, "transfer-encoding: chunked")) << r.head;
  EXPECT_EQ(r.body, "until the end");
}

TEST_F(ProxyTest, ExpectContinueIsRelayed) {
  Backend web([](int fd) {
    std::string in;
    readUntil(fd, in, "\r\n\r\n");
    sendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n");
    std::size_t body_at = in.find("\r\n\r\n") + 4;
    while (in.size() < body_at + 5) {
      char buf[64];
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return;
      in.append(buf, static_cast<std::size_t>(n));
    }
    std::string body = in.substr(body_at, 5);
    sendAll(fd, fmt::format("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}", body));
  });
  startProxy(serviceYaml(web.port()));
  setDestination("10.255.0.1", 80);
  Fd c = client();
  sendAll(c.get(),
          "POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  std::string rest;
  Response interim = readResponse(c.get(), rest);
  ASSERT_EQ(interim.status, 100) << interim.head;
  sendAll(c.get(), "hello");
  Response final_response = readResponse(c.get(), rest);
  EXPECT_EQ(final_response.status, 200);
  EXPECT_EQ(final_response.body, "hello");
}

TEST_F(ProxyTest, WebSocketTunnelsOnlyAfter101) {
  Backend ws([](int fd) {
    std::string in;
    if (!readUntil(fd, in, "\r\n\r\n")) return;
    sendAll(
        fd,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    in.erase(0, in.find("\r\n\r\n") + 4);
    if (!in.empty()) sendAll(fd, in);  // bytes that came with the request
    echoHandler(fd);
  });
  startProxy(serviceYaml(ws.port()));
  setDestination("10.255.0.1", 80);
  Fd c = client();
  sendAll(c.get(),
          "GET /ws HTTP/1.1\r\nHost: w\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
          "early-frame");
  std::string got;
  ASSERT_TRUE(readUntil(c.get(), got, "early-frame")) << got;
  EXPECT_EQ(got.rfind("HTTP/1.1 101", 0), 0U) << got;
  sendAll(c.get(), "more");
  got.clear();
  ASSERT_TRUE(readUntil(c.get(), got, "more"));
  auto reqs = recorder_.waitRequests(1);
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].code, 101);
}

TEST_F(ProxyTest, UpgradeRefusedKeepsParsingHttp) {
  // R16: the backend answers 200 to the upgrade; the bytes after the request
  // are HTTP, not a tunnel, and garbage there is a 400, never forwarded.
  Backend web([](int fd) { httpHandler(fd, "web"); });
  startProxy(serviceYaml(web.port()));
  setDestination("10.255.0.1", 80);
  Fd c = client();
  sendAll(c.get(),
          "GET /ws HTTP/1.1\r\nHost: w\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
          "\x81\x05hello GET /smuggled HTTP/1.1\r\nHost: w\r\n\r\n");
  std::string rest;
  Response r = readResponse(c.get(), rest);
  EXPECT_EQ(r.status, 200);
  Response second = readResponse(c.get(), rest);
  EXPECT_EQ(second.status, 400);
  EXPECT_EQ(web.connections(), 1);
  auto reqs = recorder_.waitRequests(2);
  for (const auto& q : reqs) EXPECT_NE(q.code, 0);
}

TEST_F(ProxyTest, LocalRepliesCarryResponseFlags) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  // A port nothing listens on: take one and close it.
  std::uint16_t dead_port = 0;
  {
    Backend tmp([](int) {});
    dead_port = tmp.port();
  }
  startProxy(fmt::format(R"(
mesh: {{outboundTrafficPolicy: {{mode: REGISTRY_ONLY}}}}
services:
- name: empty
  addresses: [10.255.0.3]
  ports: [{{port: 80, protocol: HTTP}}]
- name: dead
  addresses: [10.255.0.4]
  ports: [{{port: 80, protocol: HTTP, targetPort: {}}}]
  endpoints: [{{address: 127.0.0.1}}, {{address: 127.0.0.2}}]
)",
                         dead_port));
  struct Want {
    const char* address;
    int status;
    std::uint32_t flags;
  };
  for (Want w : {Want{"10.255.0.3", 503, flags::kNoHealthyUpstream},
                 Want{"10.255.0.4", 503,
                      flags::kUpstreamConnectionFailure | flags::kUpstreamRetryLimitExceeded},
                 Want{"192.0.2.1", 502, flags::kNoRouteFound}}) {
    setDestination(w.address, 80);
    Fd c = client();
    sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\n\r\n");
    std::string rest;
    Response r = readResponse(c.get(), rest);
    EXPECT_EQ(r.status, w.status) << w.address;
    // The request had no body: the connection stays usable.
    sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n");
    Response again = readResponse(c.get(), rest);
    EXPECT_EQ(again.status, w.status) << w.address;
  }
  // Reports come from two workers: match them by cluster, not by order.
  auto reqs = recorder_.waitRequests(6);
  ASSERT_EQ(reqs.size(), 6U);
  std::map<std::string, std::vector<std::uint32_t>> by_cluster;
  for (const auto& q : reqs) by_cluster[q.cluster].push_back(q.flags);
  using Flags = std::vector<std::uint32_t>;
  EXPECT_EQ(by_cluster["outbound|80||empty.default.svc.cluster.local"],
            Flags(2, flags::kNoHealthyUpstream));
  EXPECT_EQ(by_cluster["outbound|80||dead.default.svc.cluster.local"],
            Flags(2, flags::kUpstreamConnectionFailure | flags::kUpstreamRetryLimitExceeded));
  EXPECT_EQ(by_cluster["BlackHoleCluster"], Flags(2, flags::kNoRouteFound));
}

TEST_F(ProxyTest, BadRequestsAreRefusedWith400AndClosed) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  startProxy(serviceYaml(web.port()));
  setDestination("10.255.0.1", 80);
  Fd c = client();
  sendAll(c.get(),
          "POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string all = readAll(c.get());
  EXPECT_EQ(all.rfind("HTTP/1.1 400", 0), 0U) << all;
  EXPECT_EQ(web.connections(), 0);
}

TEST_F(ProxyTest, UpstreamResetBeforeResponseIs503UC) {
  Backend web([](int fd) {
    std::string in;
    readUntil(fd, in, "\r\n\r\n");
    // Close without answering.
  });
  startProxy(serviceYaml(web.port()));
  setDestination("10.255.0.1", 80);
  Fd c = client();
  sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\n\r\n");
  std::string rest;
  Response r = readResponse(c.get(), rest);
  EXPECT_EQ(r.status, 503);
  auto reqs = recorder_.waitRequests(1);
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].flags, flags::kUpstreamConnectionTermination);
}

TEST_F(ProxyTest, RoundRobinAlternatesEndpoints) {
  Backend a([](int fd) { httpHandler(fd, "a"); });
  Backend b([](int fd) { httpHandler(fd, "b"); });
  // Two endpoints on two loopback addresses with per-endpoint ports.
  startProxy(fmt::format(R"(
services:
- name: web
  addresses: [10.255.0.1]
  ports: [{{name: http, port: 80, protocol: HTTP}}]
  loadBalancer: ROUND_ROBIN
  endpoints: [{{address: 127.0.0.1, ports: {{http: {}}}}}, {{address: 127.0.0.1, ports: {{http: {}}}}}]
)",
                         a.port(), b.port()),
             1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  std::string rest;
  std::string seen;
  for (int i = 0; i < 4; ++i) {
    sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\n\r\n");
    Response r = readResponse(c.get(), rest);
    ASSERT_EQ(r.status, 200);
    seen += r.body.substr(0, 1);
  }
  EXPECT_TRUE(seen == "abab" || seen == "baba") << seen;
}

TEST_F(ProxyTest, ConfigReloadReachesNewRequestsWithoutDroppingConnections) {
  Backend a([](int fd) { httpHandler(fd, "a"); });
  Backend b([](int fd) { httpHandler(fd, "b"); });
  startProxy(serviceYaml(a.port()), 2);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  std::string rest;
  sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\n\r\n");
  Response r = readResponse(c.get(), rest);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.substr(0, 1), "a");
  reload(serviceYaml(b.port()), 1);
  // The same downstream connection carries on; a later request sees the
  // new endpoints (the update is posted: wait for it, bounded).
  std::string got;
  for (int i = 0; i < 200 && got != "b"; ++i) {
    sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\n\r\n");
    Response again = readResponse(c.get(), rest);
    ASSERT_EQ(again.status, 200);
    got = again.body.substr(0, 1);
    if (got != "b") std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(got, "b");
}

TEST_F(ProxyTest, DrainFinishesInFlightRequestsWithConnectionClose) {
  std::atomic<bool> release{false};
  std::atomic<int> waiting{0};
  Backend slow([&](int fd) {
    std::string in;
    for (;;) {
      if (!readUntil(fd, in, "\r\n\r\n")) return;
      bool is_slow = in.find("/slow") != std::string::npos;
      in.erase(0, in.find("\r\n\r\n") + 4);
      if (is_slow) {
        ++waiting;
        while (!release) std::this_thread::sleep_for(5ms);
      }
      if (!sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")) return;
    }
  });
  startProxy(serviceYaml(slow.port()), 1);
  setDestination("10.255.0.1", 80);
  Fd idle = client();
  std::string idle_rest;
  sendAll(idle.get(), "GET /fast HTTP/1.1\r\nHost: w\r\n\r\n");
  ASSERT_EQ(readResponse(idle.get(), idle_rest).status, 200);
  Fd busy = client();
  sendAll(busy.get(), "GET /slow HTTP/1.1\r\nHost: w\r\n\r\n");
  for (int i = 0; i < 1000 && waiting == 0; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(waiting, 1);
  proxy_->drain(std::chrono::seconds(10));
  // The idle keep-alive connection is closed at once (EOF, no reset; the
  // drain deadline is 10 s away)...
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(readAll(idle.get()), "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  // ...new connections are refused...
  Fd late;
  for (int i = 0; i < 100; ++i) {
    late = connectTo(proxy_->outboundPort());
    if (late.get() < 0) break;
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_LT(late.get(), 0);
  // ...and the request in flight finishes, with Connection: close.
  release = true;
  std::string rest;
  Response r = readResponse(busy.get(), rest);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "done");
  EXPECT_TRUE(hasHeader(r, "connection: close")) << r.head;
  proxy_->wait();  // the workers end once their connections are gone
}

// ------------------------------------------------------------ timeouts

// Milliseconds from now until `fd` reports EOF (or the 10 s receive timeout);
// what arrived before is appended to `got`.
long msUntilEof(int fd, std::string* got = nullptr) {
  auto t0 = std::chrono::steady_clock::now();
  std::string all = readAll(fd);
  if (got != nullptr) *got += all;
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count());
}

TEST_F(ProxyTest, SlowHeadIsAnswered408AndClosed) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  startProxy("mesh: {requestHeadersTimeout: 300ms}\n" + serviceYaml(web.port()), 1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  ASSERT_TRUE(sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\n"));
  // Slowloris: one more field every 50 ms, never the end of the head.
  std::atomic<bool> stop{false};
  std::thread drip([&] {
    for (int i = 0; i < 100 && !stop; ++i) {
      if (!sendAll(c.get(), fmt::format("X-Drip-{}: 1\r\n", i))) return;
      std::this_thread::sleep_for(50ms);
    }
  });
  std::string got;
  long ms = msUntilEof(c.get(), &got);
  stop = true;
  drip.join();
  EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0U) << got;
  EXPECT_NE(got.find("connection: close"), std::string::npos) << got;
  EXPECT_LT(ms, 3000);
  EXPECT_EQ(web.connections(), 0);  // nothing of it went upstream
  auto reqs = recorder_.waitRequests(1);
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].code, 408);
}

// A bad request whose client keeps sending (here a 256 KiB body after an
// invalid Content-Length): the 400 must reach the client whole, and the
// connection must end with a FIN, not a reset, once the client is done.
// Closing with the client's bytes unread sends a RST, which destroys a
// response still queued to a slow client; the delayed close reads and drops
// them until the client closes. (On loopback the 400 leaves at once, so this
// does not show the loss itself; it guards the delayed close's life cycle:
// the body is drained, the end is clean, nothing hangs.)
TEST_F(ProxyTest, ResponseBeforeCloseSurvivesTheClientStillSending) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  startProxy(serviceYaml(web.port()), 1);
  setDestination("10.255.0.1", 80);
  for (int round = 0; round < 20; ++round) {
    Fd c = client();
    std::string junk(256 * 1024, 'j');
    // The head, then (once the 400 is on its way) the body; only then read.
    sendAll(c.get(), "POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 1x\r\n\r\n");
    std::this_thread::sleep_for(5ms);
    std::thread writer([&] {
      sendAll(c.get(), junk);
      ::shutdown(c.get(), SHUT_WR);
    });
    writer.join();
    // Read to the end, telling a clean end (FIN) from a reset.
    std::string got;
    int error = 0;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
      if (n > 0) {
        got.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0) error = errno;
      break;
    }
    EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0U) << "round " << round << ": " << got;
    EXPECT_EQ(error, 0) << "round " << round << ": " << std::strerror(error);
  }
  EXPECT_EQ(web.connections(), 0);
}

TEST_F(ProxyTest, SilentConnectionIsClosedAfterTheHeaderTimeout) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  // An HTTP port: no sniffing, the HTTP session owns the connection at once.
  startProxy(fmt::format(R"(
mesh: {{requestHeadersTimeout: 300ms}}
services:
- name: web
  addresses: [10.255.0.1]
  ports: [{{port: 80, protocol: HTTP, targetPort: {}}}]
  endpoints: [{{address: 127.0.0.1}}]
)",
                         web.port()),
             1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  std::string got;
  EXPECT_LT(msUntilEof(c.get(), &got), 3000);
  EXPECT_EQ(got, "");  // nothing asked, nothing answered
  EXPECT_EQ(recorder_.requestsSnapshot().size(), 0U);
}

TEST_F(ProxyTest, KeepAliveIdleTimeoutIsNotTheHeaderTimeout) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  startProxy(
      "mesh: {requestHeadersTimeout: 200ms, idleTimeout: 1500ms}\n" + serviceYaml(web.port()), 1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  std::string rest;
  sendAll(c.get(), "GET /1 HTTP/1.1\r\nHost: w\r\n\r\n");
  ASSERT_EQ(readResponse(c.get(), rest).status, 200);
  // Idle longer than the header timeout, shorter than the idle timeout: the
  // connection is still there for the next request.
  std::this_thread::sleep_for(600ms);
  sendAll(c.get(), "GET /2 HTTP/1.1\r\nHost: w\r\n\r\n");
  ASSERT_EQ(readResponse(c.get(), rest).status, 200);
  // Then idle past the idle timeout: closed, quietly.
  std::string got;
  long ms = msUntilEof(c.get(), &got);
  EXPECT_EQ(got, "");
  EXPECT_GT(ms, 1000);
  EXPECT_LT(ms, 4000);
}

TEST_F(ProxyTest, SlowReaderBackpressuresTheUpstream) {
  // The client does not read a 64 MiB response: the proxy must stop reading
  // the upstream, not buffer it. Small socket buffers keep the bound tight.
  constexpr std::size_t kBody = 64 << 20;
  std::atomic<std::size_t> sent{0};
  std::atomic<bool> done{false};
  Backend big([&](int fd) {
    int small = 64 * 1024;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    std::string in;
    if (!readUntil(fd, in, "\r\n\r\n")) return;
    if (!sendAll(fd, fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", kBody))) return;
    std::string block(64 * 1024, 'b');
    while (sent < kBody) {
      if (!sendAll(fd, block)) return;
      sent += block.size();
    }
    done = true;
  });
  startProxy(serviceYaml(big.port()), 1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  int small = 64 * 1024;
  ::setsockopt(c.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sendAll(c.get(), "GET /big HTTP/1.1\r\nHost: w\r\n\r\n");
  // Let the backend push as much as it can while nobody reads.
  std::size_t last = 0;
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(50ms);
    if (i > 10 && sent == last) break;  // stalled
    last = sent;
  }
  std::size_t stalled_at = sent;
  EXPECT_FALSE(done);
  // Kernel buffers on four sockets plus one proxy read buffer: a few MiB at
  // most (loopback autotuning), far from the 64 MiB of the body.
  EXPECT_LT(stalled_at, std::size_t{16} << 20) << "the proxy buffered the response";
  // Reading resumes the flow, and every byte arrives.
  std::size_t total = 0;
  std::string head;
  char buf[65536];
  std::size_t want = 0;
  for (;;) {
    ssize_t n = ::recv(c.get(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    if (want == 0) {
      head.append(buf, static_cast<std::size_t>(n));
      auto end = head.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      want = kBody;
      total = head.size() - end - 4;
    } else {
      total += static_cast<std::size_t>(n);
    }
    if (total >= want) break;
  }
  EXPECT_EQ(total, kBody);
}

TEST_F(ProxyTest, UpstreamThatNeverAnswersIs504UT) {
  Backend mute([](int fd) {
    std::string in;
    if (!readUntil(fd, in, "\r\n\r\n")) return;
    char b;
    (void)::recv(fd, &b, 1, 0);  // until the proxy gives up (or the 10 s timeout)
  });
  startProxy("mesh: {routeTimeout: 300ms}\n" + serviceYaml(mute.port()), 1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  auto t0 = std::chrono::steady_clock::now();
  sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\n\r\n");
  std::string rest;
  Response r = readResponse(c.get(), rest);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  EXPECT_EQ(r.status, 504) << r.head;
  EXPECT_EQ(r.body, "upstream request timeout");
  EXPECT_GE(ms.count(), 250);
  EXPECT_LT(ms.count(), 3000);
  auto reqs = recorder_.waitRequests(1);
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].code, 504);
  EXPECT_EQ(reqs[0].flags, flags::kUpstreamRequestTimeout);
  // The request was complete: the downstream connection carries on.
  sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(readResponse(c.get(), rest).status, 504);
}

TEST_F(ProxyTest, RouteTimeoutAfterTheResponseBeganCutsTheConnection) {
  Backend stall([](int fd) {
    std::string in;
    if (!readUntil(fd, in, "\r\n\r\n")) return;
    sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    char b;
    (void)::recv(fd, &b, 1, 0);
  });
  startProxy("mesh: {routeTimeout: 300ms}\n" + serviceYaml(stall.port()), 1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\n\r\n");
  std::string got;
  EXPECT_LT(msUntilEof(c.get(), &got), 3000);
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0U) << got;
  EXPECT_NE(got.find("partial"), std::string::npos);
  auto reqs = recorder_.waitRequests(1);
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].flags & flags::kUpstreamRequestTimeout, flags::kUpstreamRequestTimeout);
}

// --- mesh.streamIdleTimeout (Envoy's stream_idle_timeout)

// A backend that reads the request head and whatever body comes, never
// answers, and notes when the proxy closes its connection.
struct SilentBackend {
  std::atomic<std::size_t> body_bytes{0};
  std::atomic<bool> closed_by_proxy{false};
  void operator()(int fd) {
    std::string in;
    if (!readUntil(fd, in, "\r\n\r\n")) return;
    body_bytes = in.size() - (in.find("\r\n\r\n") + 4);
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        body_bytes += static_cast<std::size_t>(n);
        continue;
      }
      // EOF or a reset, not the 10 s receive timeout.
      closed_by_proxy = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      return;
    }
  }
};

bool waitFor(const std::atomic<bool>& flag, std::chrono::milliseconds limit) {
  for (auto t0 = std::chrono::steady_clock::now(); std::chrono::steady_clock::now() - t0 < limit;) {
    if (flag) return true;
    std::this_thread::sleep_for(10ms);
  }
  return flag;
}

TEST_F(ProxyTest, StreamIdleStalledRequestBodyIs408SIAndTheUpstreamClosed) {
  SilentBackend silent;
  Backend web([&](int fd) { silent(fd); });
  startProxy("mesh: {streamIdleTimeout: 300ms}\n" + serviceYaml(web.port()), 1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  // 10 of the 100 body bytes, then nothing: the upstream waits for the rest.
  ASSERT_TRUE(
      sendAll(c.get(), "POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 100\r\n\r\n0123456789"));
  std::string got;
  long ms = msUntilEof(c.get(), &got);
  EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0U) << got;
  EXPECT_NE(got.find("connection: close"), std::string::npos) << got;
  EXPECT_EQ(got.substr(got.size() - 14), "stream timeout") << got;
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 3000);
  auto reqs = recorder_.waitRequests(1);
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].code, 408);
  EXPECT_EQ(reqs[0].flags, flags::kStreamIdleTimeout);
  EXPECT_EQ(reqs[0].details, "stream_idle_timeout");
  // The upstream had the head and the 10 bytes, and its connection was
  // closed (not pooled with a request half sent).
  EXPECT_TRUE(waitFor(silent.closed_by_proxy, 3s));
  EXPECT_EQ(silent.body_bytes, 10U);
}

TEST_F(ProxyTest, StreamIdleTricklingBodyKeepsTheStreamAlive) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  startProxy("mesh: {streamIdleTimeout: 300ms}\n" + serviceYaml(web.port()), 1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sendAll(c.get(), "POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 10\r\n\r\n"));
  // One byte every 100 ms: a second in all, each gap well inside 300 ms.
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(sendAll(c.get(), "b"));
  }
  std::string rest;
  Response r = readResponse(c.get(), rest);
  EXPECT_EQ(r.status, 200) << r.head;
  EXPECT_NE(r.body.find("body=10"), std::string::npos) << r.body;
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 900ms);
  auto reqs = recorder_.waitRequests(1);
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].flags, 0U);
  // The connection carries on.
  sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\n\r\n");
  EXPECT_EQ(readResponse(c.get(), rest).status, 200);
}

TEST_F(ProxyTest, StreamIdleStalledResponseBodyCutsTheConnectionWithSI) {
  std::atomic<bool> upstream_closed{false};
  Backend stall([&](int fd) {
    std::string in;
    if (!readUntil(fd, in, "\r\n\r\n")) return;
    sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    char b;
    ssize_t n = ::recv(fd, &b, 1, 0);
    upstream_closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  });
  // No route timeout (the default): only the stream idle timeout ends it.
  startProxy("mesh: {streamIdleTimeout: 300ms}\n" + serviceYaml(stall.port()), 1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\n\r\n");
  std::string got;
  long ms = msUntilEof(c.get(), &got);
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 3000);
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0U) << got;
  ASSERT_NE(got.find("\r\n\r\n"), std::string::npos) << got;
  EXPECT_EQ(got.substr(got.find("\r\n\r\n") + 4), "partial");  // cut short of the 100 bytes
  auto reqs = recorder_.waitRequests(1);
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].code, 200);
  EXPECT_EQ(reqs[0].flags & flags::kStreamIdleTimeout, flags::kStreamIdleTimeout);
  EXPECT_EQ(reqs[0].details, "stream_idle_timeout");
  EXPECT_TRUE(waitFor(upstream_closed, 3s));
}

TEST_F(ProxyTest, StreamIdleSilentUpstreamIs408SIWithoutARouteTimeout) {
  SilentBackend silent;
  Backend mute([&](int fd) { silent(fd); });
  startProxy("mesh: {streamIdleTimeout: 300ms}\n" + serviceYaml(mute.port()), 1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\n\r\n");
  std::string got;
  EXPECT_LT(msUntilEof(c.get(), &got), 3000);
  EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0U) << got;
  auto reqs = recorder_.waitRequests(1);
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].flags, flags::kStreamIdleTimeout);
  EXPECT_TRUE(waitFor(silent.closed_by_proxy, 3s));
}

TEST_F(ProxyTest, StreamIdleDuringTheUpstreamConnectIsOne408) {
  // A listener that never accepts, its queue (backlog 0: one connection)
  // full: the proxy's SYN is dropped and its connect hangs.
  Fd full(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(full.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(::listen(full.get(), 0), 0);
  socklen_t len = sizeof(sa);
  ::getsockname(full.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  const std::uint16_t port = ntohs(sa.sin_port);
  Fd filler = connectTo(port);
  ASSERT_GE(filler.get(), 0);
  startProxy("mesh: {streamIdleTimeout: 300ms, connectTimeout: 5s}\n" + serviceYaml(port), 1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  sendAll(c.get(), "GET / HTTP/1.1\r\nHost: w\r\n\r\n");
  std::string got;
  EXPECT_LT(msUntilEof(c.get(), &got), 3000);
  // The abandoned connect adds nothing: no retry, no 503 after the 408.
  EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0U) << got;
  EXPECT_EQ(got.find("HTTP/1.1", 1), std::string::npos) << got;
  auto reqs = recorder_.waitRequests(1);
  std::this_thread::sleep_for(100ms);
  reqs = recorder_.requestsSnapshot();
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].flags, flags::kStreamIdleTimeout);
}

TEST_F(ProxyTest, StreamIdleDoesNotRunBetweenRequestsOfAKeepAlive) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  startProxy("mesh: {streamIdleTimeout: 200ms, idleTimeout: 1500ms}\n" + serviceYaml(web.port()),
             1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  std::string rest;
  for (int i = 0; i < 3; ++i) {
    sendAll(c.get(), fmt::format("GET /{} HTTP/1.1\r\nHost: w\r\n\r\n", i));
    ASSERT_EQ(readResponse(c.get(), rest).status, 200) << i;
    // Quiet between requests for longer than the stream idle timeout.
    if (i < 2) std::this_thread::sleep_for(500ms);
  }
  // Only the keep-alive idle timeout closes it, quietly.
  std::string got;
  long ms = msUntilEof(c.get(), &got);
  EXPECT_EQ(got, "");
  EXPECT_GT(ms, 1000);
  EXPECT_LT(ms, 4000);
  auto reqs = recorder_.waitRequests(3);
  ASSERT_EQ(reqs.size(), 3U);
  for (const auto& r : reqs) EXPECT_EQ(r.flags, 0U);
  EXPECT_EQ(web.connections(), 1);  // one upstream connection, pooled throughout
}

TEST_F(ProxyTest, DrainClosesIdleKeepAlivesAtOnce) {
  // Every idle keep-alive connection ends within a moment of the drain,
  // not at its deadline (10 s here), however the drain lands relative to
  // the end of the previous response; rounds vary the timing.
  const int kRounds = 20;
  Backend web([](int fd) { httpHandler(fd, "web"); });
  for (int round = 0; round < kRounds; ++round) {
    startProxy(serviceYaml(web.port()), 2);
    setDestination("10.255.0.1", 80);
    std::vector<Fd> conns;
    for (int i = 0; i < 6; ++i) {
      conns.push_back(client());
      std::string rest;
      sendAll(conns.back().get(), "GET / HTTP/1.1\r\nHost: w\r\n\r\n");
      ASSERT_EQ(readResponse(conns.back().get(), rest).status, 200);
    }
    // One more that connected and has not sent its first request yet: still
    // in protocol detection (100 ms) when the drain comes.
    conns.push_back(client());
    proxy_->drain(std::chrono::seconds(10));
    for (std::size_t i = 0; i < conns.size(); ++i) {
      std::string got;
      EXPECT_LT(msUntilEof(conns[i].get(), &got), 1000) << "round " << round << " conn " << i;
      EXPECT_EQ(got, "");
    }
    proxy_->wait();
  }
}

// ------------------------------------------------------------ HTTP/1.0

// The head (lowercased) and the raw bytes after it, read to EOF.
std::pair<std::string, std::string> splitToEof(int fd) {
  std::string all = readAll(fd);
  std::size_t end = all.find("\r\n\r\n");
  if (end == std::string::npos) return {all, ""};
  std::string head = all.substr(0, end + 4);
  for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return {head, all.substr(end + 4)};
}

TEST_F(ProxyTest, ChunkedResponseReachesHttp10ClientDechunkedAndCloseDelimited) {
  Backend web([](int fd) {
    std::string in;
    if (!readUntil(fd, in, "\r\n\r\n")) return;
    sendAll(fd,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-B: 1\r\n\r\n"
            "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    char b;
    (void)::recv(fd, &b, 1, 0);  // keep-alive on this side
  });
  startProxy(serviceYaml(web.port()), 1);
  setDestination("10.255.0.1", 80);
  // With and without keep-alive asked: without a length, the close ends it.
  for (const char* req :
       {"GET / HTTP/1.0\r\n\r\n", "GET / HTTP/1.0\r\nHost: w\r\nConnection: keep-alive\r\n\r\n"}) {
    Fd c = client();
    sendAll(c.get(), req);
    auto [head, body] = splitToEof(c.get());
    EXPECT_EQ(head.rfind("http/1.1 200", 0), 0U) << head;
    EXPECT_EQ(head.find("transfer-encoding"), std::string::npos) << head;
    EXPECT_EQ(head.find("content-length"), std::string::npos) << head;
    EXPECT_NE(head.find("connection: close"), std::string::npos) << head;
    EXPECT_EQ(head.find("keep-alive"), std::string::npos) << head;
    EXPECT_NE(head.find("x-b: 1"), std::string::npos) << head;
    EXPECT_EQ(body, "hello world");  // no chunk framing, no trailer
  }
  auto reqs = recorder_.waitRequests(2);
  ASSERT_EQ(reqs.size(), 2U);
  for (const auto& q : reqs) {
    EXPECT_EQ(q.code, 200);
    EXPECT_EQ(q.flags, 0U);
    EXPECT_EQ(q.response_bytes, 11U);
  }
}

TEST_F(ProxyTest, CloseDelimitedResponseReachesHttp10ClientAsIs) {
  Backend web([](int fd) {
    std::string in;
    readUntil(fd, in, "\r\n\r\n");
    sendAll(fd, "HTTP/1.0 200 OK\r\n\r\nuntil the end");
  });
  startProxy(serviceYaml(web.port()), 1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  sendAll(c.get(), "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  auto [head, body] = splitToEof(c.get());
  EXPECT_EQ(head.find("transfer-encoding"), std::string::npos) << head;
  EXPECT_NE(head.find("connection: close"), std::string::npos) << head;
  EXPECT_EQ(body, "until the end");
}

TEST_F(ProxyTest, LengthDelimitedResponseKeepsHttp10KeepAlive) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  startProxy(serviceYaml(web.port()), 1);
  setDestination("10.255.0.1", 80);
  Fd c = client();
  std::string rest;
  sendAll(c.get(), "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  Response r = readResponse(c.get(), rest);
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(hasHeader(r, "connection: keep-alive")) << r.head;
  EXPECT_FALSE(hasHeader(r, "transfer-encoding")) << r.head;
  sendAll(c.get(), "GET /b HTTP/1.0\r\n\r\n");
  r = readResponse(c.get(), rest);
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(hasHeader(r, "connection: close")) << r.head;
  EXPECT_EQ(readAll(c.get()), rest);
}

TEST_F(ProxyTest, LocalReplyToHttp10KeepAliveSaysSo) {
  // RFC 9112 §9.3: an HTTP/1.0 connection persists only when the response
  // says keep-alive; a local reply that keeps the connection must say it.
  startProxy(R"(
services:
- name: empty
  addresses: [10.255.0.3]
  ports: [{port: 80, protocol: HTTP}]
)",
             1);
  setDestination("10.255.0.3", 80);
  Fd c = client();
  std::string rest;
  sendAll(c.get(), "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  Response r = readResponse(c.get(), rest);
  ASSERT_EQ(r.status, 503);
  EXPECT_TRUE(hasHeader(r, "connection: keep-alive")) << r.head;
  sendAll(c.get(), "GET / HTTP/1.0\r\n\r\n");
  r = readResponse(c.get(), rest);
  ASSERT_EQ(r.status, 503);
  EXPECT_TRUE(hasHeader(r, "connection: close")) << r.head;
  EXPECT_EQ(readAll(c.get()), rest);
}

}  // namespace
}  // namespace remora::proxy
