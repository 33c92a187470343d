#include "tls/certificate_provider.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "core/file.h"
#include "core/log.h"
#include "core/thread.h"
#include "tls/csr.h"
#include "tls/key.h"
#include "tls/pem.h"
#include "tls/verify.h"

namespace remora::tls {

namespace {

constexpr std::size_t kMaxTokenFileBytes = 16 * 1024;
using Millis = std::chrono::milliseconds;

std::string describeLeft(SystemTime now, SystemTime expiry) {
  if (expiry <= now) return fmt::format("it expired at {}", formatRfc3339(expiry));
  auto left = std::chrono::duration_cast<Seconds>(expiry - now).count();
  return fmt::format("the current one expires in {} s, at {}", left, formatRfc3339(expiry));
}

}  // namespace

SystemTime refreshTime(SystemTime not_before, SystemTime not_after, double random01,
                       const ProviderOptions& options) {
  double fraction = options.refresh_fraction + (2.0 * random01 - 1.0) * options.jitter_fraction;
  fraction = std::clamp(fraction, 0.0, 1.0);
  std::chrono::duration<double> life = not_after - not_before;
  return not_before + std::chrono::duration_cast<SystemTime::duration>(life * fraction);
}

Millis Backoff::next(double random01) {
  Millis d = initial_;
  for (int i = 0; i < attempt_ && d < max_; ++i) d *= 2;
  d = std::min(d, max_);
  if (attempt_ < 32) ++attempt_;
  auto half = d / 2;
  return half +
         Millis(static_cast<Millis::rep>(static_cast<double>((d - half).count()) * random01));
}

CertificateProvider::CertificateProvider(ProviderOptions options, CaClient& client,
                                         CertificateStore& store, const Clock& clock,
                                         std::function<double()> random01)
    : options_(std::move(options)),
      client_(client),
      store_(store),
      clock_(clock),
      random01_(std::move(random01)),
      backoff_(options_.initial_backoff, options_.max_backoff) {
  if (!random01_) {
    random01_ = [rng = std::mt19937_64(std::random_device{}()),
                 dist = std::uniform_real_distribution<double>(0.0, 1.0)]() mutable {
      return dist(rng);
    };
  }
}

CertificateProvider::~CertificateProvider() { stop(); }

std::optional<SystemTime> CertificateProvider::expiry() const {
  auto secs = expiry_seconds_.load(std::memory_order_relaxed);
  if (secs == 0) return std::nullopt;
  return SystemTime(Seconds(secs));
}

std::string CertificateProvider::lastError() const {
  std::lock_guard lock(error_mutex_);
  return last_error_;
}

Result<std::pair<CertifiedKey, TrustBundle>> CertificateProvider::checkResponse(
    PKeyPtr key, const CertificateResponse& response) {
  if (response.cert_chain_pem.empty()) {
    return Error{Errc::BadGateway, "the CA answered without a certificate"};
  }
  std::vector<X509Ptr> certs;
  for (const auto& pem : response.cert_chain_pem) {
    auto cert = readCertificatePem(pem);
    if (!cert) return std::move(cert).error().context("the CA's certificate chain");
    certs.push_back(std::move(cert).value());
  }
  auto trust = TrustBundle::fromPem(response.root_cert_pem);
  if (!trust) return std::move(trust).error().context("the CA's root certificate");
  X509Ptr leaf = std::move(certs.front());
  certs.erase(certs.begin());
  auto credential = CertifiedKey::make(std::move(key), std::move(leaf), std::move(certs));
  if (!credential) return std::move(credential).error().context("the CA's certificate");

  REMORA_ASSIGN_OR_RETURN(X509StorePtr roots, trust->newStore());
  std::vector<X509*> intermediates;
  for (const auto& c : credential->chain) intermediates.push_back(c.get());
  VerifyPolicy policy{.trust_domains = store_.options().trust_domains};
  if (!options_.expected_identity.empty()) policy.allowed_identities = {options_.expected_identity};
  // Our certificate must pass the checks our peers will apply, in both roles.
  for (PeerRole role : {PeerRole::Client, PeerRole::Server}) {
    policy.peer_role = role;
    PeerVerdict verdict = verifyPeerChain(credential->certificate.get(), intermediates, roots.get(),
                                          policy, clock_.now());
    if (!verdict.ok()) return verdict.toError().context("the CA's certificate is not usable");
  }
  return std::make_pair(std::move(credential).value(), std::move(trust).value());
}

Result<CertificateStore::SnapshotPtr> CertificateProvider::fetch() {
  auto token = readFile(options_.token_path, kMaxTokenFileBytes);
  if (!token) return std::move(token).error().context("reading the service-account token");
  while (!token->empty() &&
         (token->back() == '\n' || token->back() == '\r' || token->back() == ' ')) {
    token->pop_back();
  }
  if (token->empty()) return Error{Errc::Unauthenticated, options_.token_path + " is empty"};

  REMORA_ASSIGN_OR_RETURN(PKeyPtr key, generateP256Key());
  CsrOptions csr_options;
  if (!options_.expected_identity.empty()) csr_options.uri_sans = {options_.expected_identity};
  REMORA_ASSIGN_OR_RETURN(std::string csr, createCsrPem(key.get(), csr_options));
  REMORA_ASSIGN_OR_RETURN(CertificateResponse response,
                          client_.requestCertificate({.csr_pem = std::move(csr),
                                                      .token = std::move(token).value(),
                                                      .ttl = options_.requested_ttl}));
  REMORA_ASSIGN_OR_RETURN(auto material, checkResponse(std::move(key), response));
  REMORA_TRY(store_.update(std::move(material.first), std::move(material.second)));
  return store_.current();
}

Status CertificateProvider::fetchOnce() {
  const SystemTime started = clock_.now();
  requests_.fetch_add(1, std::memory_order_relaxed);
  auto snap = fetch();
  SystemTime now = clock_.now();
  if (!snap) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    consecutive_failures_.fetch_add(1, std::memory_order_relaxed);
    connected_.store(false, std::memory_order_relaxed);
    {
      std::lock_guard lock(error_mutex_);
      last_error_ = snap.error().message;
    }
    if (auto exp = expiry()) {
      if (*exp <= now) {
        REMORA_LOG(tls, err, "cannot renew the workload certificate: {}; {}; mTLS will fail",
                   snap.error().message, describeLeft(now, *exp));
      } else {
        REMORA_LOG(tls, warn, "cannot renew the workload certificate (attempt {}): {}; {}",
                   consecutiveFailures(), snap.error().message, describeLeft(now, *exp));
      }
    } else {
      REMORA_LOG(tls, warn, "cannot get a workload certificate (attempt {}): {}",
                 consecutiveFailures(), snap.error().message);
    }
    return std::move(snap).error();
  }
  const CertificateInfo& leaf = (*snap)->leaf;
  expiry_seconds_.store(toTimeT(leaf.not_after), std::memory_order_relaxed);
  rotations_.fetch_add(1, std::memory_order_relaxed);
  consecutive_failures_.store(0, std::memory_order_relaxed);
  connected_.store(true, std::memory_order_relaxed);
  backoff_.reset();
  next_refresh_ =
      refreshTime(std::max(leaf.not_before, started), leaf.not_after, random01_(), options_);
  REMORA_LOG(tls, info, "workload certificate {} serial {} valid until {}; next rotation at {}",
             leaf.uri_sans.empty() ? std::string("?") : leaf.uri_sans.front(), leaf.serial_hex,
             formatRfc3339(leaf.not_after), formatRfc3339(*next_refresh_));
  return ok();
}

Millis CertificateProvider::step() {
  SystemTime now = clock_.now();
  if (next_refresh_ && now < *next_refresh_) {
    return std::chrono::ceil<Millis>(*next_refresh_ - now);
  }
  if (!fetchOnce()) return backoff_.next(random01_());
  return std::max(Millis(1), std::chrono::ceil<Millis>(*next_refresh_ - clock_.now()));
}

void CertificateProvider::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this] {
    runAsBackgroundThread();  // rotation can wait a moment; requests cannot
    std::unique_lock lock(wake_mutex_);
    while (!stopping_) {
      lock.unlock();
      Millis delay = step();
      lock.lock();
      wake_.wait_for(lock, delay, [this] { return stopping_; });
    }
  });
}

void CertificateProvider::stop() {
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace remora::tls
