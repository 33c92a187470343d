// ApiClient over real HTTPS on 127.0.0.1 against a fake API server built on
// http::Server: paging with continue tokens (10,000 pods), bearer tokens,
// client certificates, CA verification, Status errors, 410 on continue and
// on watch, timeouts, and watch events.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <gtest/gtest.h>

#include "kube/api_client.h"
#include "tests/http/component_support.h"
#include "tests/http/test_pki.h"

namespace remora::kube {
namespace {

using http::Request;
using http::Response;
using http::Server;
using http::ServerOptions;
using http::testing::RunningServer;
using http::testing::TestPki;
using namespace std::chrono_literals;

std::string percentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> parseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    out[std::string(pair.substr(0, eq))] =
        eq == std::string_view::npos ? "" : percentDecode(pair.substr(eq + 1));
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  return out;
}

Response status(int code, std::string_view reason, std::string_view message) {
  Json body = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
               {"status", "Failure"}, {"message", message}, {"reason", reason},
               {"code", code}};
  return Response::json(code, dumpJson(body));
}

std::string event(std::string_view type, std::string_view name, int rv) {
  Json e = {{"type", type},
            {"object",
             {{"kind", "Pod"},
              {"apiVersion", "v1"},
              {"metadata", {{"name", name}, {"resourceVersion", std::to_string(rv)}}}}}};
  return dumpJson(e) + "\n";
}

// The fake API server. Handlers run on the server's loop thread; the state
// they share with the test is guarded by mutex_.
class FakeApiServer {
 public:
  struct Options {
    bool require_client_cert = false;
    std::string token = "good-token";  // "" : no token check
    int pods = 1234;
  };

  FakeApiServer(const TestPki& pki, Options options) : options_(std::move(options)) {
    ServerOptions server_options;
    server_options.tls = http::testing::serverContext(pki, options_.require_client_cert);
    server_ = std::make_unique<RunningServer>(server_options, [this](Server& s) {
      s.routePrefix("", "/", [this](const Request& r) { return handle(r); });
    });
  }

  std::string server() const { return "https://127.0.0.1:" + std::to_string(server_->port()); }

  int pagesServed() {
    std::lock_guard lock(mutex_);
    return pages_served_;
  }
  std::map<std::string, std::string> lastQuery() {
    std::lock_guard lock(mutex_);
    return last_query_;
  }
  std::string lastContentType() {
    std::lock_guard lock(mutex_);
    return last_content_type_;
  }
  // The next `n` requests with a continue token get 410 Gone.
  void expireContinueTokens(int n) {
    std::lock_guard lock(mutex_);
    expire_continue_ = n;
  }

 private:
  Response handle(const Request& r) {
    std::lock_guard lock(mutex_);
    last_query_ = parseQuery(r.query());
    if (!options_.token.empty()) {
      auto auth = r.head.headers.get("authorization");
      if (!auth || *auth != "Bearer " + options_.token)
        return status(401, "Unauthorized", "Unauthorized");
    }
    std::string_view path = r.path();
    if (path == "/api/v1/pods") {
      return last_query_.count("watch") != 0 ? watch() : listPods();
    }
    if (path == "/api/v1/secrets") {
      return status(403, "Forbidden",
                    "secrets is forbidden: User \"system:serviceaccount:default:remora\" cannot "
                    "list resource \"secrets\" in API group \"\" at the cluster scope");
    }
    if (path == "/api/v1/namespaces/default/pods/web") {
      Json pod = {{"kind", "Pod"},
                  {"apiVersion", "v1"},
                  {"metadata", {{"name", "web"}, {"namespace", "default"}}}};
      if (r.method() == "PATCH") {
        last_content_type_ = std::string(r.head.headers.get("content-type").value_or(""));
        auto patch = parseJson(r.body);
        if (!patch) return status(400, "BadRequest", "bad patch");
        if (patch->is_object()) pod.merge_patch(*patch);
      }
      return Response::json(200, dumpJson(pod));
    }
    if (path == "/api/v1/namespaces/default/pods/invalid") {
      return status(422, "Invalid", "Pod \"invalid\" is invalid: spec.containers: Required value");
    }
    if (path == "/api/v1/namespaces/default/configmaps/busy") {
      return status(409, "Conflict", "Operation cannot be fulfilled on configmaps \"busy\"");
    }
    if (path == "/api/v1/nodes") return status(503, "ServiceUnavailable", "etcd is down");
    return status(404, "NotFound", "the server could not find the requested resource");
  }

