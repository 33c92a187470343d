#include "proxy/admin/app_probers.h"

#include <gtest/gtest.h>

#include "core/json.h"
#include "inject/probes.h"

namespace remora::proxy::admin {
namespace {

TEST(AppProbers, ParsesWhatInjectWrites) {
  // The prober map exactly as src/inject/probes.cc builds it from a pod.
  Json spec =
      parseJson(R"({"containers":[{"name":"web","ports":[{"name":"http","containerPort":8080}],
      "livenessProbe":{"httpGet":{"path":"/healthz","port":"http","scheme":"HTTPS",
                        "httpHeaders":[{"name":"X-Probe","value":"1"}]},"timeoutSeconds":3},
      "readinessProbe":{"tcpSocket":{"port":8080}},
      "startupProbe":{"grpc":{"port":9090,"service":"svc"}},
      "lifecycle":{"preStop":{"httpGet":{"path":"/stop","port":8080}}}}]})")
          .value();
  const Json probers = inject::rewriteProbes(spec, 15020);
  auto parsed = parseAppProbers(dumpJson(probers));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 4u);

  const AppProbe& live = parsed->at("/app-health/web/livez");
  const auto& http = std::get<HttpGetProbe>(live.handler);
  EXPECT_TRUE(http.https);
  EXPECT_EQ(http.port, 8080);
  EXPECT_EQ(http.path, "/healthz");
  ASSERT_EQ(http.headers.size(), 1u);
  EXPECT_EQ(http.headers[0].first, "X-Probe");
  EXPECT_EQ(live.timeout, std::chrono::seconds(3));

  const AppProbe& ready = parsed->at("/app-health/web/readyz");
  EXPECT_EQ(std::get<TcpSocketProbe>(ready.handler).port, 8080);
  EXPECT_EQ(ready.timeout, std::chrono::seconds(1));  // the kubelet's default
  EXPECT_EQ(std::get<GrpcProbe>(parsed->at("/app-health/web/startupz").handler).service, "svc");
  EXPECT_EQ(std::get<HttpGetProbe>(parsed->at("/app-lifecycle/web/prestopz").handler).path,
            "/stop");
}

TEST(AppProbers, EmptyIsNoProbes) {
  auto parsed = parseAppProbers("");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(parsed->empty());
  EXPECT_TRUE(parseAppProbers("{}").has_value());
}

TEST(AppProbers, RelativePathGetsASlash) {
  auto parsed =
      parseAppProbers(R"({"/app-health/a/livez":{"httpGet":{"path":"healthz","port":80}}})");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(std::get<HttpGetProbe>(parsed->begin()->second.handler).path, "/healthz");
}

