#include "agent/workload_certs.h"

#include <thread>

#include <fmt/format.h>

#include "control/ca_client.h"
#include "core/file.h"
#include "core/json.h"
#include "core/log.h"
#include "tls/certificate.h"
#include "tls/pem.h"
#include "tls/spiffe.h"

namespace remora::agent {

namespace {

// The HTTPS client, rebuilt when the mounted root changes: the ConfigMap
// may be mounted after the proxy starts, and is updated in place when the
// mesh root rotates.
class RootReloadingCaClient final : public tls::CaClient {
 public:
  RootReloadingCaClient(CaEndpoint endpoint, std::string root_path,
                        std::chrono::milliseconds timeout)
      : endpoint_(std::move(endpoint)), root_path_(std::move(root_path)), timeout_(timeout) {}

  Result<tls::CertificateResponse> requestCertificate(
      const tls::CertificateRequest& request) override {
    auto root = readFile(root_path_, tls::kMaxPemBundleBytes);
    if (!root) {
      return Error{Errc::Unavailable, "reading the mesh root certificate: " + root.error().message};
    }
    if (!client_ || *root != root_pem_) {
      root_pem_ = std::move(*root);
      client_ = std::make_unique<control::HttpsCaClient>(
          control::CaClientOptions{.url = endpoint_.url,
                                   .root_cert_pem = root_pem_,
                                   .server_name = endpoint_.server_name,
                                   .timeout = timeout_});
    }
    return client_->requestCertificate(request);
  }