  Response listPods() {
    int limit = options_.pods;
    if (auto it = last_query_.find("limit"); it != last_query_.end()) limit = std::stoi(it->second);
    int offset = 0;
    if (auto it = last_query_.find("continue"); it != last_query_.end()) {
      if (expire_continue_ > 0) {
        --expire_continue_;
        return status(410, "Expired",
                      "The provided continue parameter is too old to display a consistent list "
                      "result.");
      }
      offset = std::stoi(it->second.substr(1));
    }
    ++pages_served_;
    Json items = Json::array();
    int end = std::min(options_.pods, offset + limit);
    for (int i = offset; i < end; ++i) {
      items.push_back({{"metadata",
                        {{"name", "pod-" + std::to_string(i)},
                         {"namespace", "default"},
                         {"labels", {{"app", "web"}}}}},
                       {"spec", {{"containers", {{{"name", "app"}, {"image", "nginx:1.25"}}}}}}});
    }
    Json metadata = {{"resourceVersion", "1000"}};
    if (end < options_.pods) metadata["continue"] = "c" + std::to_string(end);
    Json list = {{"kind", "PodList"},
                 {"apiVersion", "v1"},
                 {"metadata", std::move(metadata)},
                 {"items", std::move(items)}};
    return Response::json(200, dumpJson(list));
  }

  Response watch() {
    const std::string rv =
        last_query_.count("resourceVersion") ? last_query_["resourceVersion"] : "";
    if (rv == "1") return status(410, "Expired", "too old resource version: 1 (1000)");
    if (rv == "2") {
      Json error = {{"type", "ERROR"},
                    {"object",
                     {{"kind", "Status"},
                      {"status", "Failure"},
                      {"message", "too old resource version: 2 (1000)"},
                      {"reason", "Expired"},
                      {"code", 410}}}};
      return Response::json(200, event("ADDED", "before-error", 3) + dumpJson(error) + "\n");
    }
    if (rv == "3") return Response::json(200, event("ADDED", "half", 4).substr(0, 20));
    return Response::json(200, event("ADDED", "web", 1001) + event("MODIFIED", "web", 1002) +
                                   event("DELETED", "web", 1003) + event("ADDED", "db", 1004));
  }

  Options options_;
  std::unique_ptr<RunningServer> server_;
  std::mutex mutex_;  // guards everything below (loop thread vs test thread)
  int pages_served_ = 0;
  int expire_continue_ = 0;
  std::map<std::string, std::string> last_query_;
  std::string last_content_type_;
};

// One TLS connection on 127.0.0.1 that answers a watch as the API server
// does: a chunked body, one event per chunk, and the stream left open until
// the client closes it (so a watch can only end early by the callback).
class StreamingWatchServer {
 public:
  StreamingWatchServer(const TestPki& pki, std::vector<std::string> events)
      : context_(http::testing::serverContext(pki)),
        acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this, events = std::move(events)] {
      std::error_code ec;
      asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      timeval tv{.tv_sec = 10, .tv_usec = 0};  // a client that never closes fails the test
      ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      asio::ssl::stream<asio::ip::tcp::socket&> tls(socket, *context_);
      tls.handshake(asio::ssl::stream_base::server, ec);
      if (ec) return;
      std::string head;
      char buf[1024];
      while (head.find("\r\n\r\n") == std::string::npos) {
        std::size_t n = tls.read_some(asio::buffer(buf), ec);
        if (ec) return;
        head.append(buf, n);
      }
      auto write = [&](const std::string& bytes) { asio::write(tls, asio::buffer(bytes), ec); };
      write(
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
          "Transfer-Encoding: chunked\r\n\r\n");
      for (const auto& e : events) write(fmt::format("{:x}\r\n{}\r\n", e.size(), e));
      tls.read_some(asio::buffer(buf), ec);  // until the client goes away
      client_closed_ = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
                       ec == asio::error::connection_reset;
    });
  }
  ~StreamingWatchServer() {
    std::error_code ec;
    acceptor_.close(ec);
    thread_.join();
  }
  std::string server() const {
    return "https://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  bool clientClosed() const { return client_closed_.load(); }

 private:
  std::shared_ptr<asio::ssl::context> context_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> client_closed_{false};
  std::thread thread_;
};

