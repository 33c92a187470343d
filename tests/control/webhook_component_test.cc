// `remora webhook` over real HTTPS on 127.0.0.1: AdmissionReviews in the
// shapes the API server sends (a ReplicaSet's generateName pod, dryRun,
// UPDATE, a Service, v1beta1), the patch applied with a JSON Patch
// implementation and compared with `remora inject`'s output for the same
// pod, reinvocation (a second review of the patched pod gives no patch),
// certificate rotation under load, and every hostile input of issue 3.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <asio/ssl/stream.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control/webhook_server.h"
#include "control/webhook_service.h"
#include "core/base64.h"
#include "core/file.h"
#include "core/json.h"
#include "http/client.h"
#include "inject/json_patch.h"
#include "kube/yaml.h"
#include "tests/http/component_support.h"
#include "tls/certificate.h"
#include "tls/context.h"
#include "tls/key.h"
#include "tls/pem.h"

namespace remora::control {
namespace {

namespace fs = std::filesystem;
using http::testing::eventually;
using http::testing::RawConnection;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Json reviewFile(std::string_view name) {
  auto text = readFile(std::string("tests/control/reviews/") + std::string(name), 1 << 20);
  REMORA_CHECK(text.has_value(), "{}", text.error().message);
  auto json = parseJson(*text);
  REMORA_CHECK(json.has_value(), "{}", json.error().message);
  return *json;
}

// A CA of the test's, which signs every serving certificate (so rotations
// keep the clients' trust), and the files the webhook reads.
class Pki {
 public:
  explicit Pki(const fs::path& dir) : cert_path_(dir / "tls.crt"), key_path_(dir / "tls.key") {
    auto ca = tls::createRootCa({.organization = "Remora", .now = systemClock().now()});
    REMORA_CHECK(ca.has_value(), "{}", ca.error().message);
    ca_ = std::move(*ca);
    ca_pem_ = std::move(tls::certificateToPem(ca_.certificate.get())).value();
    issue();
  }
  // Writes a new key and certificate: the key first, then the certificate,
  // each replaced by rename (as kubelet's atomic writer or a careful script
  // does), so for a moment the pair does not match.
  std::string issue() {
    auto key = std::move(tls::generateP256Key()).value();
    std::vector<std::string> names = {"localhost"};
    auto cert =
        std::move(tls::issueServingCertificate({ca_.certificate.get(), ca_.key.get()}, key.get(),
                                               names, systemClock().now(), std::chrono::hours(1)))
            .value();
    REMORA_CHECK(writeFileAtomic(key_path_.string(),
                                 std::move(tls::privateKeyToPem(key.get())).value(), 0600)
                     .has_value(),
                 "key");
    REMORA_CHECK(
        writeFileAtomic(cert_path_.string(), std::move(tls::certificateToPem(cert.get())).value())
            .has_value(),
        "cert");
    return tls::serialHex(cert.get());
  }
  const std::string& caPem() const { return ca_pem_; }
  std::string certPath() const { return cert_path_.string(); }
  std::string keyPath() const { return key_path_.string(); }