 private:
  CaEndpoint endpoint_;
  std::string root_path_;
  std::chrono::milliseconds timeout_;
  std::string root_pem_;
  std::unique_ptr<control::HttpsCaClient> client_;
};

std::string escapeLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

Json describe(X509* cert, SystemTime now) {
  Json j = Json::object();
  auto info = tls::describeCertificate(cert);
  if (!info) {
    j["error"] = info.error().message;
    return j;
  }
  auto left = std::chrono::duration_cast<Seconds>(info->not_after - now).count();
  j["path"] = "<inline>";
  j["serial_number"] = info->serial_hex;
  Json sans = Json::array();
  for (const auto& u : info->uri_sans) sans.push_back({{"uri", u}});
  for (const auto& d : info->dns_sans) sans.push_back({{"dns", d}});
  j["subject_alt_names"] = std::move(sans);
  // Envoy prints the days as a string (a uint64 in its proto's JSON).
  j["days_until_expiration"] = std::to_string(left > 0 ? left / 86400 : 0);
  j["valid_from"] = formatRfc3339(info->not_before);
  j["expiration_time"] = formatRfc3339(info->not_after);
  j["seconds_until_expiration"] = left;
  return j;
}

}  // namespace

std::string WorkloadCertOptions::identity() const {
  if (pod_namespace.empty() || service_account.empty()) return {};
  return fmt::format("spiffe://{}/ns/{}/sa/{}", trust_domain, pod_namespace, service_account);
}

Result<CaEndpoint> parseCaAddress(std::string_view ca_addr) {
  std::string_view rest = ca_addr;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (rest.find("://") != std::string_view::npos) {
    return Error{Errc::InvalidArgument,
                 fmt::format("CA address {:?}: only https:// is supported", ca_addr)};
  }
  while (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/?# ") != std::string_view::npos) {
    return Error{Errc::InvalidArgument, fmt::format("CA address {:?}: want host:port", ca_addr)};
  }
  std::string_view host = rest;
  if (rest.front() == '[') {  // [v6]:port
    auto close = rest.find(']');
    if (close == std::string_view::npos) {
      return Error{Errc::InvalidArgument, fmt::format("CA address {:?}: unclosed [", ca_addr)};
    }
    host = rest.substr(1, close - 1);
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
  }
  if (host.empty()) {
    return Error{Errc::InvalidArgument, fmt::format("CA address {:?}: no host", ca_addr)};
  }
  return CaEndpoint{.url = "https://" + std::string(rest), .server_name = std::string(host)};
}

Result<std::unique_ptr<WorkloadCertificates>> WorkloadCertificates::create(
    WorkloadCertOptions options, const Clock& clock) {
  REMORA_ASSIGN_OR_RETURN(CaEndpoint endpoint, parseCaAddress(options.ca_addr));
  if (options.trust_domain.empty()) {
    return Error{Errc::InvalidArgument, "the trust domain is empty"};
  }
  // Kubernetes names (DNS labels and subdomains): anything else would put
  // another path, or bytes a peer refuses, in the SPIFFE URI.
  for (const std::string* name : {&options.pod_namespace, &options.service_account}) {
    if (name->size() > 253 ||
        name->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") != std::string::npos) {
      return Error{
          Errc::InvalidArgument,
          fmt::format("{:?} is not a Kubernetes namespace or service account name", *name)};
    }
  }
  if (std::string id = options.identity(); !id.empty() && !tls::SpiffeId::parse(id)) {
    return Error{Errc::InvalidArgument, fmt::format("{:?} is not a SPIFFE identity", id)};
  }
  return std::unique_ptr<WorkloadCertificates>(
      new WorkloadCertificates(std::move(options), std::move(endpoint), clock));
}

WorkloadCertificates::WorkloadCertificates(WorkloadCertOptions options, CaEndpoint endpoint,
                                           const Clock& clock)
    : options_(std::move(options)),
      endpoint_(std::move(endpoint)),
      clock_(clock),
      client_(std::make_unique<RootReloadingCaClient>(endpoint_, options_.root_cert_path,
                                                      options_.ca_timeout)),
      store_({.trust_domains = {options_.trust_domain}}) {
  provider_ = std::make_unique<tls::CertificateProvider>(
      tls::ProviderOptions{.token_path = options_.token_path,
                           .expected_identity = options_.identity(),
                           .requested_ttl = options_.ttl,
                           .refresh_fraction = options_.refresh_fraction,
                           .jitter_fraction = options_.jitter_fraction,
                           .initial_backoff = options_.initial_backoff,
                           .max_backoff = options_.max_backoff},
      *client_, store_, clock_);
}

WorkloadCertificates::~WorkloadCertificates() { stop(); }

void WorkloadCertificates::start() {
  REMORA_LOG(tls, info, "workload certificate for {} from the CA at {} (root {}, token {})",
             options_.identity().empty() ? "this pod" : options_.identity(), endpoint_.url,
             options_.root_cert_path, options_.token_path);
  provider_->start();
}

void WorkloadCertificates::stop() {
  if (provider_) provider_->stop();
}

bool WorkloadCertificates::waitForCertificate(std::chrono::milliseconds timeout) const {
  // Polled: the store has no waiters, and this runs only at start-up and in tests.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (store_.generation() == 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::string WorkloadCertificates::notReadyReason() const {
  return store_.generation() > 0 ? std::string() : std::string(kNoCertificate);
}

std::string WorkloadCertificates::prometheus() const {
  std::string out;
  auto it = std::back_inserter(out);
  const SystemTime now = clock_.now();
  auto snap = store_.current();
  if (snap) {
    const auto expiry = toTimeT(snap->leaf.not_after);
    const auto left = expiry - toTimeT(now);
    const std::string id = escapeLabel(snap->leaf.uri_sans.empty() ? "" : snap->leaf.uri_sans[0]);
    fmt::format_to(it,
                   "# HELP istio_agent_cert_expiry_seconds The time remaining, in seconds, "
                   "before the certificate chain will expire. A negative value indicates the "
                   "cert is expired.\n"
                   "# TYPE istio_agent_cert_expiry_seconds gauge\n"
                   "istio_agent_cert_expiry_seconds{{resource_name=\"default\"}} {}\n"
                   "# HELP envoy_server_days_until_first_cert_expiring Days until the next "
                   "certificate being managed will expire.\n"
                   "# TYPE envoy_server_days_until_first_cert_expiring gauge\n"
                   "envoy_server_days_until_first_cert_expiring {}\n"
                   "# HELP remora_workload_cert_expiry_timestamp_seconds When the workload "
                   "certificate expires (Unix time).\n"
                   "# TYPE remora_workload_cert_expiry_timestamp_seconds gauge\n"
                   "remora_workload_cert_expiry_timestamp_seconds{{identity=\"{}\"}} {}\n",
                   left, left > 0 ? left / 86400 : 0, id, expiry);
  }
  fmt::format_to(it,
                 "# HELP istio_agent_num_outgoing_requests Number of total outgoing requests "
                 "(e.g. to a token exchange server, CA, etc.)\n"
                 "# TYPE istio_agent_num_outgoing_requests counter\n"
                 "istio_agent_num_outgoing_requests{{request_type=\"csr\"}} {}\n"
                 "# HELP istio_agent_num_failed_outgoing_requests Number of failed outgoing "
                 "requests (e.g. to a token exchange server, CA, etc.)\n"
                 "# TYPE istio_agent_num_failed_outgoing_requests counter\n"
                 "istio_agent_num_failed_outgoing_requests{{request_type=\"csr\"}} {}\n"
                 "# HELP remora_workload_cert_rotations_total Workload certificates installed "
                 "(the first one included).\n"
                 "# TYPE remora_workload_cert_rotations_total counter\n"
                 "remora_workload_cert_rotations_total {}\n"
                 "# HELP remora_ca_consecutive_failures Failed CA requests since the last "
                 "certificate arrived.\n"
                 "# TYPE remora_ca_consecutive_failures gauge\n"
                 "remora_ca_consecutive_failures {}\n"
                 "# HELP remora_ca_connected 1 when the last CA request succeeded.\n"
                 "# TYPE remora_ca_connected gauge\n"
                 "remora_ca_connected {}\n",
                 provider_->requests(), provider_->failures(), provider_->rotations(),
                 provider_->consecutiveFailures(), provider_->connected() ? 1 : 0);
  return out;
}

std::string WorkloadCertificates::certsJson() const {
  const SystemTime now = clock_.now();
  Json out = Json::object();
  out["identity"] = options_.identity();
  out["ready"] = store_.generation() > 0;
  auto snap = store_.current();
  Json certificates = Json::array();
  if (snap) {
    out["generation"] = snap->generation;
    Json entry = Json::object();
    Json ca = Json::array();
    for (const auto& root : snap->trust->roots()) ca.push_back(describe(root.get(), now));
    Json chain = Json::array();
    chain.push_back(describe(snap->credential->certificate.get(), now));
    for (const auto& c : snap->credential->chain) chain.push_back(describe(c.get(), now));
    entry["ca_cert"] = std::move(ca);
    entry["cert_chain"] = std::move(chain);
    certificates.push_back(std::move(entry));
  } else {
    out["generation"] = 0;
  }
  out["certificates"] = std::move(certificates);
  Json state = {{"address", endpoint_.url},
                {"connected", provider_->connected()},
                {"requests", provider_->requests()},
                {"failures", provider_->failures()},
                {"consecutive_failures", provider_->consecutiveFailures()},
                {"rotations", provider_->rotations()}};
  if (std::string e = provider_->lastError(); !e.empty() && !provider_->connected()) {
    state["last_error"] = e;
  }
  out["ca"] = std::move(state);
  return dumpJson(out, 2) + "\n";
}

}  // namespace remora::agent
