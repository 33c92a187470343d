// The proxy's hot path allocates nothing per request once warmed up: the
// rule "allocates nothing per request that it could reuse", checked end to
// end rather than part by part. A sidecar pair over real sockets on
// 127.0.0.1 (plaintext, and mTLS with workload certificates), Istio's
// metadata exchange, the real telemetry (metrics, and the JSON access log
// written to /dev/null), one keep-alive app connection and the pooled
// upstream connection between the sidecars.
//
// What is counted, on the workers' threads only (tests/http/alloc_counter.cc):
// every operator new, which must be none; and apart, OpenSSL's allocations.
// OpenSSL 3.0's record layer allocates by itself on every record (its
// WPACKET helpers: three per record written, one per record read, so 8 per
// request through an mTLS pair); the test holds it to that, which is what
// it costs when the proxy adds nothing to it (with SSL_MODE_RELEASE_BUFFERS
// it was 14). The test's client and its app run on threads of their own and
// may allocate as they like; so may the access log's writer thread, which
// is off the request's path.
#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/proxy.h"
#include "proxy/telemetry_observer.h"
#include "telemetry/records.h"
#include "tests/proxy/proxy_harness.h"
#include "tests/tls/pki.h"
#include "tls/certificate_store.h"

long countedThreadAllocations();  // tests/http/alloc_counter.cc
void countThisThread();           // idem
bool isThisThreadCounted();       // idem

namespace {

// OpenSSL allocates with malloc, not operator new: its allocations are
// counted through its allocator hooks, set before it allocates anything
// (CRYPTO_set_mem_functions refuses once it has).
std::atomic<long> g_openssl_allocations{0};
void countOpenSsl() {
  if (isThisThreadCounted()) g_openssl_allocations.fetch_add(1, std::memory_order_relaxed);
}
void* countedMalloc(std::size_t size, const char*, int) {
  countOpenSsl();
  return std::malloc(size);
}
void* countedRealloc(void* p, std::size_t size, const char*, int) {
  countOpenSsl();
  return std::realloc(p, size);
}
void countedFree(void* p, const char*, int) { std::free(p); }
const bool g_openssl_counted =
    CRYPTO_set_mem_functions(countedMalloc, countedRealloc, countedFree) == 1;

}  // namespace

namespace remora::proxy {
namespace {

using namespace remora::proxy::testing;
namespace pki = remora::tls::testing;

constexpr const char* kSleep = "spiffe://cluster.local/ns/default/sa/sleep";
constexpr const char* kWeb = "spiffe://cluster.local/ns/default/sa/web";
constexpr int kWarmUp = 200;   // connections, pools, label sets, caches
constexpr int kCounted = 500;  // requests whose allocations are counted
// OpenSSL 3.0's own, per request through an mTLS pair: two records written
// and two read (see the top of the file).
constexpr long kOpenSslPerRequest = 8;

// The real telemetry, marking every worker thread it is called on as one
// whose allocations count.
class CountingObserver : public Observer {
 public:
  explicit CountingObserver(Observer& inner) : inner_(inner) {}
  void onRequest(const RequestReport& report) override {
    countThisThread();
    inner_.onRequest(report);
  }
  void onTcpOpen(const ConnectionReport& report) override {
    countThisThread();
    inner_.onTcpOpen(report);
  }
  void onTcpClose(const ConnectionReport& report) override { inner_.onTcpClose(report); }
  void onTlsFailure(std::size_t worker, Direction direction, std::string_view reason) override {
    inner_.onTlsFailure(worker, direction, reason);
  }
  void onTlsHandshake(std::size_t worker, Direction direction, bool resumed) override {
    countThisThread();
    inner_.onTlsHandshake(worker, direction, resumed);
  }
  void onInboundRefused(std::size_t worker, std::string_view reason) override {
    inner_.onInboundRefused(worker, reason);
  }
  void onTick(std::size_t worker) override { inner_.onTick(worker); }

 private:
  Observer& inner_;
};

// One sidecar as `remora proxy sidecar` assembles it: one worker, Istio's
// metrics and the access log, certificates when `ca` is given.
class Sidecar {
 public:
  Sidecar(const pki::Ca* ca, const std::string& identity, const std::string& yaml,
          asio::ip::tcp::endpoint original_dst)
      : store_({.trust_domains = {"cluster.local"}}), dst_(std::move(original_dst)) {
    if (ca != nullptr) {
      auto status = store_.update(pki::workload(*ca, identity), ca->bundle());
      EXPECT_TRUE(status) << status.error().message;
    }
    auto config = mesh::parseConfig(yaml);
    EXPECT_TRUE(config) << config.error().message;
    ProxyOptions options = loopbackOptions(1);
    options.certificates = ca != nullptr ? &store_ : nullptr;
    options.original_dst = [this](asio::ip::tcp::socket&,
                                  Direction) -> Result<asio::ip::tcp::endpoint> { return dst_; };
    proxy_ =
        std::make_unique<Proxy>(options, mesh::Snapshot::build(std::move(*config)), &counting_);
    EXPECT_TRUE(proxy_->start());
  }
  ~Sidecar() {
    proxy_->stop();
    proxy_->wait();
  }
  std::uint16_t inbound() const { return proxy_->inboundPort(); }
  std::uint16_t outbound() const { return proxy_->outboundPort(); }
  std::uint64_t logged() const { return access_log_.written(); }