class ApiClientComponent : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new TestPki(http::testing::makeTestPki()); }
  static void TearDownTestSuite() { delete pki_; }

  KubeConfig configFor(const FakeApiServer& server, std::string token = "good-token") {
    KubeConfig config;
    config.server = server.server();
    config.ca_pem = pki_->ca_pem;
    config.token = std::move(token);
    return config;
  }

  static TestPki* pki_;
};
TestPki* ApiClientComponent::pki_ = nullptr;

TEST_F(ApiClientComponent, ListFollowsContinueTokensAcrossPages) {
  FakeApiServer server(*pki_, {.pods = 1234});
  ApiClient api(configFor(server));
  auto page =
      api.listAll("/api/v1/pods", {.label_selector = "app in (web,db),tier!=x", .limit = 500});
  ASSERT_TRUE(page.has_value()) << page.error().message;
  ASSERT_EQ(page->items.size(), 1234u);
  EXPECT_EQ(server.pagesServed(), 3);
  EXPECT_EQ(page->resource_version, "1000");
  EXPECT_EQ(page->kind, "PodList");
  for (std::size_t i = 0; i < page->items.size(); ++i) {
    ASSERT_EQ(page->items[i]["metadata"]["name"], "pod-" + std::to_string(i));
  }
  EXPECT_EQ(page->items[0]["kind"], "Pod");
  EXPECT_EQ(page->items[0]["apiVersion"], "v1");
  auto query = server.lastQuery();
  EXPECT_EQ(query["labelSelector"], "app in (web,db),tier!=x");  // encoded, decoded intact
  EXPECT_EQ(query["limit"], "500");
  EXPECT_EQ(query["continue"], "c1000");
}