 private:
  fs::path cert_path_;
  fs::path key_path_;
  tls::KeyAndCertificate ca_;
  std::string ca_pem_;
};

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "remora-webhook-XXXXXX").string();
    REMORA_CHECK(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
    dir_ = tmpl;
    pki_ = std::make_unique<Pki>(dir_);
    WebhookOptions options;
    options.decision_sink = [this](std::string_view line) {
      std::lock_guard lock(lines_mutex_);
      lines_.emplace_back(line);
    };
    service_ = std::move(WebhookService::create(std::move(options))).value();
    server_ = std::make_unique<WebhookServer>(
        *service_, WebhookServerOptions{.address = "127.0.0.1",
                                        .port = 0,
                                        .cert_path = pki_->certPath(),
                                        .key_path = pki_->keyPath(),
                                        .workers = 2,
                                        .poll_interval = std::chrono::milliseconds(50),
                                        .header_timeout = std::chrono::milliseconds(500),
                                        .body_timeout = std::chrono::milliseconds(500)});
    auto started = server_->start();
    ASSERT_TRUE(started) << started.error().message;
  }
  void TearDown() override {
    server_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  http::Client client() const {
    return http::Client({.read_timeout = std::chrono::seconds(20),
                         .tls = {.ca_pem = pki_->caPem(), .server_name = "localhost"}});
  }
  std::string url(std::string_view path) const {
    return fmt::format("https://127.0.0.1:{}{}", server_->port(), path);
  }
  http::ClientResponse post(std::string_view path, std::string body) const {
    auto c = client();
    http::ClientRequest request{.method = "POST", .url = url(path), .body = std::move(body)};
    request.headers.add("Content-Type", "application/json");
    auto response = c.send(request);
    REMORA_CHECK(response.has_value(), "POST {}: {}", path, response.error().message);
    return std::move(*response);
  }
  http::ClientResponse get(std::string_view path) const {
    auto c = client();
    auto response = c.send({.method = "GET", .url = url(path)});
    REMORA_CHECK(response.has_value(), "GET {}: {}", path, response.error().message);
    return std::move(*response);
  }

  // Posts a review and checks the envelope: 200, a review of the same
  // apiVersion, the uid echoed.
  Json reviewed(const Json& review, std::string_view path = "/inject") const {
    auto response = post(path, dumpJson(review));
    EXPECT_EQ(response.status, 200) << response.body;
    auto reply = parseJson(response.body);
    REMORA_CHECK(reply.has_value(), "answer is not JSON: {}", response.body);
    EXPECT_EQ((*reply)["kind"], "AdmissionReview");
    EXPECT_EQ((*reply)["apiVersion"], review["apiVersion"]);
    EXPECT_EQ((*reply)["response"]["uid"], review["request"]["uid"]);
    return (*reply)["response"];
  }
  // The patch of an answer (an empty array when there is none).
  static Json patchOf(const Json& response) {
    if (!response.contains("patch")) return Json::array();
    EXPECT_EQ(response["patchType"], "JSONPatch");
    auto text = decodeBase64(response["patch"].get<std::string>());
    REMORA_CHECK(text.has_value(), "patch is not base64");
    auto patch = parseJson(*text);
    REMORA_CHECK(patch.has_value() && patch->is_array(), "patch is not a JSON array");
    return *patch;
  }
  static Json applied(const Json& object, const Json& patch) {
    auto result = inject::applyPatch(object, patch);
    REMORA_CHECK(result.has_value(), "patch does not apply: {}", result.error().message);
    return *result;
  }

  // `remora inject` on `object` (JSON in, YAML out), parsed back.
  Json remoraInject(const Json& object, std::string_view flags = "") {
    fs::path in = dir_ / "pod.json";
    std::ofstream(in) << dumpJson(object);
    std::string cmd =
        fmt::format("'{}' inject {} -f '{}' >'{}' 2>'{}'", REMORA_BIN, flags, in.string(),
                    (dir_ / "out.yaml").string(), (dir_ / "err.txt").string());
    int status = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(dir_ / "err.txt");
    auto parsed = kube::parseYaml(slurp(dir_ / "out.yaml"));
    REMORA_CHECK(parsed.has_value(), "{}", parsed.error().message);
    return *parsed;
  }

  std::vector<Json> decisions() {
    std::lock_guard lock(lines_mutex_);
    std::vector<Json> out;
    for (const auto& line : lines_) {
      EXPECT_EQ(line.back(), '\n');
      auto j = parseJson(line);
      EXPECT_TRUE(j) << line;
      if (j) out.push_back(*j);
    }
    return out;
  }

  fs::path dir_;
  std::unique_ptr<Pki> pki_;
  std::unique_ptr<WebhookService> service_;
  std::unique_ptr<WebhookServer> server_;
  std::mutex lines_mutex_;  // guards lines_
  std::vector<std::string> lines_;
};

const Json* container(const Json& pod, std::string_view list, std::string_view name) {
  const Json* l = findField(pod["spec"], list);
  if (l == nullptr) return nullptr;
  for (const Json& c : *l) {
    if (c.value("name", "") == name) return &c;
  }
  return nullptr;
}

std::string env(const Json& c, std::string_view name) {
  for (const Json& e : c["env"]) {
    if (e.value("name", "") == name) return e.value("value", "");
  }
  return "<absent>";
}

// --- the shapes the API server sends ------------------------------------------

TEST_F(WebhookTest, ReplicaSetPodPatchEqualsRemoraInjectAndReinvocationIsEmpty) {
  Json review = reviewFile("replicaset_pod_create.json");
  const Json& pod = review["request"]["object"];
  Json response = reviewed(review);
  EXPECT_EQ(response["allowed"], true);
  Json patch = patchOf(response);
  ASSERT_FALSE(patch.empty());
  Json patched = applied(pod, patch);

  // The sidecar, named after the Deployment (from the owner reference and
  // pod-template-hash), in the namespace of request.namespace.
  ASSERT_NE(container(patched, "containers", "istio-proxy"), nullptr);
  ASSERT_NE(container(patched, "initContainers", "istio-init"), nullptr);
  const Json& proxy = *container(patched, "containers", "istio-proxy");
  EXPECT_EQ(env(proxy, "ISTIO_META_WORKLOAD_NAME"), "web");
  EXPECT_EQ(env(proxy, "ISTIO_META_OWNER"),
            "kubernetes://apis/apps/v1/namespaces/shop/deployments/web");
  EXPECT_EQ(patched["metadata"]["generateName"], "web-5d4f8c7b9-");

  // `remora inject` of the same pod, as `kubectl get pod -o json` shows it
  // (with its namespace), gives the same object.
  Json same_pod = pod;
  same_pod["metadata"]["namespace"] = "shop";
  Json offline = remoraInject(same_pod);
  offline["metadata"].erase("namespace");
  EXPECT_TRUE(inject::jsonEquivalent(patched, offline))
      << "webhook:\n"
      << kube::toYaml(patched) << "remora inject:\n"
      << kube::toYaml(offline);

  // Reinvocation (reinvocationPolicy IfNeeded) or a second webhook call
  // sees the injected pod: allowed, nothing to patch.
  Json again = review;
  again["request"]["uid"] = "second-review";
  again["request"]["object"] = patched;
  Json second = reviewed(again);
  EXPECT_EQ(second["allowed"], true);
  EXPECT_FALSE(second.contains("patch")) << dumpJson(second);
  EXPECT_EQ(service_->metrics().skipped("already-injected"), 1u);
}

TEST_F(WebhookTest, BarePodEqualsRemoraInject) {
  Json review = reviewFile("replicaset_pod_create.json");
  review["request"]["name"] = "my-app";  // before taking `pod`: a new member may move the others
  Json& pod = review["request"]["object"];
  pod["metadata"] = Json::parse(R"({"name": "my-app", "labels": {"app": "my-app"}})");
  Json patched = applied(pod, patchOf(reviewed(review)));
  Json same_pod = pod;
  same_pod["metadata"]["namespace"] = "shop";
  Json offline = remoraInject(same_pod);
  offline["metadata"].erase("namespace");
  EXPECT_TRUE(inject::jsonEquivalent(patched, offline))
      << "webhook:\n"
      << kube::toYaml(patched) << "remora inject:\n"
      << kube::toYaml(offline);
  EXPECT_EQ(env(*container(patched, "containers", "istio-proxy"), "ISTIO_META_WORKLOAD_NAME"),
            "my-app");
}

TEST_F(WebhookTest, V1beta1IsAnsweredInV1beta1WithTheSamePatch) {
  Json review = reviewFile("replicaset_pod_create.json");
  Json v1 = patchOf(reviewed(review));
  review["apiVersion"] = "admission.k8s.io/v1beta1";
  Json beta = patchOf(reviewed(review));
  EXPECT_EQ(v1, beta);
}

TEST_F(WebhookTest, DryRunGetsTheSamePatchAndIsLoggedAsDryRun) {
  Json review = reviewFile("replicaset_pod_create.json");
  Json real = patchOf(reviewed(review));
  review["request"]["dryRun"] = true;
  Json dry = patchOf(reviewed(review));
  EXPECT_EQ(real, dry);
  auto lines = decisions();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["dryRun"], false);
  EXPECT_EQ(lines[1]["dryRun"], true);
  EXPECT_EQ(lines[1]["decision"], "injected");
}