 private:
  struct DevNull {
    int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    ~DevNull() { ::close(fd); }
  };
  DevNull sink_;
  telemetry::StatsRegistry stats_{1};
  telemetry::AccessLog access_log_{1, sink_.fd};
  TelemetryObserver observer_{1, stats_, &access_log_};
  CountingObserver counting_{observer_};
  tls::CertificateStore store_;
  asio::ip::tcp::endpoint dst_;  // read by the worker; set once before start
  std::unique_ptr<Proxy> proxy_;
};

// The client's registry: `web` on VIP 10.255.0.1, whose one endpoint is the
// server sidecar's inbound port, a pod with a sidecar.
std::string clientYaml(std::uint16_t server_inbound) {
  return fmt::format(R"(
proxy: {{workload: sleep-v1, namespace: default, app: sleep, version: v1,
         serviceAccount: sleep, ip: 10.244.0.5}}
mesh: {{protocolDetectionTimeout: 20ms}}
services:
- name: web
  addresses: [10.255.0.1]
  ports: [{{name: http, port: 80, protocol: HTTP, targetPort: {}}}]
  endpoints:
  - address: 127.0.0.1
    serviceAccount: web
    workload: web-v1
    labels: {{app: web, version: v1, security.istio.io/tlsMode: istio}}
)",
                     server_inbound);
}

constexpr std::string_view kServerYaml = R"(
proxy: {workload: web-v1, namespace: default, app: web, version: v1,
        serviceAccount: web, ip: 10.244.0.9}
mesh: {protocolDetectionTimeout: 20ms}
)";

// An app answering every GET with 1 KiB, as the benchmarks' nginx does.
void kibibyteApp(int fd) {
  const std::string answer =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n" +
      std::string(1024, 'x');
  std::string in;
  for (;;) {
    if (!readUntil(fd, in, "\r\n\r\n")) return;
    in.erase(0, in.find("\r\n\r\n") + 4);
    if (!sendAll(fd, answer)) return;
  }
}

class HotPathTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (const char* level = std::getenv("REMORA_LOG_LEVEL")) log::setLevel(level);
    ASSERT_TRUE(g_openssl_counted) << "OpenSSL allocated before its hooks could be set";
    if (GetParam()) ca_ = std::make_unique<pki::Ca>(pki::newRoot());
  }
  std::unique_ptr<pki::Ca> ca_;  // null: plaintext between the sidecars
};

TEST_P(HotPathTest, AWarmedUpKeepAliveRequestAllocatesNothingOnEitherSidecar) {
  Backend app(kibibyteApp);
  Sidecar server(ca_.get(), kWeb, std::string(kServerYaml),
                 {asio::ip::make_address("127.0.0.1"), app.port()});
  Sidecar client(ca_.get(), kSleep, clientYaml(server.inbound()),
                 {asio::ip::make_address("10.255.0.1"), 80});
  Fd c = connectTo(client.outbound());
  const std::string request = "GET /ratings/1 HTTP/1.1\r\nHost: web\r\nUser-Agent: test\r\n\r\n";
  std::string rest;
  auto exchange = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(sendAll(c.get(), request));
      Response r = readResponse(c.get(), rest);
      ASSERT_EQ(r.status, 200) << r.head;
      ASSERT_EQ(r.body.size(), 1024U);
    }
  };
  exchange(kWarmUp);
  const long before = countedThreadAllocations();
  const long openssl_before = g_openssl_allocations.load();
  exchange(kCounted);
  const long allocations = countedThreadAllocations() - before;
  const long openssl = g_openssl_allocations.load() - openssl_before;
  EXPECT_EQ(app.connections(), 1);  // the upstream connection was reused throughout
  // The allocations of kCounted requests through two sidecars: none. A
  // timer's work (the access log's flush, the stats tick) may fall inside
  // the window; it does not allocate either.
  EXPECT_EQ(allocations, 0) << "allocations per request: "
                            << static_cast<double>(allocations) / kCounted;
  EXPECT_LE(openssl, (GetParam() ? kOpenSslPerRequest : 0) * kCounted)
      << "OpenSSL's allocations per request: " << static_cast<double>(openssl) / kCounted;
  EXPECT_GT(client.logged() + server.logged(), 0U);  // the access log ran meanwhile
}

INSTANTIATE_TEST_SUITE_P(BetweenSidecars, HotPathTest, ::testing::Values(false, true),
                         [](const auto& param_info) {
                           return param_info.param ? "Mtls" : "Plaintext";
                         });

}  // namespace
}  // namespace remora::proxy
