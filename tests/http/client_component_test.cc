// Client over real sockets on 127.0.0.1: against our Server, and against
// scripted raw servers for what our Server never does (chunked and streamed
// bodies, read-until-close, silence, malformed responses).
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/client.h"
#include "tests/http/component_support.h"

namespace remora::http::testing {
namespace {

using namespace std::chrono_literals;

// Accepts one connection on 127.0.0.1 (port 0) and runs `script` on it in a
// thread of its own.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(asio::ip::tcp::socket&)> script)
      : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, script = std::move(script)] {
      std::error_code ec;
      asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (!ec) script(socket);
      socket.close(ec);
    });
  }
  ~ScriptedServer() {
    std::error_code ec;
    acceptor_.close(ec);
    thread_.join();
  }
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// Reads a request head (up to the blank line).
std::string readHead(asio::ip::tcp::socket& s) {
  std::string got;
  char c;
  std::error_code ec;
  while (got.find("\r\n\r\n") == std::string::npos) {
    if (asio::read(s, asio::buffer(&c, 1), ec) != 1) break;
    got.push_back(c);
  }
  return got;
}

void write(asio::ip::tcp::socket& s, std::string_view bytes) {
  std::error_code ec;
  asio::write(s, asio::buffer(bytes.data(), bytes.size()), ec);
}

TEST(UrlTest, ParsesWhatTheControlPlaneUses) {
  auto u = Url::parse("https://10.96.0.1/api/v1/pods?watch=1#frag");
  ASSERT_TRUE(u.has_value());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "10.96.0.1");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/api/v1/pods?watch=1");
  EXPECT_EQ(u->authority(), "10.96.0.1");
  u = Url::parse("http://[::1]:15000");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->target, "/");
  EXPECT_EQ(u->authority(), "[::1]:15000");
  u = Url::parse("http://istiod.istio-system.svc:15012?x");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->target, "/?x");
  for (const char* bad :
       {"ftp://a/", "http://", "http://a:0/", "http://a:65536/", "http://u@a/", "http://a b/",
        "http://a/\r\nX: y", "http://[::1/", "a/b", "http://a:8x/"}) {
    EXPECT_FALSE(Url::parse(bad).has_value()) << bad;
  }
}

TEST(ClientComponent, KeepsTheConnectionAliveAndSendsTheBearerToken) {
  RunningServer rs({}, [](Server& s) {
    s.route("GET", "/who", [](const Request& r) {
      return Response::text(
          200, r.peer + "|" + std::string(r.head.headers.get("authorization").value_or("")));
    });
  });
  Client client;
  ClientRequest req;
  req.url = rs.url("/who");
  req.bearer_token = "tok.en";
  auto a = client.send(req);
  auto b = client.send(req);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->body, b->body);  // same peer address and port: one connection
  EXPECT_NE(a->body.find("|Bearer tok.en"), std::string::npos) << a->body;
  EXPECT_EQ(rs.server().peakConnections(), 1u);
}

TEST(ClientComponent, RetriesOnceWhenTheKeptConnectionWasClosedWhileIdle) {
  ServerOptions opt;
  opt.idle_timeout = 100ms;
  RunningServer rs(opt, [](Server& s) {
    s.route("POST", "/n", [](const Request& r) { return Response::text(200, r.body); });
  });
  Client client;
  ClientRequest req;
  req.method = "POST";
  req.url = rs.url("/n");
  req.body = "1";
  ASSERT_TRUE(client.send(req).has_value());
  ASSERT_TRUE(eventually([&] { return rs.server().connectionCount() == 0; }));
  req.body = "2";
  auto r = client.send(req);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->body, "2");
  EXPECT_EQ(rs.server().requestsServed(), 2u);
}