TEST_F(WebhookTest, UpdateIsAllowedUnchanged) {
  Json review = reviewFile("replicaset_pod_create.json");
  review["request"]["operation"] = "UPDATE";
  review["request"]["name"] = "web-5d4f8c7b9-abcde";
  review["request"]["oldObject"] = review["request"]["object"];
  review["request"]["options"] = {{"kind", "UpdateOptions"}, {"apiVersion", "meta.k8s.io/v1"}};
  Json response = reviewed(review);
  EXPECT_EQ(response["allowed"], true);
  EXPECT_FALSE(response.contains("patch"));
  EXPECT_EQ(service_->metrics().skipped("not-create"), 1u);
}

TEST_F(WebhookTest, ServiceIsPassedThroughWithAMessage) {
  Json response = reviewed(reviewFile("service_create.json"));
  EXPECT_EQ(response["allowed"], true);
  EXPECT_FALSE(response.contains("patch"));
  EXPECT_NE(response["status"]["message"].get<std::string>().find("Service is not a Pod"),
            std::string::npos);
  EXPECT_EQ(service_->metrics().skipped("not-a-pod"), 1u);
}

TEST_F(WebhookTest, PodsThePolicyRefusesGetNoPatch) {
  struct Case {
    const char* name;
    const char* reason;
    std::function<void(Json& request)> change;
  };
  const Case cases[] = {
      {"kube-system", "ignored-namespace", [](Json& r) { r["namespace"] = "kube-system"; }},
      {"kube-public", "ignored-namespace", [](Json& r) { r["namespace"] = "kube-public"; }},
      {"kube-node-lease", "ignored-namespace", [](Json& r) { r["namespace"] = "kube-node-lease"; }},
      {"hostNetwork", "host-network", [](Json& r) { r["object"]["spec"]["hostNetwork"] = true; }},
      {"opt-out annotation", "pod-annotation",
       [](Json& r) {
         r["object"]["metadata"]["annotations"] = {{"sidecar.istio.io/inject", "false"}};
       }},
      {"opt-out label", "pod-label",
       [](Json& r) { r["object"]["metadata"]["labels"]["sidecar.istio.io/inject"] = "false"; }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Json review = reviewFile("replicaset_pod_create.json");
    c.change(review["request"]);
    Json response = reviewed(review);
    EXPECT_EQ(response["allowed"], true);
    EXPECT_FALSE(response.contains("patch"));
    EXPECT_EQ(decisions().back()["reason"], c.reason);
  }
  EXPECT_EQ(service_->metrics().skipped("ignored-namespace"), 3u);
  EXPECT_EQ(service_->metrics().injected(), 0u);
}

TEST_F(WebhookTest, RevisionPathInjectsThatRevisionLikeRemoraInjectRevision) {
  Json review = reviewFile("replicaset_pod_create.json");
  const Json& pod = review["request"]["object"];
  Json patched = applied(pod, patchOf(reviewed(review, "/inject/canary")));
  EXPECT_EQ(patched["metadata"]["annotations"]["istio.io/rev"], "canary");
  Json same_pod = pod;
  same_pod["metadata"]["namespace"] = "shop";
  Json offline = remoraInject(same_pod, "--revision canary");
  offline["metadata"].erase("namespace");
  EXPECT_TRUE(inject::jsonEquivalent(patched, offline));
  EXPECT_EQ(decisions().back()["revision"], "canary");
}

TEST_F(WebhookTest, PodThatCannotBeInjectedIsDeniedWithTheReason) {
  Json review = reviewFile("replicaset_pod_create.json");
  review["request"]["object"]["metadata"]["annotations"] = {
      {"traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/33"}};
  Json response = reviewed(review);
  EXPECT_EQ(response["allowed"], false);
  EXPECT_EQ(response["status"]["code"], 400);
  EXPECT_NE(response["status"]["message"].get<std::string>().find("includeOutboundIPRanges"),
            std::string::npos)
      << dumpJson(response);
  EXPECT_EQ(service_->metrics().errors("injection-failed"), 1u);
}

// --- health, metrics, logs ---------------------------------------------------------

TEST_F(WebhookTest, HealthReadinessAndMetrics) {
  EXPECT_EQ(get("/healthz").status, 200);
  EXPECT_EQ(get("/readyz").status, 200);
  reviewed(reviewFile("replicaset_pod_create.json"));
  reviewed(reviewFile("service_create.json"));
  EXPECT_EQ(post("/inject", "{").status, 400);
  auto metrics = get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  for (const char* line :
       {"sidecar_injection_requests_total 3\n", "sidecar_injection_success_total 1\n",
        "sidecar_injection_skip_total{reason=\"not-a-pod\"} 1\n",
        "sidecar_injection_failure_total{reason=\"bad-request\"} 1\n",
        "sidecar_injection_time_seconds_count 3\n",
        "remora_webhook_certificate_reloads_total 0\n"}) {
    EXPECT_NE(metrics.body.find(line), std::string::npos) << line << metrics.body;
  }
  server_->beginShutdown();
  EXPECT_EQ(get("/readyz").status, 503);
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(WebhookTest, OneStructuredLogLinePerDecision) {
  reviewed(reviewFile("replicaset_pod_create.json"));
  reviewed(reviewFile("service_create.json"));
  post("/inject", "not json");
  auto lines = decisions();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["decision"], "injected");
  EXPECT_EQ(lines[0]["uid"], "7f0b2891-916f-4ed6-b7cd-27bff1815a8c");
  EXPECT_EQ(lines[0]["namespace"], "shop");
  EXPECT_EQ(lines[0]["name"], "web-5d4f8c7b9-");
  EXPECT_EQ(lines[0]["workload"], "Deployment/web");
  EXPECT_EQ(lines[0]["operation"], "CREATE");
  EXPECT_GT(lines[0]["patchOps"].get<int>(), 0);
  EXPECT_EQ(lines[1]["decision"], "skipped");
  EXPECT_EQ(lines[1]["reason"], "not-a-pod");
  EXPECT_EQ(lines[2]["decision"], "bad-request");
  EXPECT_FALSE(lines[2].contains("uid"));
}

// --- hostile input --------------------------------------------------------------------

// A TLS client that writes what it is told and reads until the server
// closes (bounded by a receive timeout): for the slow-drip cases that a
// well-behaved http::Client cannot produce.
class RawTls {
 public:
  explicit RawTls(std::uint16_t port) : ssl_(asio::ssl::context::tls_client), stream_(io_, ssl_) {
    stream_.set_verify_mode(asio::ssl::verify_none);
    std::error_code ec;
    stream_.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    REMORA_CHECK(!ec, "connect: {}", ec.message());
    timeval tv{.tv_sec = 20, .tv_usec = 0};
    ::setsockopt(stream_.lowest_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    stream_.handshake(asio::ssl::stream_base::client, ec);
    REMORA_CHECK(!ec, "handshake: {}", ec.message());
  }
  void send(std::string_view bytes) {
    std::error_code ec;
    asio::write(stream_, asio::buffer(bytes.data(), bytes.size()), ec);
  }
  std::string readAll() {
    std::string out;
    char buf[4096];
    while (true) {
      std::error_code ec;
      std::size_t n = stream_.read_some(asio::buffer(buf), ec);
      out.append(buf, n);
      if (ec) return out;
    }
  }

 private:
  asio::io_context io_;
  asio::ssl::context ssl_;
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
};

TEST_F(WebhookTest, BadBodiesGet400AndValidReviewsKeepBeingServed) {
  std::string valid = dumpJson(reviewFile("replicaset_pod_create.json"));
  Json no_uid = reviewFile("replicaset_pod_create.json");
  no_uid["request"].erase("uid");
  Json empty_uid = reviewFile("replicaset_pod_create.json");
  empty_uid["request"]["uid"] = "";
  Json control_uid = reviewFile("replicaset_pod_create.json");
  control_uid["request"]["uid"] = "a\nb";
  struct Case {
    const char* name;
    std::string body;
    int status;
  };
  const Case cases[] = {
      {"empty body", "", 400},
      {"invalid JSON", "{\"apiVersion\": admission", 400},
      {"truncated review", valid.substr(0, valid.size() / 2), 400},
      {"nested 5000 deep", std::string(5000, '[') + std::string(5000, ']'), 400},
      {"nested objects 5000 deep",
       [] {
         std::string s;
         for (int i = 0; i < 5000; ++i) s += "{\"a\":";
         s += "1";
         s += std::string(5000, '}');
         return s;
       }(),
       400},
      {"JSON array", "[]", 400},
      {"a Pod, not a review",
       dumpJson(reviewFile("replicaset_pod_create.json")["request"]["object"]), 400},
      {"another apiVersion",
       R"({"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"x"}})",
       400},
      {"another kind", R"({"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"x"}})",
       400},
      {"no request", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})", 400},
      {"request not an object",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":[]})", 400},
      {"missing uid", dumpJson(no_uid), 400},
      {"empty uid", dumpJson(empty_uid), 400},
      {"uid with a newline", dumpJson(control_uid), 400},
      {"uid not a string",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}})", 400},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto response = post("/inject", c.body);
    EXPECT_EQ(response.status, c.status) << response.body.substr(0, 200);
    // And a valid review right after, on a new connection.
    auto ok = post("/inject", valid);
    EXPECT_EQ(ok.status, 200);
    EXPECT_NE(ok.body.find("\"patch\""), std::string::npos);
  }
  EXPECT_EQ(service_->metrics().errors("bad-request"), std::size(cases));
}

