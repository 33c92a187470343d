// Server over real sockets on 127.0.0.1 (port 0): routing, keep-alive,
// pipelining, the hostile cases (smuggling, oversized bodies, slow-drip,
// plain HTTP on a TLS port), TLS with certificates made here, context
// rotation, connection limits and a thousand concurrent connections.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "http/client.h"
#include "http/server.h"
#include "tests/http/component_support.h"
#include "tests/http/test_pki.h"

namespace remora::http::testing {
namespace {

using namespace std::chrono_literals;

void basicRoutes(Server& s, std::atomic<int>* calls = nullptr) {
  s.route("GET", "/hello", [calls](const Request&) {
    if (calls) ++*calls;
    return Response::text(200, "hi");
  });
  s.routePrefix("GET", "/static/", [](const Request& r) {
    return Response::text(200, std::string(r.path()) + "|" + std::string(r.query()));
  });
  s.route("POST", "/echo", [calls](const Request& r) {
    if (calls) ++*calls;
    return Response::text(200, r.body);
  });
  s.route("", "/any",
          [](const Request& r) { return Response::text(200, std::string(r.method())); });
  s.route("GET", "/tls",
          [](const Request& r) { return Response::text(200, r.tls ? "tls" : "plain"); });
}

TEST(ServerComponent, RoutesExactPrefixAnd404And405AndHead) {
  RunningServer rs({}, [](Server& s) { basicRoutes(s); });
  Client client;
  auto get = [&](std::string method, std::string path) {
    ClientRequest req;
    req.method = std::move(method);
    req.url = rs.url(path);
    auto r = client.send(req);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r ? *r : ClientResponse{};
  };
  auto r = get("GET", "/hello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hi");
  EXPECT_EQ(r.headers.get("content-length").value_or(""), "2");
  r = get("GET", "/static/a/b?x=1");
  EXPECT_EQ(r.body, "/static/a/b|x=1");
  r = get("GET", "/nothing");
  EXPECT_EQ(r.status, 404);
  r = get("DELETE", "/hello");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers.get("allow").value_or(""), "GET");
  r = get("HEAD", "/hello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.headers.get("content-length").value_or(""), "2");
  r = get("PATCH", "/any");
  EXPECT_EQ(r.body, "PATCH");
  ClientRequest post;
  post.method = "POST";
  post.url = rs.url("/echo");
  post.body = std::string(100000, 'e');
  auto echoed = client.send(post);
  ASSERT_TRUE(echoed.has_value()) << echoed.error().message;
  EXPECT_EQ(echoed->body, post.body);
}

TEST(ServerComponent, PipelinedRequestsAnsweredInOrderOnOneConnection) {
  RunningServer rs({}, [](Server& s) { basicRoutes(s); });
  RawConnection c(rs.port());
  ASSERT_TRUE(
      c.send("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
             "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
             "GET /static/x HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string log = c.readResponses(3);
  EXPECT_NE(log.find("BODY hi\nDONE\n"), std::string::npos) << log;
  EXPECT_LT(log.find("BODY hi"), log.find("BODY abc")) << log;
  EXPECT_LT(log.find("BODY abc"), log.find("BODY /static/x|")) << log;
  // Keep-alive: the same connection serves one more.
  ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_NE(c.readResponses(1).find("BODY hi"), std::string::npos);
}

TEST(ServerComponent, ConnectionCloseAndHttp10CloseAfterResponse) {
  RunningServer rs({}, [](Server& s) { basicRoutes(s); });
  RawConnection c1(rs.port());
  ASSERT_TRUE(c1.send("GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  std::string log = c1.readResponses(1);
  EXPECT_NE(log.find("Connection=close"), std::string::npos) << log;
  EXPECT_TRUE(c1.closedByPeer());
  RawConnection c2(rs.port());
  ASSERT_TRUE(c2.send("GET /hello HTTP/1.0\r\n\r\n"));
  EXPECT_NE(c2.readResponses(1).find("BODY hi"), std::string::npos);
  EXPECT_TRUE(c2.closedByPeer());
}

// RELIABILITY 6.A test 1 at the server: the smuggled request is never answered.
TEST(ServerComponent, SmugglingClTeGets400AndCloseAndSecondRequestIsNeverServed) {
  std::atomic<int> calls{0};
  RunningServer rs({}, [&](Server& s) { basicRoutes(s, &calls); });
  RawConnection c(rs.port());
  ASSERT_TRUE(
      c.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
             "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
             "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string log = c.readResponses(2);
  EXPECT_EQ(log.rfind("RESP 400 Bad Request", 0), 0u) << log;
  EXPECT_NE(log.find("Connection=close"), std::string::npos) << log;
  EXPECT_EQ(log.find("BODY hi"), std::string::npos) << log;
  EXPECT_EQ(calls.load(), 0);
}

TEST(ServerComponent, OversizedBodiesGet413) {
  ServerOptions opt;
  opt.max_body_bytes = 1024;
  std::atomic<int> calls{0};
  RunningServer rs(opt, [&](Server& s) { basicRoutes(s, &calls); });
  {
    RawConnection c(rs.port());
    ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2048\r\n\r\n"));
    c.send(std::string(2048, 'x'));
    std::string log = c.readResponses(1);
    EXPECT_EQ(log.rfind("RESP 413", 0), 0u) << log;
    EXPECT_TRUE(c.closedByPeer());
  }
  {
    RawConnection c(rs.port());
    std::string chunked = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 5; ++i) chunked += "100\r\n" + std::string(256, 'y') + "\r\n";
    chunked += "0\r\n\r\n";
    c.send(chunked);
    std::string log = c.readResponses(1);
    EXPECT_EQ(log.rfind("RESP 413", 0), 0u) << log;
  }
  EXPECT_EQ(calls.load(), 0);
  // A body at the limit is fine.
  Client client;
  ClientRequest req;
  req.method = "POST";
  req.url = rs.url("/echo");
  req.body = std::string(1024, 'z');
  auto r = client.send(req);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 200);
}

TEST(ServerComponent, ExpectContinueGets100BeforeTheBody) {
  RunningServer rs({}, [](Server& s) { basicRoutes(s); });
  RawConnection c(rs.port());
  ASSERT_TRUE(c.send(
      "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  std::string interim = c.readResponses(1);
  EXPECT_EQ(interim.rfind("RESP 100 Continue", 0), 0u) << interim;
  ASSERT_TRUE(c.send("hello"));
  EXPECT_NE(c.readResponses(1).find("BODY hello"), std::string::npos);
}

// The slowloris defence: a head dripped a byte at a time gets 408 when the
// header timeout (from its first byte) passes, however lively the drip.
TEST(ServerComponent, SlowDripHeadGets408AndClose) {
  ServerOptions opt;
  opt.header_timeout = 300ms;
  opt.idle_timeout = 60s;
  std::atomic<int> calls{0};
  RunningServer rs(opt, [&](Server& s) { basicRoutes(s, &calls); });
  RawConnection c(rs.port());
  std::string drip = "GET /hello HTTP/1.1\r\nHost: a\r\nX-Slow: " + std::string(200, 's');
  std::atomic<bool> stop{false};
  std::thread dripper([&] {
    for (char ch : drip) {
      if (stop || !c.send(std::string_view(&ch, 1))) return;
      std::this_thread::sleep_for(20ms);
    }
  });
  std::string log = c.readResponses(1);
  stop = true;
  dripper.join();
  EXPECT_EQ(log.rfind("RESP 408", 0), 0u) << log;
  EXPECT_TRUE(c.closedByPeer());
  EXPECT_EQ(calls.load(), 0);
}

TEST(ServerComponent, IdleKeepAliveConnectionIsClosed) {
  ServerOptions opt;
  opt.idle_timeout = 200ms;
  RunningServer rs(opt, [](Server& s) { basicRoutes(s); });
  RawConnection c(rs.port());
  ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_NE(c.readResponses(1).find("BODY hi"), std::string::npos);
  EXPECT_TRUE(c.closedByPeer());
  EXPECT_TRUE(eventually([&] { return rs.server().connectionCount() == 0; }));
}

TEST(ServerComponent, ConnectionsOverTheLimitAreClosedAtOnce) {
  ServerOptions opt;
  opt.max_connections = 2;
  RunningServer rs(opt, [](Server& s) { basicRoutes(s); });
  RawConnection a(rs.port());
  RawConnection b(rs.port());
  for (RawConnection* c : {&a, &b}) {
    ASSERT_TRUE(c->send("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"));
    ASSERT_NE(c->readResponses(1).find("BODY hi"), std::string::npos);
  }
  RawConnection refused(rs.port());
  EXPECT_TRUE(refused.closedByPeer());
  EXPECT_EQ(rs.server().connectionsRefused(), 1u);
  a.close();
  ASSERT_TRUE(eventually([&] { return rs.server().connectionCount() < 2; }));
  RawConnection again(rs.port());
  ASSERT_TRUE(again.send("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_NE(again.readResponses(1).find("BODY hi"), std::string::npos);
}

TEST(ServerComponent, TlsServesVerifiedClients) {
  TestPki pki = makeTestPki();
  ServerOptions opt;
  opt.tls = serverContext(pki);
  RunningServer rs(opt, [](Server& s) { basicRoutes(s); });

  ClientOptions copt;
  copt.tls.ca_pem = pki.ca_pem;
  Client client(copt);
  ClientRequest req;
  req.url = rs.url("/tls", true);
  auto r = client.send(req);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->body, "tls");

  // By DNS name (SNI + name check) as well as by IP.
  ClientOptions by_name = copt;
  by_name.tls.server_name = "localhost";
  Client named(by_name);
  auto rn = named.send(req);
  ASSERT_TRUE(rn.has_value()) << rn.error().message;

  ClientOptions wrong_name = copt;
  wrong_name.tls.server_name = "other.example";
  Client wrong(wrong_name);
  auto rw = wrong.send(req);
  ASSERT_FALSE(rw.has_value());
  EXPECT_EQ(rw.error().code, Errc::Unauthenticated) << rw.error().message;

  TestPki stranger = makeTestPki();
  ClientOptions untrusted = copt;
  untrusted.tls.ca_pem = stranger.ca_pem;
  Client other(untrusted);
  auto ru = other.send(req);
  ASSERT_FALSE(ru.has_value());
  EXPECT_EQ(ru.error().code, Errc::Unauthenticated) << ru.error().message;
}

TEST(ServerComponent, PlainHttpOnTlsPortGetsPlain400) {
  TestPki pki = makeTestPki();
  ServerOptions opt;
  opt.tls = serverContext(pki);
  RunningServer rs(opt, [](Server& s) { basicRoutes(s); });
  RawConnection c(rs.port());
  ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string log = c.readResponses(1);
  EXPECT_EQ(log.rfind("RESP 400", 0), 0u) << log;
  EXPECT_NE(log.find("TLS"), std::string::npos) << log;
  EXPECT_TRUE(c.closedByPeer());
  // The port still speaks TLS to the next client.
  ClientOptions copt;
  copt.tls.ca_pem = pki.ca_pem;
  Client client(copt);
  ClientRequest req;
  req.url = rs.url("/hello", true);
  EXPECT_TRUE(client.send(req).has_value());
}

TEST(ServerComponent, TlsClientCertificateRequiredByTheContext) {
  TestPki pki = makeTestPki();
  ServerOptions opt;
  opt.tls = serverContext(pki, /*require_client_cert=*/true);
  RunningServer rs(opt, [](Server& s) { basicRoutes(s); });
  ClientRequest req;
  req.url = rs.url("/hello", true);

  ClientOptions with_cert;
  with_cert.tls.ca_pem = pki.ca_pem;
  with_cert.tls.cert_pem = pki.client_cert_pem;
  with_cert.tls.key_pem = pki.client_key_pem;
  Client good(with_cert);
  auto r = good.send(req);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->body, "hi");

  ClientOptions without = with_cert;
  without.tls.cert_pem.clear();
  without.tls.key_pem.clear();
  Client bad(without);
  EXPECT_FALSE(bad.send(req).has_value());
}

// Certificate rotation: new connections get the new context; an open
// keep-alive connection made with the old one keeps working.
TEST(ServerComponent, TlsContextRotationKeepsOpenConnections) {
  TestPki old_pki = makeTestPki();
  TestPki new_pki = makeTestPki();
  ServerOptions opt;
  opt.tls = serverContext(old_pki);
  RunningServer rs(opt, [](Server& s) { basicRoutes(s); });
  ClientRequest req;
  req.url = rs.url("/hello", true);

  ClientOptions trusts_old;
  trusts_old.tls.ca_pem = old_pki.ca_pem;
  Client old_client(trusts_old);
  ASSERT_TRUE(old_client.send(req).has_value());  // leaves a kept-alive connection

  rs.server().setTlsContext(serverContext(new_pki));

  // Only the old connection can still satisfy a client that trusts the old
  // CA alone, so this succeeding shows it was neither cut nor renegotiated.
  auto on_old = old_client.send(req);
  ASSERT_TRUE(on_old.has_value()) << on_old.error().message;
  EXPECT_EQ(on_old->body, "hi");

  Client fresh_old(trusts_old);
  auto refused = fresh_old.send(req);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, Errc::Unauthenticated);

  ClientOptions trusts_new;
  trusts_new.tls.ca_pem = new_pki.ca_pem;
  Client new_client(trusts_new);
  auto on_new = new_client.send(req);
  ASSERT_TRUE(on_new.has_value()) << on_new.error().message;
}

TEST(ServerComponent, AThousandConcurrentConnections) {
  constexpr int kConnections = 1000;
  ServerOptions opt;
  opt.max_connections = 2 * kConnections;
  RunningServer rs(opt, [](Server& s) { basicRoutes(s); });

  asio::io_context io;
  struct Conn {
    explicit Conn(asio::io_context& ctx) : socket(ctx) {}
    asio::ip::tcp::socket socket;
    std::array<char, 512> buf{};
    std::string got;
    bool done = false;
  };
  std::vector<std::unique_ptr<Conn>> conns;
  asio::ip::tcp::endpoint server_ep(asio::ip::make_address("127.0.0.1"), rs.port());
  int connected = 0;
  int answered = 0;
  static const std::string kRequest = "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
  std::function<void(Conn&)> readMore = [&](Conn& c) {
    c.socket.async_read_some(asio::buffer(c.buf), [&, cp = &c](std::error_code ec, std::size_t n) {
      cp->got.append(cp->buf.data(), n);
      if (cp->got.find("\r\n\r\nhi") != std::string::npos) {
        cp->done = true;
        ++answered;
        return;
      }
      if (!ec) readMore(*cp);
    });
  };
  for (int i = 0; i < kConnections; ++i) {
    conns.push_back(std::make_unique<Conn>(io));
    conns.back()->socket.async_connect(server_ep, [&](std::error_code ec) {
      ASSERT_FALSE(ec) << ec.message();
      if (++connected < kConnections) return;
      // Every connection is open at once; only now does any send a request.
      for (auto& c : conns) {
        asio::async_write(c->socket, asio::buffer(kRequest), [](std::error_code, std::size_t) {});
        readMore(*c);
      }
    });
  }
  io.run_for(std::chrono::seconds(60));
  EXPECT_EQ(connected, kConnections);
  EXPECT_EQ(answered, kConnections);
  EXPECT_GE(rs.server().peakConnections(), static_cast<std::size_t>(kConnections));
  EXPECT_EQ(rs.server().requestsServed(), static_cast<std::uint64_t>(kConnections));
}

TEST(ServerComponent, StopClosesOpenConnections) {
  RunningServer rs({}, [](Server& s) { basicRoutes(s); });
  RawConnection c(rs.port());
  ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_NE(c.readResponses(1).find("BODY hi"), std::string::npos);
  rs.onLoop([&] { rs.server().stop(); });
  EXPECT_TRUE(c.closedByPeer());
}

}  // namespace
}  // namespace remora::http::testing
