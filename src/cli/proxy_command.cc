// `remora proxy`: the sidecar and the two helpers the injected pod's
// lifecycle hooks call.
//
//   remora proxy sidecar [--concurrency N] [--domain D] [--proxyLogLevel L] [--config FILE]
//                        [--ca-addr A] [--ca-root-cert F] [--token-path F]
//                        [--trust-domain D] [--secret-ttl T]
//   remora proxy wait [--url URL] [--timeout 60s]     (postStart: hold the app)
//   remora proxy drain [--debug-port P]               (preStop: POST :P/drain)
//
// `sidecar` reads its config (docs/proxy-config.md) from --config, else
// $REMORA_PROXY_CONFIG, else /etc/istio/proxy/remora.yaml when present, and
// runs until SIGTERM, which drains: listeners close, responses say
// Connection: close, in-flight requests finish until mesh.drainDuration,
// then the process exits 0. A second SIGTERM/SIGINT exits at once.
//
// With a CA address (--ca-addr, else $CA_ADDR, as the injected container
// sets it) the sidecar gets its workload certificate from `remora control`
// (agent/workload_certs.h) and hands the store to the data plane; it is not
// ready on 15021 until the first certificate arrives. Without one: no mTLS.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <asio/signal_set.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include "agent/workload_certs.h"
#include "cli/commands.h"
#include "control/ca.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/thread.h"
#include "http/client.h"
#include "mesh/config.h"
#include "mesh/watcher.h"
#include "proxy/admin/admin.h"
#include "proxy/admin/app_probers.h"
#include "proxy/config_dump.h"
#include "proxy/proxy.h"
#include "proxy/telemetry_observer.h"
#include "telemetry/records.h"