TEST_F(WebhookTest, BodyOverTheCapGets413FromItsLengthAlone) {
  // Refused from Content-Length, before a byte of the body is read.
  RawTls big(server_->port());
  big.send(
      "POST /inject HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
      "Content-Length: 5242880\r\n\r\n{\"pad\": \"");
  EXPECT_EQ(big.readAll().rfind("HTTP/1.1 413", 0), 0u);
  EXPECT_EQ(post("/inject", dumpJson(reviewFile("service_create.json"))).status, 200);
}

TEST_F(WebhookTest, MalformedRequestsAreAnsweredWithTheUidAndAMessage) {
  struct Case {
    const char* name;
    std::function<void(Json& request)> change;
    const char* message;
  };
  const Case cases[] = {
      {"object is an array", [](Json& r) { r["object"] = Json::array(); }, "request.object"},
      {"object is missing", [](Json& r) { r.erase("object"); }, "request.object is missing"},
      {"no operation", [](Json& r) { r.erase("operation"); }, "request.operation"},
      {"no kind", [](Json& r) { r.erase("kind"); }, "request.kind"},
      {"namespace not a string", [](Json& r) { r["namespace"] = 3; }, "request.namespace"},
      {"dryRun not a boolean", [](Json& r) { r["dryRun"] = "yes"; }, "request.dryRun"},
      {"spec.containers not a list", [](Json& r) { r["object"]["spec"]["containers"] = "web"; },
       "containers"},
      {"labels not a mapping", [](Json& r) { r["object"]["metadata"]["labels"] = "app=web"; },
       "labels"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Json review = reviewFile("replicaset_pod_create.json");
    c.change(review["request"]);
    Json response = reviewed(review);
    EXPECT_EQ(response["allowed"], false);
    EXPECT_FALSE(response.contains("patch"));
    EXPECT_NE(response["status"]["message"].get<std::string>().find(c.message), std::string::npos)
        << dumpJson(response);
  }
}

TEST_F(WebhookTest, WrongPathsAndMethods) {
  std::string valid = dumpJson(reviewFile("replicaset_pod_create.json"));
  EXPECT_EQ(post("/mutate", valid).status, 404);
  EXPECT_EQ(post("/inject/a/b", valid).status, 404);
  EXPECT_EQ(get("/inject").status, 405);
  // The API server appends ?timeout=10s.
  EXPECT_EQ(post("/inject?timeout=10s", valid).status, 200);
  // An invalid revision name is a review answered with a message.
  Json response = reviewed(reviewFile("replicaset_pod_create.json"), "/inject/Not_A_Label");
  EXPECT_EQ(response["allowed"], false);
}

TEST_F(WebhookTest, PlainHttpOnTheTlsPortGets400) {
  RawConnection raw(server_->port());
  raw.send("POST /inject HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
  std::string answer = raw.readAll();
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  EXPECT_EQ(post("/inject", dumpJson(reviewFile("service_create.json"))).status, 200);
}

TEST_F(WebhookTest, SlowDripClientsAreCutWhileReviewsAreServed) {
  // Stalled in the TLS handshake (a record header, then nothing), in the
  // request head, and in the body.
  RawConnection handshake(server_->port());
  handshake.send(std::string("\x16\x03\x01", 3));
  RawTls head(server_->port());
  head.send("POST /inject HTTP/1.1\r\nHost: localhost\r\nContent-Ty");
  RawTls body(server_->port());
  body.send("POST /inject HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{\"api");

  EXPECT_EQ(post("/inject", dumpJson(reviewFile("replicaset_pod_create.json"))).status, 200);

  bool closed = false;
  handshake.readAll(&closed);
  EXPECT_TRUE(closed) << "the stalled handshake was not cut";
  EXPECT_EQ(head.readAll().rfind("HTTP/1.1 408", 0), 0u);
  EXPECT_EQ(body.readAll().rfind("HTTP/1.1 408", 0), 0u);
  EXPECT_EQ(post("/inject", dumpJson(reviewFile("service_create.json"))).status, 200);
}

TEST_F(WebhookTest, ThousandsOfConcurrentConnections) {
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 2000; ++i) idle.push_back(std::make_unique<RawConnection>(server_->port()));
  EXPECT_EQ(post("/inject", dumpJson(reviewFile("replicaset_pod_create.json"))).status, 200);
  // They are all cut by the handshake timeout, never served.
  for (auto& c : idle) {
    bool closed = false;
    c->readAll(&closed);
    EXPECT_TRUE(closed);
  }
  EXPECT_EQ(post("/inject", dumpJson(reviewFile("service_create.json"))).status, 200);
}

// --- certificates ------------------------------------------------------------------------

TEST_F(WebhookTest, CertificateRotationUnderLoadLosesNoReview) {
  std::string body = dumpJson(reviewFile("replicaset_pod_create.json"));
  std::atomic<bool> stop{false};
  std::atomic<int> served{0};
  std::atomic<int> failed{0};
  std::mutex errors_mutex;  // guards errors
  std::vector<std::string> errors;
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      // Half the clients keep their connection (they stay on the context
      // they started with); half open a new one per review.
      auto c = client();
      while (!stop) {
        if (t % 2 == 1) c.closeIdle();
        http::ClientRequest request{.method = "POST", .url = url("/inject"), .body = body};
        auto response = c.send(request);
        if (response && response->status == 200 &&
            response->body.find("\"patch\"") != std::string::npos) {
          ++served;
        } else {
          ++failed;
          std::lock_guard lock(errors_mutex);
          errors.push_back(response ? response->body.substr(0, 200) : response.error().message);
        }
      }
    });
  }
  std::string before = server_->servingSerial();
  for (int rotation = 1; rotation <= 3; ++rotation) {
    int at = served.load();
    std::string serial = pki_->issue();
    EXPECT_TRUE(eventually([&] { return server_->servingSerial() == serial; }))
        << "rotation " << rotation << " not picked up";
    EXPECT_TRUE(eventually([&] { return served.load() > at + 5; }));
  }
  stop = true;
  for (auto& t : load) t.join();
  EXPECT_NE(server_->servingSerial(), before);
  EXPECT_EQ(server_->certificateReloads(), 3u);
  EXPECT_EQ(failed.load(), 0) << (errors.empty() ? "" : errors.front());
  EXPECT_GT(served.load(), 0);
}

