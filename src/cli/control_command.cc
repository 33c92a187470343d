// `remora control`: the control plane. Today it is the mesh's CA, serving
// the JSON-over-HTTPS API of src/control/ca_service.h on 15012, and
// publishing the root certificate for the injector.
//
//   remora control --token-file tokens.txt --ca-dir /var/lib/remora/ca
//                  --root-cert-out /var/run/remora/root-cert.pem
//   remora control --kubernetes [--kubeconfig F]   # TokenReview, as istiod
//
// `remora control fetch-cert` is the client side, once: what the proxy's
// certificate provider does at each rotation, with the result written to a
// directory (for local runs, demos and tests).
#include <csignal>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <asio/signal_set.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "control/authenticator.h"
#include "control/ca.h"
#include "control/ca_client.h"
#include "control/ca_server.h"
#include "control/ca_service.h"
#include "control/issuance_log.h"
#include "control/root_cert_publisher.h"
#include "core/event_loop.h"
#include "core/file.h"
#include "core/log.h"
#include "kube/api_client.h"
#include "kube/kubeconfig.h"
#include "kube/objects.h"
#include "tls/certificate_provider.h"
#include "tls/certificate_store.h"
#include "tls/pem.h"

namespace remora::cli {
namespace {

[[noreturn]] void fail(std::string_view command, std::string_view message) {
  fmt::print(stderr, "remora {}: {}\n", command, message);
  throw CLI::RuntimeError(1);
}

struct ServeFlags {
  std::string address = "0.0.0.0";
  std::uint16_t port = 15012;
  std::string trust_domain = "cluster.local";
  std::string ca_dir = "/var/lib/remora/ca";
  std::string cacerts_dir;
  std::string token_file;
  bool kubernetes = false;
  std::string kubeconfig;
  std::string default_ttl = "24h";
  std::string max_ttl = "2160h";
  std::string issuance_log;
  std::string root_cert_out;
  std::vector<std::string> dns_names = {"remora-control.istio-system.svc",
                                        "istiod.istio-system.svc", "localhost"};
};

// The API server's TokenReview for each caller's token, as istiod checks
// them. One client serves every CA thread: calls are serialised (signing is
// not a hot path, and the API server answers in milliseconds).
class KubernetesTransport {
 public:
  explicit KubernetesTransport(kube::KubeConfig config) : api_(std::move(config)) {}
  Result<std::string> operator()(const std::string& request_body) {
    auto body = parseJson(request_body);
    if (!body) return body.error();
    std::lock_guard lock(mutex_);
    auto answer = api_.create("/apis/authentication.k8s.io/v1/tokenreviews", *body);
    if (!answer) {
      return Error{Errc::Unavailable, answer.error().context("TokenReview").message};
    }
    return dumpJson(*answer);
  }

 private:
  std::mutex mutex_;
  kube::ApiClient api_;
};

// The ConfigMap calls of the root publisher, through the API server.
class KubeConfigMapApi final : public control::ConfigMapApi {
 public:
  explicit KubeConfigMapApi(kube::KubeConfig config) : api_(std::move(config)) {}

  Result<std::vector<std::string>> activeNamespaces() override {
    REMORA_ASSIGN_OR_RETURN(auto items, api_.list("/api/v1/namespaces"));
    std::vector<std::string> names;
    for (const auto& ns : items) {
      if (kube::stringOr(ns.value("status", Json::object()), "phase", "") == "Terminating")
        continue;
      names.push_back(kube::objectName(ns));
    }
    return names;
  }
  Result<std::map<std::string, std::string>> publishedRoots() override {
    kube::ListOptions options;
    options.field_selector = fmt::format("metadata.name={}", control::kRootCertConfigMap);
    REMORA_ASSIGN_OR_RETURN(auto items, api_.list("/api/v1/configmaps", options));
    std::map<std::string, std::string> roots;
    for (const auto& cm : items) {
      const Json* md = kube::lookup(cm, {"metadata"});
      const Json* pem = kube::lookup(cm, {"data", control::kRootCertKey});
      if (md == nullptr) continue;
      roots[kube::stringOr(*md, "namespace", "")] =
          pem && pem->is_string() ? pem->get<std::string>() : "";
    }
    return roots;
  }
  Status create(const std::string& ns, const std::string& pem) override {
    Json cm{{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata",
             {{"name", control::kRootCertConfigMap},
              {"namespace", ns},
              {"labels", {{"istio.io/config", "true"}}}}},
            {"data", {{control::kRootCertKey, pem}}}};
    auto made = api_.create(fmt::format("/api/v1/namespaces/{}/configmaps", ns), cm);
    if (!made) return made.error();
    return {};
  }
  Status update(const std::string& ns, const std::string& pem) override {
    Json patch{{"data", {{control::kRootCertKey, pem}}}};
    auto done = api_.patch(
        fmt::format("/api/v1/namespaces/{}/configmaps/{}", ns, control::kRootCertConfigMap), patch,
        kube::PatchType::Merge);
    if (!done) return done.error();
    return {};
  }