TEST_F(ApiClientComponent, TenThousandPodsInPagesOf500) {
  FakeApiServer server(*pki_, {.pods = 10'000});
  ApiClient api(configFor(server));
  auto start = std::chrono::steady_clock::now();
  auto pods = api.list("/api/v1/pods");
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(pods.has_value()) << pods.error().message;
  ASSERT_EQ(pods->size(), 10'000u);
  EXPECT_EQ(server.pagesServed(), 20);
  EXPECT_EQ((*pods)[9'999]["metadata"]["name"], "pod-9999");
  std::printf("10,000 pods listed in %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
}

TEST_F(ApiClientComponent, MaxListItemsBoundsTheWholeList) {
  FakeApiServer server(*pki_, {.pods = 1000});
  ApiClientOptions options;
  options.max_list_items = 600;
  ApiClient api(configFor(server), options);
  auto pods = api.list("/api/v1/pods");
  ASSERT_FALSE(pods.has_value());
  EXPECT_EQ(pods.error().code, Errc::PayloadTooLarge);
}

TEST_F(ApiClientComponent, ExpiredContinueTokenRestartsTheListOnce) {
  FakeApiServer server(*pki_, {.pods = 1200});
  ApiClient api(configFor(server));
  server.expireContinueTokens(1);
  auto pods = api.list("/api/v1/pods");
  ASSERT_TRUE(pods.has_value()) << pods.error().message;
  EXPECT_EQ(pods->size(), 1200u);
  EXPECT_EQ(server.pagesServed(), 1 + 3);  // first page, then a whole new list

  server.expireContinueTokens(2);
  auto again = api.list("/api/v1/pods");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Errc::Gone);
  EXPECT_NE(again.error().message.find("410 Gone: The provided continue parameter is too old"),
            std::string::npos)
      << again.error().message;
}

TEST_F(ApiClientComponent, WrongOrMissingTokenIs401) {
  FakeApiServer server(*pki_, {});
  for (std::string token : {"bad-token", ""}) {
    ApiClient api(configFor(server, token));
    auto r = api.get("/api/v1/namespaces/default/pods/web");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::Unauthenticated);
    EXPECT_EQ(r.error().message,
              "GET /api/v1/namespaces/default/pods/web: 401 Unauthorized: Unauthorized");
  }
  ApiClient good(configFor(server));
  auto r = good.get("/api/v1/namespaces/default/pods/web");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ((*r)["metadata"]["name"], "web");
}

TEST_F(ApiClientComponent, StatusErrorsSurfaceTheApisMessage) {
  FakeApiServer server(*pki_, {});
  ApiClient api(configFor(server));
  auto forbidden = api.list("/api/v1/secrets");
  ASSERT_FALSE(forbidden.has_value());
  EXPECT_EQ(forbidden.error().code, Errc::PermissionDenied);
  EXPECT_EQ(forbidden.error().message,
            "GET /api/v1/secrets: 403 Forbidden: secrets is forbidden: User "
            "\"system:serviceaccount:default:remora\" cannot list resource \"secrets\" in API "
            "group \"\" at the cluster scope");

  auto missing = api.get("/api/v1/namespaces/default/pods/missing");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Errc::NotFound);
  EXPECT_NE(missing.error().message.find("404 Not Found"), std::string::npos);

  auto invalid =
      api.patch("/api/v1/namespaces/default/pods/invalid", Json::object(), PatchType::Merge);
  ASSERT_FALSE(invalid.has_value());
  EXPECT_EQ(invalid.error().code, Errc::InvalidArgument);
  EXPECT_NE(invalid.error().message.find("422 Unprocessable Entity: Pod \"invalid\" is invalid"),
            std::string::npos);

  auto conflict = api.get("/api/v1/namespaces/default/configmaps/busy");
  ASSERT_FALSE(conflict.has_value());
  EXPECT_EQ(conflict.error().code, Errc::AlreadyExists);

  auto down = api.list("/api/v1/nodes");
  ASSERT_FALSE(down.has_value());
  EXPECT_EQ(down.error().code, Errc::Unavailable);
  EXPECT_NE(down.error().message.find("503 Service Unavailable: etcd is down"), std::string::npos);
}

TEST_F(ApiClientComponent, PatchSendsTheContentTypeOfItsKind) {
  FakeApiServer server(*pki_, {});
  ApiClient api(configFor(server));
  Json labels = {{"metadata", {{"labels", {{"sidecar.istio.io/inject", "true"}}}}}};
  auto merged = api.patch("/api/v1/namespaces/default/pods/web", labels, PatchType::Merge);
  ASSERT_TRUE(merged.has_value()) << merged.error().message;
  EXPECT_EQ((*merged)["metadata"]["labels"]["sidecar.istio.io/inject"], "true");
  EXPECT_EQ(server.lastContentType(), "application/merge-patch+json");

  ASSERT_TRUE(api.patch("/api/v1/namespaces/default/pods/web", labels, PatchType::StrategicMerge)
                  .has_value());
  EXPECT_EQ(server.lastContentType(), "application/strategic-merge-patch+json");

  Json ops = Json::array({{{"op", "add"}, {"path", "/metadata/labels/a"}, {"value", "b"}}});
  ASSERT_TRUE(api.patch("/api/v1/namespaces/default/pods/web", ops, PatchType::Json).has_value());
  EXPECT_EQ(server.lastContentType(), "application/json-patch+json");
  auto not_array = api.patch("/api/v1/namespaces/default/pods/web", labels, PatchType::Json);
  ASSERT_FALSE(not_array.has_value());
  EXPECT_EQ(not_array.error().code, Errc::InvalidArgument);
}

TEST_F(ApiClientComponent, ClientCertificateAuthentication) {
  FakeApiServer server(*pki_, {.require_client_cert = true, .token = ""});
  KubeConfig config = configFor(server, "");
  config.cert_pem = pki_->client_cert_pem;
  config.key_pem = pki_->client_key_pem;
  ApiClient api(config);
  auto r = api.get("/api/v1/namespaces/default/pods/web");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ((*r)["metadata"]["name"], "web");

  ApiClientOptions quick;
  quick.connect_timeout = 2s;
  quick.request_timeout = 2s;
  ApiClient without(configFor(server, ""), quick);
  auto refused = without.get("/api/v1/namespaces/default/pods/web");
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().code, Errc::Timeout) << refused.error().message;
}

TEST_F(ApiClientComponent, ServerCertificateFromAnotherCaIsRefused) {
  FakeApiServer server(*pki_, {});
  TestPki other = http::testing::makeTestPki();
  KubeConfig config = configFor(server);
  config.ca_pem = other.ca_pem;
  ApiClient api(config);
  auto r = api.get("/api/v1/namespaces/default/pods/web");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::Unauthenticated) << r.error().message;
  EXPECT_EQ(server.pagesServed(), 0);
}

TEST_F(ApiClientComponent, ServerThatNeverAnswersTimesOut) {
  // Listening, never accepting: TCP connects (the kernel's backlog), the TLS
  // handshake never gets an answer.
  asio::io_context io;
  asio::ip::tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});
  KubeConfig config;
  config.server = "https://127.0.0.1:" + std::to_string(silent.local_endpoint().port());
  config.ca_pem = pki_->ca_pem;
  ApiClientOptions options;
  options.connect_timeout = 300ms;
  options.request_timeout = 300ms;
  ApiClient api(config, options);
  auto start = std::chrono::steady_clock::now();
  auto r = api.get("/version");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::Timeout) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  Status w = api.watch("/api/v1/pods", "", [](std::string_view, const Json&) { return true; });
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.error().code, Errc::Timeout) << w.error().message;
}