TEST(AppProbers, HostileInputsAreClearErrors) {
  struct Case {
    const char* name;
    std::string json;
    const char* says;  // part of the error message
  };
  const std::vector<Case> cases = {
      {"not json", "{", "ISTIO_KUBE_APP_PROBERS"},
      {"array", "[]", "must be a JSON object"},
      {"string", R"("x")", "must be a JSON object"},
      {"bad key", R"({"/healthz":{"tcpSocket":{"port":1}}})", "/healthz: not /app-health"},
      {"key traversal", R"({"/app-health/../livez":{"tcpSocket":{"port":1}}})", "not /app-health"},
      {"key bad suffix", R"({"/app-health/web/alive":{"tcpSocket":{"port":1}}})",
       "not /app-health"},
      {"key uppercase container", R"({"/app-health/Web/livez":{"tcpSocket":{"port":1}}})",
       "not /app-health"},
      {"value not object", R"({"/app-health/a/livez":3})", "must be an object"},
      {"no handler", R"({"/app-health/a/livez":{"timeoutSeconds":1}})", "exactly one"},
      {"two handlers", R"({"/app-health/a/livez":{"tcpSocket":{"port":1},"httpGet":{"port":2}}})",
       "exactly one"},
      {"named port", R"({"/app-health/a/livez":{"httpGet":{"port":"http"}}})", "httpGet.port"},
      {"port zero", R"({"/app-health/a/livez":{"tcpSocket":{"port":0}}})", "tcpSocket.port"},
      {"port too big", R"({"/app-health/a/livez":{"tcpSocket":{"port":70000}}})", "tcpSocket.port"},
      {"port float", R"({"/app-health/a/livez":{"tcpSocket":{"port":80.5}}})", "tcpSocket.port"},
      {"port missing", R"({"/app-health/a/livez":{"httpGet":{"path":"/"}}})",
       "httpGet.port: missing"},
      {"path with space", R"({"/app-health/a/livez":{"httpGet":{"port":80,"path":"/a b"}}})",
       "httpGet.path"},
      {"path with CRLF", R"({"/app-health/a/livez":{"httpGet":{"port":80,"path":"/a\r\nX: y"}}})",
       "httpGet.path"},
      {"scheme ftp", R"({"/app-health/a/livez":{"httpGet":{"port":80,"scheme":"FTP"}}})",
       "httpGet.scheme"},
      {"header name not token",
       R"({"/app-health/a/livez":{"httpGet":{"port":80,"httpHeaders":[{"name":"X Y","value":"1"}]}}})",
       "not a token"},
      {"header value CRLF",
       R"({"/app-health/a/livez":{"httpGet":{"port":80,"httpHeaders":[{"name":"X","value":"1\r\nEvil: 1"}]}}})",
       "control character"},
      {"headers not array",
       R"({"/app-health/a/livez":{"httpGet":{"port":80,"httpHeaders":{"X":"1"}}}})",
       "must be an array"},
      {"host with slash", R"({"/app-health/a/livez":{"httpGet":{"port":80,"host":"evil.com/x"}}})",
       "httpGet.host"},
      {"host with at", R"({"/app-health/a/livez":{"tcpSocket":{"port":80,"host":"a@b"}}})",
       "tcpSocket.host"},
      {"timeout zero", R"({"/app-health/a/livez":{"tcpSocket":{"port":80},"timeoutSeconds":0}})",
       "timeoutSeconds"},
      {"timeout string",
       R"({"/app-health/a/livez":{"tcpSocket":{"port":80},"timeoutSeconds":"1"}})",
       "timeoutSeconds"},
      {"deep nesting", std::string(100, '[') + std::string(100, ']'), "ISTIO_KUBE_APP_PROBERS"},
      {"too big", std::string(2 * 1024 * 1024, ' '), "larger than 1 MiB"},
  };
  for (const auto& c : cases) {
    auto parsed = parseAppProbers(c.json);
    ASSERT_FALSE(parsed.has_value()) << c.name;
    EXPECT_NE(parsed.error().message.find(c.says), std::string::npos)
        << c.name << ": " << parsed.error().message;
    EXPECT_NE(parsed.error().message.find("ISTIO_KUBE_APP_PROBERS"), std::string::npos) << c.name;
  }
}

TEST(PrometheusAnnotations, ScrapeTargetOrNone) {
  auto on = parsePrometheusAnnotations(R"({"scrape":"true","port":"9090","path":"/m"})");
  ASSERT_TRUE(on.has_value());
  ASSERT_TRUE(on->has_value());
  EXPECT_EQ((*on)->port, 9090);
  EXPECT_EQ((*on)->path, "/m");
  auto default_path = parsePrometheusAnnotations(R"({"scrape":"true","port":"9090"})");
  EXPECT_EQ((*default_path)->path, "/metrics");
  EXPECT_FALSE(parsePrometheusAnnotations(R"({"scrape":"false","port":"9090"})")->has_value());
  EXPECT_FALSE(parsePrometheusAnnotations(R"({"scrape":"true"})")->has_value());
  EXPECT_FALSE(parsePrometheusAnnotations("")->has_value());
  for (const char* bad : {"{", "[]", R"({"port":9090})", R"({"port":"http"})", R"({"port":"0"})",
                          R"({"port":"99999"})", R"({"port":"80","path":"metrics"})",
                          R"({"port":"80","path":"/a b"})"}) {
    EXPECT_FALSE(parsePrometheusAnnotations(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace remora::proxy::admin