TEST_F(WebhookTest, ABrokenCertificateKeepsTheOldOne) {
  std::string serial = server_->servingSerial();
  ASSERT_TRUE(writeFileAtomic(pki_->certPath(), "-----BEGIN CERTIFICATE-----\nbroken\n"));
  EXPECT_TRUE(eventually([&] { return server_->certificateReloadFailures() > 0; }));
  EXPECT_EQ(server_->servingSerial(), serial);
  EXPECT_EQ(post("/inject", dumpJson(reviewFile("service_create.json"))).status, 200);
  std::string next = pki_->issue();
  EXPECT_TRUE(eventually([&] { return server_->servingSerial() == next; }));
  EXPECT_EQ(post("/inject", dumpJson(reviewFile("service_create.json"))).status, 200);
}

TEST(WebhookServerStart, RefusesMissingOrMismatchedCertificates) {
  auto service =
      std::move(WebhookService::create({.decision_sink = [](std::string_view) {}})).value();
  WebhookServer server(*service, {.address = "127.0.0.1",
                                  .port = 0,
                                  .cert_path = "/nonexistent/tls.crt",
                                  .key_path = "/nonexistent/tls.key"});
  auto started = server.start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("/nonexistent/tls.crt"), std::string::npos)
      << started.error().message;
}