 private:
  kube::ApiClient api_;
};

// --token-file for local runs; --kubernetes for a cluster (the CA's own
// credentials from --kubeconfig, $KUBECONFIG, ~/.kube/config or in-cluster).
Result<std::unique_ptr<control::Authenticator>> makeAuthenticator(const ServeFlags& f) {
  if (f.kubernetes == !f.token_file.empty()) {
    return Error{Errc::InvalidArgument,
                 "give one of --token-file (local runs) and --kubernetes (TokenReview)"};
  }
  if (!f.token_file.empty()) {
    auto file = control::TokenFileAuthenticator::fromFile(f.token_file);
    if (!file) return file.error();
    REMORA_LOG(control, info, "{} token(s) from {}", (*file)->size(), f.token_file);
    return std::unique_ptr<control::Authenticator>(std::move(*file));
  }
  kube::KubeConfigOptions options;
  options.path = f.kubeconfig;
  auto config = kube::loadKubeConfig(options);
  if (!config) return config.error().context("--kubernetes: finding the API server");
  REMORA_LOG(control, info, "TokenReview (audience {}) against {}",
             control::TokenReviewAuthenticator::kAudience, config->source);
  auto transport = std::make_shared<KubernetesTransport>(std::move(*config));
  return std::unique_ptr<control::Authenticator>(
      std::make_unique<control::TokenReviewAuthenticator>(
          [transport](const std::string& body) { return (*transport)(body); }));
}

void runServe(const ServeFlags& f) {
  constexpr std::string_view kCmd = "control";
  control::CaOptions options{.trust_domain = f.trust_domain};
  auto default_ttl = control::parseDuration(f.default_ttl);
  if (!default_ttl) fail(kCmd, default_ttl.error().context("--default-ttl").message);
  auto max_ttl = control::parseDuration(f.max_ttl);
  if (!max_ttl) fail(kCmd, max_ttl.error().context("--max-ttl").message);
  options.default_ttl = *default_ttl;
  options.max_ttl = *max_ttl;

  auto ca =
      f.cacerts_dir.empty()
          ? control::CertificateAuthority::loadOrCreateSelfSigned(f.ca_dir, options, systemClock())
          : control::CertificateAuthority::loadCacerts(f.cacerts_dir, options, systemClock());
  if (!ca) fail(kCmd, ca.error().message);
  auto auth = makeAuthenticator(f);
  if (!auth) fail(kCmd, auth.error().message);

  std::unique_ptr<control::IssuanceLog> log;
  if (f.issuance_log.empty()) {
    log = std::make_unique<control::IssuanceLog>(systemClock());
  } else {
    auto opened = control::IssuanceLog::open(f.issuance_log, systemClock());
    if (!opened) fail(kCmd, opened.error().message);
    log = std::move(*opened);
  }
  // With --kubernetes, the root goes to every namespace as istiod puts it
  // there (istio-ca-root-cert), on a thread of its own; stopped and joined
  // before the CA goes away.
  std::unique_ptr<KubeConfigMapApi> configmaps;
  std::unique_ptr<control::RootCertPublisher> publisher;
  std::thread publishing;
  if (f.kubernetes) {
    kube::KubeConfigOptions kube_options;
    kube_options.path = f.kubeconfig;
    auto config = kube::loadKubeConfig(kube_options);
    if (!config) fail(kCmd, config.error().message);
    configmaps = std::make_unique<KubeConfigMapApi>(std::move(*config));
    publisher = std::make_unique<control::RootCertPublisher>(*configmaps, (*ca)->rootCertPem());
    publishing = std::thread([&publisher] { publisher->run(std::chrono::seconds(5)); });
  }
  struct JoinPublisher {
    control::RootCertPublisher* publisher;
    std::thread& thread;
    ~JoinPublisher() {
      if (publisher != nullptr) publisher->stop();
      if (thread.joinable()) thread.join();
    }
  } join_publisher{publisher.get(), publishing};

  control::CaService service(**ca, **auth, *log);
  EventLoop loop;
  control::CaServer server(loop, **ca, service,
                           {.address = f.address, .port = f.port, .dns_names = f.dns_names});
  // Handlers before any sign of life (the port, the root file, the start
  // line): a SIGTERM sent as soon as one shows must stop us cleanly, not kill
  // us. Until loop.run() it waits, queued.
  asio::signal_set signals(loop.context(), SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& ec, int signo) {
    if (ec) return;
    REMORA_LOG(control, info, "signal {}: stopping", signo);
    server.stop();
    loop.stop();
  });
  if (auto started = server.start(); !started) fail(kCmd, started.error().message);
  // The content of the istio-ca-root-cert ConfigMap (root-cert.pem), for
  // local runs. Written once the CA listens and its signal handlers are in
  // place: whoever waits for the file may connect, or stop us, at once.
  if (!f.root_cert_out.empty()) {
    if (auto w = writeFileAtomic(f.root_cert_out, (*ca)->rootCertPem(), 0644); !w) {
      fail(kCmd, w.error().context("--root-cert-out").message);
    }
  }
  REMORA_LOG(control, info,
             "trust domain {}, callers authenticated by {}, workload TTL {} s (max {} s)",
             f.trust_domain, (*auth)->name(), options.default_ttl.count(), options.max_ttl.count());
  // Started: tell whoever waits (tests, scripts) where, on stdout.
  fmt::print("remora control: CA listening on {}:{}\n", f.address, server.port());
  std::fflush(stdout);