TEST_F(ApiClientComponent, WatchDeliversEventsUntilTheCallbackStops) {
  FakeApiServer server(*pki_, {});
  ApiClient api(configFor(server));
  std::vector<std::string> seen;
  Status s = api.watch("/api/v1/pods", "1000",
                       [&](std::string_view type, const Json& object) {
                         seen.push_back(std::string(type) + " " +
                                        object["metadata"]["name"].get<std::string>() + "@" +
                                        object["metadata"]["resourceVersion"].get<std::string>());
                         return type != "DELETED";
                       },
                       {.label_selector = "app=web"});
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(seen,
            (std::vector<std::string>{"ADDED web@1001", "MODIFIED web@1002", "DELETED web@1003"}));
  auto query = server.lastQuery();
  EXPECT_EQ(query["watch"], "true");
  EXPECT_EQ(query["resourceVersion"], "1000");
  EXPECT_EQ(query["labelSelector"], "app=web");
  EXPECT_EQ(query["timeoutSeconds"], "300");

  // The server ending the stream is a normal end: all four events, ok.
  seen.clear();
  s = api.watch("/api/v1/pods", "", [&](std::string_view type, const Json&) {
    seen.emplace_back(type);
    return true;
  });
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(seen.size(), 4u);
}

TEST_F(ApiClientComponent, WatchOnAnOpenStreamEndsWhenTheCallbackSaysSo) {
  // The events split across chunks at odd places: the second event's bytes
  // come in two chunks.
  std::string second = event("MODIFIED", "web", 11);
  StreamingWatchServer server(
      *pki_, {event("ADDED", "web", 10), second.substr(0, 17), second.substr(17),
              R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"12"}}})"
              "\n",
              event("DELETED", "web", 13)});
  KubeConfig config;
  config.server = server.server();
  config.ca_pem = pki_->ca_pem;
  ApiClient api(config);
  std::vector<std::string> seen;
  auto start = std::chrono::steady_clock::now();
  Status s = api.watch("/api/v1/pods", "9", [&](std::string_view type, const Json& object) {
    seen.push_back(std::string(type) + "@" +
                   object["metadata"]["resourceVersion"].get<std::string>());
    return type != "DELETED";
  });
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(seen,
            (std::vector<std::string>{"ADDED@10", "MODIFIED@11", "BOOKMARK@12", "DELETED@13"}));
  EXPECT_TRUE(http::testing::eventually([&] { return server.clientClosed(); }));
}

TEST_F(ApiClientComponent, WatchFromATooOldVersionIsGone) {
  FakeApiServer server(*pki_, {});
  ApiClient api(configFor(server));
  int events = 0;
  auto count = [&](std::string_view, const Json&) {
    ++events;
    return true;
  };
  // As an HTTP 410 answer.
  Status s = api.watch("/api/v1/pods", "1", count);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, Errc::Gone);
  EXPECT_EQ(s.error().message, "WATCH /api/v1/pods: 410 Gone: too old resource version: 1 (1000)");
  EXPECT_EQ(events, 0);
  // As an ERROR event in the stream, after an event that was delivered.
  s = api.watch("/api/v1/pods", "2", count);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, Errc::Gone);
  EXPECT_EQ(s.error().message, "WATCH /api/v1/pods: 410 Gone: too old resource version: 2 (1000)");
  EXPECT_EQ(events, 1);
  // A stream cut in the middle of an event.
  s = api.watch("/api/v1/pods", "3", count);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, Errc::BadGateway);
  // An HTTP error on a watch carries the Status too.
  KubeConfig bad = configFor(server, "nope");
  ApiClient unauthenticated(bad);
  s = unauthenticated.watch("/api/v1/pods", "", count);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, Errc::Unauthenticated);
}

TEST_F(ApiClientComponent, ServerWithATrailingSlashAndRelativePaths) {
  FakeApiServer server(*pki_, {});
  KubeConfig config = configFor(server, "good-token");
  config.server += "/";  // a stray slash must not double
  ApiClient api(config);
  EXPECT_TRUE(api.get("/api/v1/namespaces/default/pods/web").has_value());
  EXPECT_TRUE(api.get("api/v1/namespaces/default/pods/web").has_value());
}

}  // namespace
}  // namespace remora::kube
