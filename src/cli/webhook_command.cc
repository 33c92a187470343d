// `remora webhook`: the mutating admission webhook (istiod's injector),
// serving AdmissionReviews over HTTPS on 15017 (src/control/webhook_*.h).
//
//   remora webhook --tls-cert /etc/remora/certs/tls.crt --tls-key /etc/remora/certs/tls.key
//                  [--values values.yaml] [--meshconfig mesh.yaml] [--port 15017]
//
// `remora webhook certs` makes the serving certificate when no cert-manager
// or mesh CA does: a CA of its own and a certificate for the Service's DNS
// names, written to a directory; the caBundle goes to stdout.
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "control/ca.h"
#include "control/webhook_server.h"
#include "control/webhook_service.h"
#include "core/base64.h"
#include "core/event_loop.h"
#include "core/file.h"
#include "core/log.h"
#include "tls/serving.h"

namespace remora::cli {
namespace {

constexpr std::size_t kMaxConfigBytes = 4 * 1024 * 1024;

[[noreturn]] void fail(std::string_view command, std::string_view message) {
  fmt::print(stderr, "remora {}: {}\n", command, message);
  throw CLI::RuntimeError(1);
}

struct ServeFlags {
  std::string address = "0.0.0.0";
  std::uint16_t port = 15017;
  std::string tls_cert;
  std::string tls_key;
  std::string values_file;
  std::string meshconfig_file;
  std::string revision;
  std::size_t workers = 2;
  std::string poll_interval = "1s";
  std::string drain = "0s";
};

void runServe(const ServeFlags& f) {
  constexpr std::string_view kCmd = "webhook";
  if (f.tls_cert.empty() || f.tls_key.empty()) {
    fail(kCmd, "--tls-cert and --tls-key are required (see `remora webhook certs`)");
  }
  control::WebhookOptions options;
  options.default_revision = f.revision;
  if (!f.values_file.empty()) {
    auto text = readFile(f.values_file, kMaxConfigBytes);
    if (!text) fail(kCmd, text.error().context("--values").message);
    options.values_text = std::move(*text);
  }
  if (!f.meshconfig_file.empty()) {
    auto text = readFile(f.meshconfig_file, kMaxConfigBytes);
    if (!text) fail(kCmd, text.error().context("--meshconfig").message);
    options.meshconfig_text = std::move(*text);
  }
  auto poll = control::parseDuration(f.poll_interval);
  if (!poll || poll->count() < 1)
    fail(kCmd, "--cert-poll-interval must be a duration of 1s or more");
  auto drain = control::parseDuration(f.drain);
  if (!drain) fail(kCmd, drain.error().context("--drain").message);
  auto service = control::WebhookService::create(std::move(options));
  if (!service) {
    // Name the file the error is about, as `remora inject` does.
    const Error& e = service.error();
    std::string file = e.message.rfind("values", 0) == 0 ? f.values_file : f.meshconfig_file;
    fail(kCmd, file.empty() ? e.message : e.context(file).message);
  }

  control::WebhookServer server(**service, {.address = f.address,
                                            .port = f.port,
                                            .cert_path = f.tls_cert,
                                            .key_path = f.tls_key,
                                            .workers = f.workers,
                                            .poll_interval = *poll});
  // The main thread only waits for a signal; the workers serve.
  EventLoop loop;
  asio::signal_set signals(loop.context(), SIGINT, SIGTERM);
  asio::steady_timer drain_timer(loop.context());
  signals.async_wait([&](const asio::error_code& ec, int signo) {
    if (ec) return;
    // Not ready first, so that the endpoint leaves the Service while
    // reviews in flight (and those already routed here) are still answered.
    REMORA_LOG(webhook, info, "signal {}: draining for {} s, then stopping", signo, drain->count());
    server.beginShutdown();
    drain_timer.expires_after(*drain);
    drain_timer.async_wait([&](const asio::error_code&) { loop.stop(); });
  });
  if (auto started = server.start(); !started) fail(kCmd, started.error().message);
  REMORA_LOG(webhook, info, "default revision {}", (*service)->defaultRevision());
  fmt::print(stderr, "remora webhook: listening on {}:{} (HTTPS)\n", f.address, server.port());
  loop.run();
  server.stop();
}

struct CertsFlags {
  std::string service = "remora-webhook";
  std::string ns = "remora-system";
  std::string out_dir;
  std::vector<std::string> extra_names;
  std::string ttl = "8760h";
  std::string ca_ttl = "87600h";
};

void runCerts(const CertsFlags& f) {
  constexpr std::string_view kCmd = "webhook certs";
  auto ttl = control::parseDuration(f.ttl);
  if (!ttl) fail(kCmd, ttl.error().context("--ttl").message);
  auto ca_ttl = control::parseDuration(f.ca_ttl);
  if (!ca_ttl) fail(kCmd, ca_ttl.error().context("--ca-ttl").message);
  auto bundle =
      tls::createServingBundle(f.service, f.ns, f.extra_names, *ttl, *ca_ttl, systemClock());
  if (!bundle) fail(kCmd, bundle.error().message);
  std::error_code ec;
  std::filesystem::create_directories(f.out_dir, ec);
  if (ec) fail(kCmd, fmt::format("{}: {}", f.out_dir, ec.message()));
  // The names of a kubernetes.io/tls Secret's keys, so that
  // `kubectl create secret generic --from-file=DIR` makes the Secret.
  for (auto [name, text, mode] : {std::tuple{"ca.crt", &bundle->ca_pem, 0644},
                                  std::tuple{"tls.crt", &bundle->cert_chain_pem, 0644},
                                  std::tuple{"tls.key", &bundle->key_pem, 0600}}) {
    auto path = (std::filesystem::path(f.out_dir) / name).string();
    if (auto w = writeFileAtomic(path, *text, static_cast<mode_t>(mode)); !w) {
      fail(kCmd, w.error().message);
    }
  }
  fmt::print(stderr, "remora webhook certs: {}/{{ca.crt,tls.crt,tls.key}} for {} (until {})\n",
             f.out_dir, fmt::join(bundle->dns_names, ", "), formatRfc3339(bundle->not_after));
  // The caBundle of the MutatingWebhookConfiguration, on stdout alone.
  fmt::print("{}\n", encodeBase64(bundle->ca_pem));
}

}  // namespace

void addWebhookCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "webhook",
      "The mutating admission webhook: injects the sidecar into pods as they are created\n"
      "(AdmissionReview v1/v1beta1 over HTTPS, POST /inject and /inject/<revision>)");
  auto serve = std::make_shared<ServeFlags>();
  cmd->add_option("--tls-cert", serve->tls_cert,
                  "Serving certificate chain (PEM; re-read when the file changes)");
  cmd->add_option("--tls-key", serve->tls_key, "Its private key (PEM; re-read when it changes)");
  cmd->add_option("--address", serve->address, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", serve->port, "Port (HTTPS)")->capture_default_str();
  cmd->add_option("--values", serve->values_file,
                  "Injection values (Istio's shape) merged over the built-in ones");
  cmd->add_option("--meshconfig", serve->meshconfig_file,
                  "Mesh config (Istio's MeshConfig) merged over the built-in one");
  cmd->add_option("--revision", serve->revision,
                  "Revision served on /inject (default: \"default\"); /inject/<rev> serves <rev>");
  cmd->add_option("--workers", serve->workers, "Worker threads")->capture_default_str();
  cmd->add_option("--cert-poll-interval", serve->poll_interval,
                  "How often the certificate files are checked for changes")
      ->capture_default_str();
  cmd->add_option("--drain", serve->drain,
                  "On SIGTERM, answer /readyz 503 but keep serving this long before exiting")
      ->capture_default_str();

  auto* certs = cmd->add_subcommand(
      "certs", "Make a CA and a serving certificate for the webhook's Service; print the caBundle");
  auto cf = std::make_shared<CertsFlags>();
  certs->add_option("--service", cf->service, "The webhook's Service")->capture_default_str();
  certs->add_option("--namespace", cf->ns, "Its namespace")->capture_default_str();
  certs->add_option("--out", cf->out_dir, "Directory for ca.crt, tls.crt, tls.key")->required();
  certs->add_option("--extra-name", cf->extra_names,
                    "More DNS names in the certificate (e.g. localhost)");
  certs->add_option("--ttl", cf->ttl, "Serving certificate lifetime")->capture_default_str();
  certs->add_option("--ca-ttl", cf->ca_ttl, "CA lifetime")->capture_default_str();
  certs->callback([cf] { runCerts(*cf); });

  cmd->callback([cmd, certs, serve] {
    if (cmd->got_subcommand(certs)) return;
    runServe(*serve);
  });
}

}  // namespace remora::cli