// `remora webhook certs` as the README's install runs it: the caBundle it
// prints trusts the certificate the webhook then serves, under the
// Service's DNS name, and the key is private.
TEST(WebhookCerts, CaBundleTrustsTheServedCertificateForTheServiceName) {
  std::string tmpl = (fs::temp_directory_path() / "remora-webhook-certs-XXXXXX").string();
  REMORA_CHECK(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
  fs::path dir = tmpl;
  std::string cmd = fmt::format(
      "'{}' webhook certs --service remora-webhook --namespace remora-system --out '{}' "
      ">'{}' 2>'{}'",
      REMORA_BIN, (dir / "certs").string(), (dir / "out.txt").string(), (dir / "err.txt").string());
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(dir / "err.txt");
  std::string out = slurp(dir / "out.txt");
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.back(), '\n');
  auto bundle = decodeBase64(out.substr(0, out.size() - 1));
  ASSERT_TRUE(bundle) << out;
  EXPECT_EQ(*bundle, slurp(dir / "certs" / "ca.crt"));
  EXPECT_EQ(fs::status(dir / "certs" / "tls.key").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);

  auto service =
      std::move(WebhookService::create({.decision_sink = [](std::string_view) {}})).value();
  WebhookServer server(*service, {.address = "127.0.0.1",
                                  .port = 0,
                                  .cert_path = (dir / "certs" / "tls.crt").string(),
                                  .key_path = (dir / "certs" / "tls.key").string(),
                                  .workers = 1});
  ASSERT_TRUE(server.start());
  for (const char* name :
       {"remora-webhook.remora-system.svc", "remora-webhook.remora-system.svc.cluster.local"}) {
    http::Client c({.tls = {.ca_pem = *bundle, .server_name = name}});
    auto response = c.send(
        {.method = "GET", .url = fmt::format("https://127.0.0.1:{}/healthz", server.port())});
    ASSERT_TRUE(response) << name << ": " << response.error().message;
    EXPECT_EQ(response->status, 200);
  }
  http::Client wrong({.tls = {.ca_pem = *bundle, .server_name = "other.remora-system.svc"}});
  EXPECT_FALSE(wrong.send(
      {.method = "GET", .url = fmt::format("https://127.0.0.1:{}/healthz", server.port())}));
  server.stop();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace remora::control