  loop.run();
}

struct FetchFlags {
  std::string ca_url = "https://remora-control.istio-system.svc:15012";
  std::string server_name;
  std::string root_cert;
  std::string token_file = "/var/run/secrets/tokens/istio-token";
  std::string trust_domain = "cluster.local";
  std::string identity;
  std::string ttl = "0";
  std::string out_dir;
};

void runFetch(const FetchFlags& f) {
  constexpr std::string_view kCmd = "control fetch-cert";
  auto root = readFile(f.root_cert, tls::kMaxPemBundleBytes);
  if (!root) fail(kCmd, root.error().context("--root-cert").message);
  auto ttl = control::parseDuration(f.ttl);
  if (!ttl) fail(kCmd, ttl.error().context("--ttl").message);
  control::HttpsCaClient client(
      {.url = f.ca_url, .root_cert_pem = *root, .server_name = f.server_name});
  tls::CertificateStore store({.trust_domains = {f.trust_domain}});
  tls::CertificateProvider provider(
      {.token_path = f.token_file, .expected_identity = f.identity, .requested_ttl = *ttl}, client,
      store, systemClock());
  if (auto fetched = provider.fetchOnce(); !fetched) fail(kCmd, fetched.error().message);
  auto snap = store.current();
  std::filesystem::create_directories(f.out_dir);
  auto key = snap->credential->keyPem();
  auto chain = snap->credential->chainPem();
  auto roots = snap->trust->toPem();
  if (!key || !chain || !roots) fail(kCmd, "cannot encode the certificate");
  for (auto [name, text, mode] :
       {std::tuple{"key.pem", &*key, 0600}, std::tuple{"cert-chain.pem", &*chain, 0644},
        std::tuple{"root-cert.pem", &*roots, 0644}}) {
    auto path = (std::filesystem::path(f.out_dir) / name).string();
    if (auto w = writeFileAtomic(path, *text, static_cast<mode_t>(mode)); !w) {
      fail(kCmd, w.error().message);
    }
  }
  fmt::print("{} serial {} notAfter {}\n", snap->leaf.uri_sans.front(), snap->leaf.serial_hex,
             formatRfc3339(snap->leaf.not_after));
}

}  // namespace

void addControlCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "control",
      "The control plane: the mesh's certificate authority (SPIFFE identities) on 15012");
  auto serve = std::make_shared<ServeFlags>();
  cmd->add_option("--address", serve->address, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", serve->port, "Port of the CA (HTTPS)")->capture_default_str();
  cmd->add_option("--trust-domain", serve->trust_domain, "SPIFFE trust domain")
      ->envname("TRUST_DOMAIN")
      ->capture_default_str();
  cmd->add_option("--ca-dir", serve->ca_dir,
                  "Directory of the self-signed CA (created with a new root on first start)")
      ->capture_default_str();
  cmd->add_option("--cacerts-dir", serve->cacerts_dir,
                  "A plugged-in CA in Istio's cacerts layout (ca-cert.pem, ca-key.pem, "
                  "root-cert.pem, cert-chain.pem), read only; overrides --ca-dir");
  cmd->add_option("--token-file", serve->token_file,
                  "Tokens for local runs, one '<token> <namespace> <service-account>' per line");
  cmd->add_flag("--kubernetes", serve->kubernetes,
                "Authenticate callers with a Kubernetes TokenReview (audience istio-ca)");
  cmd->add_option("--kubeconfig", serve->kubeconfig,
                  "The API server for --kubernetes (default: $KUBECONFIG, ~/.kube/config, "
                  "in-cluster)");
  cmd->add_option("--default-ttl", serve->default_ttl, "Workload certificate TTL")
      ->envname("DEFAULT_WORKLOAD_CERT_TTL")
      ->capture_default_str();
  cmd->add_option("--max-ttl", serve->max_ttl, "Longest TTL a workload may ask for")
      ->envname("MAX_WORKLOAD_CERT_TTL")
      ->capture_default_str();
  cmd->add_option("--issuance-log", serve->issuance_log,
                  "Append one JSON line per certificate issued or refused to this file");
  cmd->add_option("--root-cert-out", serve->root_cert_out,
                  "Write the root certificate here (the istio-ca-root-cert ConfigMap's content)");
  cmd->add_option("--dns-name", serve->dns_names, "Names in the CA's serving certificate")
      ->capture_default_str();

  auto* fetch = cmd->add_subcommand(
      "fetch-cert",
      "Get a workload certificate from the CA once, as the proxy does, into a directory");
  auto ff = std::make_shared<FetchFlags>();
  fetch->add_option("--ca-url", ff->ca_url, "The CA's base URL")->capture_default_str();
  fetch->add_option("--server-name", ff->server_name,
                    "Name to verify in the CA's certificate (default: the URL's host)");
  fetch->add_option("--root-cert", ff->root_cert, "The mesh root certificate (PEM)")->required();
  fetch->add_option("--token-file", ff->token_file, "The service-account token")
      ->capture_default_str();
  fetch->add_option("--trust-domain", ff->trust_domain, "SPIFFE trust domain")
      ->capture_default_str();
  fetch->add_option("--identity", ff->identity,
                    "The SPIFFE ID the certificate must carry (refused otherwise)");
  fetch->add_option("--ttl", ff->ttl, "TTL to ask for (0: the CA's default)")
      ->capture_default_str();
  fetch
      ->add_option("--out-dir", ff->out_dir,
                   "Where to write key.pem, cert-chain.pem, root-cert.pem")
      ->required();
  fetch->callback([ff] { runFetch(*ff); });

  cmd->callback([cmd, fetch, serve] {
    if (cmd->got_subcommand(fetch)) return;
    runServe(*serve);
  });
}

}  // namespace remora::cli