TEST(ClientComponent, ChunkedResponseIsStreamedAsItArrives) {
  // The server sends the next chunk only after the client has delivered the
  // previous one to its callback: the body is streamed, not buffered.
  std::mutex m;
  std::condition_variable cv;
  int delivered = 0;
  ScriptedServer server([&](asio::ip::tcp::socket& s) {
    readHead(s);
    write(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 1; i <= 3; ++i) {
      write(s, "7\r\nevent-" + std::to_string(i) + "\r\n");
      std::unique_lock lock(m);
      cv.wait_for(lock, 10s, [&] { return delivered >= i; });
    }
    write(s, "0\r\n\r\n");
  });
  Client client;
  ClientRequest req;
  req.url = server.url("/watch");
  int status = 0;
  std::string body;
  auto s = client.stream(
      req,
      [&](const ResponseHead& h) {
        status = h.status;
        return true;
      },
      [&](std::string_view data) {
        body.append(data);
        std::lock_guard lock(m);
        delivered = static_cast<int>(body.size() / 7);
        cv.notify_all();
        return true;
      });
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body, "event-1event-2event-3");
}

TEST(ClientComponent, StreamStopsWhenTheCallbackSaysSo) {
  std::atomic<bool> saw_close{false};
  ScriptedServer server([&](asio::ip::tcp::socket& s) {
    readHead(s);
    write(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
    char c;
    std::error_code ec;
    asio::read(s, asio::buffer(&c, 1), ec);  // blocks until the client closes
    saw_close = ec == asio::error::eof || ec == asio::error::connection_reset;
  });
  Client client;
  ClientRequest req;
  req.url = server.url("/watch");
  std::string body;
  auto s = client.stream(
      req, [](const ResponseHead&) { return true; },
      [&](std::string_view data) {
        body.append(data);
        return false;
      });
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(body, "first");
  client.closeIdle();
  EXPECT_TRUE(eventually([&] { return saw_close.load(); }));
}

TEST(ClientComponent, ReadUntilCloseBody) {
  ScriptedServer server([](asio::ip::tcp::socket& s) {
    readHead(s);
    write(s, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it");
  });
  Client client;
  ClientRequest req;
  req.url = server.url("/");
  auto r = client.send(req);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->body, "all of it");
}

TEST(ClientComponent, SilentServerTimesOut) {
  std::atomic<bool> release{false};
  ScriptedServer server([&](asio::ip::tcp::socket& s) {
    readHead(s);
    eventually([&] { return release.load(); });
  });
  ClientOptions opt;
  opt.read_timeout = 200ms;
  Client client(opt);
  ClientRequest req;
  req.url = server.url("/");
  auto r = client.send(req);
  release = true;
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::Timeout) << r.error().message;
}

TEST(ClientComponent, MalformedAndOversizedResponsesAreBadGateway) {
  {
    ScriptedServer server([](asio::ip::tcp::socket& s) {
      readHead(s);
      write(s, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy");
    });
    Client client;
    ClientRequest req;
    req.url = server.url("/");
    auto r = client.send(req);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::BadGateway) << r.error().message;
  }
  {
    ScriptedServer server([](asio::ip::tcp::socket& s) {
      readHead(s);
      write(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
    });
    ClientOptions opt;
    opt.max_response_bytes = 10;
    Client client(opt);
    ClientRequest req;
    req.url = server.url("/");
    auto r = client.send(req);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::BadGateway) << r.error().message;
  }
  {
    ScriptedServer server([](asio::ip::tcp::socket& s) {
      readHead(s);
      write(s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
    });
    Client client;
    ClientRequest req;
    req.url = server.url("/");
    auto r = client.send(req);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::BadGateway) << r.error().message;
  }
}

TEST(ClientComponent, RefusedConnectionIsUnavailable) {
  std::uint16_t port;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  Client client;
  ClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  auto r = client.send(req);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::Unavailable) << r.error().message;
}

TEST(ClientComponent, CallerInputCannotSplitTheRequest) {
  Client client;
  ClientRequest req;
  req.url = "http://127.0.0.1:1/";
  req.headers.add("X-Bad", "a\r\nInjected: 1");
  auto r = client.send(req);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  req.headers.clear();
  req.bearer_token = "tok\r\nX: y";
  r = client.send(req);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  req.bearer_token.clear();
  req.method = "GET /x HTTP/1.1\r\n";
  r = client.send(req);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
}

}  // namespace
}  // namespace remora::http::testing