namespace remora::cli {
namespace {

constexpr std::string_view kDefaultConfig = "/etc/istio/proxy/remora.yaml";

[[noreturn]] void fail(std::string_view command, std::string_view message) {
  fmt::print(stderr, "remora proxy {}: {}\n", command, message);
  throw CLI::RuntimeError(1);
}

struct SidecarFlags {
  std::size_t concurrency = 2;
  std::string domain;
  std::string log_level;
  std::string config;
  std::uint16_t outbound_port = 15001;
  std::uint16_t inbound_port = 15006;
  std::uint16_t admin_port = 15000;
  std::uint16_t stats_port = 15090;
  std::uint16_t health_port = 15021;
  std::uint16_t status_port = 15020;
  // The workload certificate (pilot-agent's flags and environment).
  std::string ca_addr;
  std::string ca_root_cert = "/var/run/secrets/istio/root-cert.pem";
  std::string token_path = "/var/run/secrets/tokens/istio-token";
  std::string trust_domain;  // "" : the mesh config's, cluster.local by default
  std::string secret_ttl = "24h";
};

// The certificate bootstrap's options, from the flags and what the config
// resolved of the pod's identity (POD_NAMESPACE, SERVICE_ACCOUNT).
agent::WorkloadCertOptions certOptions(const SidecarFlags& f, const mesh::Snapshot& snapshot) {
  agent::WorkloadCertOptions o;
  o.ca_addr = f.ca_addr;
  o.root_cert_path = f.ca_root_cert;
  o.token_path = f.token_path;
  o.trust_domain = f.trust_domain.empty() ? snapshot.mesh().trust_domain : f.trust_domain;
  o.pod_namespace = snapshot.config().proxy.workload.namespace_;
  o.service_account = snapshot.config().proxy.workload.service_account;
  auto ttl = control::parseDuration(f.secret_ttl.empty() ? "24h" : f.secret_ttl);
  if (!ttl) fail("sidecar", ttl.error().context("--secret-ttl / $SECRET_TTL").message);
  o.ttl = *ttl;
  return o;
}

// Envoy's level names (what --proxyLogLevel carries) to spdlog's.
std::string spdlogLevel(std::string level) {
  if (level == "warning") return "warn";
  if (level == "error") return "err";
  return level;
}

std::string configPath(const SidecarFlags& f) {
  if (!f.config.empty()) return f.config;
  if (const char* env = std::getenv("REMORA_PROXY_CONFIG"); env != nullptr && *env != '\0') {
    return env;
  }
  std::error_code ec;
  if (std::filesystem::exists(kDefaultConfig, ec)) return std::string(kDefaultConfig);
  return {};
}

void runSidecar(const SidecarFlags& f) {
  if (!f.log_level.empty() && !log::setLevel(spdlogLevel(f.log_level))) {
    fail("sidecar", "--proxyLogLevel: unknown level " + f.log_level);
  }
  // Large blocks stay mappings of their own, unmapped when freed: the
  // admin's dump of a large mesh is megabytes, and one dump of a
  // 1,000-service mesh otherwise left the sidecar 20 MiB larger for good.
  // Idle memory the same or lower (memory_bench: 0.1-0.3 MiB less after
  // reloads).
  keepLargeBlocksMapped();
  EventLoop control;
  mesh::IdentityDefaults defaults = mesh::IdentityDefaults::fromEnvironment();
  std::string path = configPath(f);
  // Declared before the data plane, which reads its store: outlives it.
  std::unique_ptr<agent::WorkloadCertificates> certs;
  std::unique_ptr<proxy::Proxy> data_plane;
  std::unique_ptr<mesh::ConfigWatcher> watcher;
  mesh::SnapshotPtr snapshot;
  // The snapshot the admin endpoint shows (/config_dump, /clusters): the
  // workers' current one, replaced with it, so it keeps no old config alive.
  std::atomic<mesh::SnapshotPtr> shown;
  if (path.empty()) {
    auto config = mesh::parseConfig("", defaults);
    snapshot = mesh::Snapshot::build(std::move(*config));
    REMORA_LOG(proxy, info, "no config file: empty registry, ALLOW_ANY");
  } else {
    watcher =
        std::make_unique<mesh::ConfigWatcher>(control, path, defaults, [&](mesh::SnapshotPtr s) {
          shown.store(s);
          if (data_plane) data_plane->update(std::move(s));
        });
    auto first = watcher->start();
    if (!first) fail("sidecar", first.error().message);
    snapshot = *first;
    REMORA_LOG(proxy, info, "config {}: {} services", path, snapshot->config().services.size());
  }
  shown.store(snapshot);
  auto drain_for = snapshot->mesh().drain_duration;

  proxy::ProxyOptions options;
  options.concurrency = f.concurrency == 0 ? 2 : f.concurrency;
  if (!f.ca_addr.empty()) {
    auto made = agent::WorkloadCertificates::create(certOptions(f, *snapshot));
    if (!made) fail("sidecar", made.error().message);
    certs = std::move(*made);
    if (certs->options().identity().empty()) {
      REMORA_LOG(proxy, warn,
                 "POD_NAMESPACE or SERVICE_ACCOUNT unknown: accepting any identity the CA grants");
    }
    options.certificates = &certs->store();
  } else {
    REMORA_LOG(proxy, info, "no CA address (--ca-addr, $CA_ADDR): no mTLS");
  }

  // Telemetry: Istio's metrics per worker, the JSON access log on stdout.
  telemetry::StatsRegistry stats(options.concurrency);
  telemetry::AccessLog access_log(options.concurrency);
  proxy::TelemetryObserver observer(options.concurrency, stats, &access_log);

  // The local endpoints (15000, 15090, 15021, 15020), on threads of their own.
  proxy::admin::AdminOptions admin_options;
  if (const char* probers = std::getenv("ISTIO_KUBE_APP_PROBERS"); probers && *probers) {
    auto parsed = proxy::admin::parseAppProbers(probers);
    if (!parsed) fail("sidecar", parsed.error().context("ISTIO_KUBE_APP_PROBERS").message);
    admin_options.probers = std::move(*parsed);
  }
  if (const char* ann = std::getenv("ISTIO_PROMETHEUS_ANNOTATIONS"); ann && *ann) {
    auto parsed = proxy::admin::parsePrometheusAnnotations(ann);
    if (!parsed) fail("sidecar", parsed.error().context("ISTIO_PROMETHEUS_ANNOTATIONS").message);
    admin_options.app_scrape = std::move(*parsed);
  }
  if (const char* ip = std::getenv("INSTANCE_IP"); ip && *ip) admin_options.app_host = ip;
  admin_options.admin_port = f.admin_port;
  admin_options.stats_port = f.stats_port;
  admin_options.health_port = f.health_port;
  admin_options.status_port = f.status_port;
  std::atomic<proxy::admin::ServerState> state{proxy::admin::ServerState::PreInitializing};
  std::function<void()> start_drain;  // set below; runs on the control loop
  proxy::admin::AdminCallbacks callbacks;
  callbacks.state = [&state] { return state.load(); };
  callbacks.drain = [&] { control.post([&] { start_drain(); }); };
  callbacks.quit = [&] { control.post([&] { start_drain(); }); };
  callbacks.extra_metrics = [&certs, &access_log] {
    std::string metrics = access_log.prometheus();
    if (certs) metrics += certs->prometheus();
    return metrics;
  };
  callbacks.config_dump = [&shown, &data_plane, &f](bool include_eds) {
    // The admin server starts after the data plane, which has bound its ports.
    proxy::DumpContext context{.outbound_port = data_plane->outboundPort(),
                               .inbound_port = data_plane->inboundPort(),
                               .admin_port = f.admin_port,
                               .domain = f.domain};
    return proxy::configDump(*shown.load(), context, include_eds);
  };
  callbacks.clusters = [&shown](bool json) {
    mesh::SnapshotPtr s = shown.load();
    return json ? proxy::clustersJson(*s) : proxy::clustersText(*s);
  };
  if (certs) {
    callbacks.not_ready = [&certs] { return certs->notReadyReason(); };
    callbacks.certs = [&certs] { return certs->certsJson(); };
  }
  proxy::admin::AdminServer admin_server(stats, std::move(callbacks), std::move(admin_options));
  options.outbound_port = f.outbound_port;
  options.inbound_port = f.inbound_port;
  std::thread waiter;
  bool draining = false;
  start_drain = [&] {
    if (draining) return;
    draining = true;
    state = proxy::admin::ServerState::Draining;
    REMORA_LOG(proxy, info, "draining for up to {} ms", drain_for.count());
    watcher.reset();
    data_plane->drain(drain_for);
    waiter = std::thread([&] {
      data_plane->wait();
      control.stop();
    });
  };
  // The handlers go in before any sign of life (a port, a metric): a SIGTERM
  // sent as soon as one shows must drain us, not kill us. Until control.run()
  // it waits, queued.
  int signals_seen = 0;
  asio::signal_set signals(control.context(), SIGINT, SIGTERM);
  std::function<void(const asio::error_code&, int)> on_signal = [&](const asio::error_code& ec,
                                                                    int signo) {
    if (ec) return;
    if (++signals_seen > 1 || (draining && signals_seen > 1)) {
      REMORA_LOG(proxy, warn, "signal {} again: exiting now", signo);
      data_plane->stop();
      control.stop();
      return;
    }
    REMORA_LOG(proxy, info, "signal {}", signo);
    start_drain();
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  // The first fetch runs on the provider's thread: a CA that is down does
  // not hold the proxy back, only its readiness.
  if (certs) certs->start();
  // The workers hold the snapshot from here; a copy kept in this frame would
  // keep the first config alive through every reload.
  data_plane = std::make_unique<proxy::Proxy>(options, std::move(snapshot), &observer);
  if (auto started = data_plane->start(); !started) fail("sidecar", started.error().message);
  if (auto started = admin_server.start(); !started) fail("sidecar", started.error().message);
  state = proxy::admin::ServerState::Live;
  control.run();
  if (waiter.joinable()) waiter.join();
  data_plane->stop();
  data_plane->wait();
  admin_server.stop();
  if (certs) certs->stop();
  REMORA_LOG(proxy, info, "stopped");
}

void runWait(const std::string& url, const std::string& timeout_text) {
  auto timeout = mesh::parseDuration(timeout_text);
  if (!timeout) fail("wait", "--timeout: " + timeout.error().message);
  auto deadline = std::chrono::steady_clock::now() + *timeout;
  http::Client client({.connect_timeout = std::chrono::milliseconds(1000),
                       .read_timeout = std::chrono::milliseconds(1000)});
  std::string last = "not tried";
  while (std::chrono::steady_clock::now() < deadline) {
    auto resp = client.send({.method = "GET", .url = url});
    if (resp && resp->status == 200) return;
    last = resp ? fmt::format("HTTP {}", resp->status) : resp.error().message;
    client.closeIdle();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  fail("wait", fmt::format("{} not ready after {}: {}", url, timeout_text, last));
}

void runDrain(std::uint16_t status_port) {
  // What Istio's native-sidecar preStop does (`pilot-agent request
  // --debug-port=15020 POST drain`): the status port starts the drain; where
  // it has no /drain, Envoy's admin endpoint does (POST /drain_listeners).
  http::Client client;
  auto resp =
      client.send({.method = "POST", .url = fmt::format("http://127.0.0.1:{}/drain", status_port)});
  if (resp && resp->status == 404) {
    resp =
        client.send({.method = "POST", .url = "http://127.0.0.1:15000/drain_listeners?graceful"});
  }
  if (!resp) fail("drain", resp.error().message);
  if (resp->status != 200) fail("drain", fmt::format("the proxy answered HTTP {}", resp->status));
}

}  // namespace

void addProxyCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("proxy", "The sidecar data plane (Envoy + pilot-agent)");
  cmd->require_subcommand(1);

  auto flags = std::make_shared<SidecarFlags>();
  auto* sidecar = cmd->add_subcommand("sidecar", "Run the sidecar proxy");
  sidecar->add_option("--concurrency", flags->concurrency, "worker threads (0: 2)")
      ->capture_default_str();
  sidecar->add_option("--domain", flags->domain, "the pod's DNS domain (<ns>.svc.cluster.local)");
  sidecar->add_option("--proxyLogLevel", flags->log_level,
                      "trace, debug, info, warning, error, critical, off");
  sidecar->add_option("--config", flags->config,
                      "config file (docs/proxy-config.md); default $REMORA_PROXY_CONFIG, then " +
                          std::string(kDefaultConfig));
  sidecar->add_option("--outbound-port", flags->outbound_port, "outbound capture port")
      ->capture_default_str();
  sidecar->add_option("--inbound-port", flags->inbound_port, "inbound capture port")
      ->capture_default_str();
  sidecar->add_option("--admin-port", flags->admin_port, "admin port (127.0.0.1)")
      ->capture_default_str();
  sidecar->add_option("--stats-port", flags->stats_port, "Prometheus port")->capture_default_str();
  sidecar->add_option("--health-port", flags->health_port, "readiness port")->capture_default_str();
  sidecar->add_option("--status-port", flags->status_port, "agent status port")
      ->capture_default_str();
  sidecar
      ->add_option("--ca-addr", flags->ca_addr,
                   "the CA (host:port or https URL); empty: no workload certificate, no mTLS")
      ->envname("CA_ADDR");
  sidecar->add_option("--ca-root-cert", flags->ca_root_cert, "the mesh root, to verify the CA")
      ->capture_default_str();
  sidecar
      ->add_option("--token-path", flags->token_path,
                   "the projected service-account token (audience istio-ca)")
      ->capture_default_str();
  sidecar
      ->add_option("--trust-domain", flags->trust_domain,
                   "SPIFFE trust domain (default: the mesh config's, cluster.local)")
      ->envname("TRUST_DOMAIN");
  sidecar->add_option("--secret-ttl", flags->secret_ttl, "certificate lifetime to ask the CA for")
      ->envname("SECRET_TTL")
      ->capture_default_str();
  sidecar->callback([flags] { runSidecar(*flags); });

  auto url = std::make_shared<std::string>("http://127.0.0.1:15021/healthz/ready");
  auto timeout = std::make_shared<std::string>("60s");
  auto* wait = cmd->add_subcommand("wait", "Wait until the sidecar is ready (postStart hook)");
  wait->add_option("--url", *url, "readiness URL")->capture_default_str();
  wait->add_option("--timeout", *timeout, "give up after this long")->capture_default_str();
  wait->callback([url, timeout] { runWait(*url, *timeout); });

  auto status_port = std::make_shared<std::uint16_t>(15020);
  auto* drain = cmd->add_subcommand("drain", "Ask the sidecar to drain (preStop hook)");
  drain->add_option("--debug-port", *status_port, "the proxy's status port")->capture_default_str();
  drain->callback([status_port] { runDrain(*status_port); });
}

}  // namespace remora::cli
